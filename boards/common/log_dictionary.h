/*
 * log_dictionary.h - turns the module's log calls back into text (issue 11, phase 2).
 *
 * The module logs a message id and an argument record (assembly/ABI.md, "log"); the
 * build writes the table of ids and format texts as build/log_dictionary.c
 * (tools/log-dictionary/, `npm run build`), which a board compiles in and hands to
 * the glue (agent_host_config_t.log_dictionary). host-sim/log-dictionary.ts is the
 * same for the Node hosts: both print the same line.
 */
#ifndef TRACKAGENT_LOG_DICTIONARY_H
#define TRACKAGENT_LOG_DICTIONARY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agent_log_message {
    uint32_t    id;       /* FNV-1a 32 of the format's UTF-8 */
    const char *format;   /* UTF-8, one `{}` per argument */
} agent_log_message_t;

typedef struct agent_log_dictionary {
    const agent_log_message_t *messages; /* sorted by id */
    size_t                     count;
} agent_log_dictionary_t;

/* The build's table (build/log_dictionary.c). */
extern const agent_log_dictionary_t agent_log_dictionary;

/*
 * Writes the line of message `id` with argument record args[0..len) into out
 * (at most cap - 1 bytes and a NUL; cap > 0) and returns the line's whole length,
 * which may exceed cap - 1 (then the line was cut). A known id fills its `{}` in
 * order (one with no argument left stays `{}`); an unknown id, or a NULL
 * dictionary, prints `log #<8 hex digits>` and the arguments as `[1, "text"]`;
 * a record that does not read ends the line with ` <bad args>`. Never reads
 * outside args[0..len).
 */
size_t agent_log_expand(const agent_log_dictionary_t *dict, uint32_t id,
                        const uint8_t *args, size_t len, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
