/*
 * agent_host.h - runs the agent module under wasm3 on a board.
 *
 * The host ABI is assembly/ABI.md; this is the C side of it for every wasm3
 * board. The glue
 *   - instantiates the module (parse, load, link every `host` import by name with
 *     its exact signature, find the exports, check abi_version() == 2),
 *   - writes the board configuration into rx_buffer() and calls agent_start,
 *   - drives the loop: wake = agent_step(now); deliver HTTP answers and GNSS
 *     fixes as events (each followed by a step); sleep until the wake time,
 *   - checks every pointer and length the module passes against its linear
 *     memory before touching it (a bad one gets an error code back, never a
 *     memory access),
 *   - recovers from a trap: logs one line, frees the runtime, makes a new
 *     instance and calls agent_start again with AGENT_FLAG_AFTER_TRAP. Nothing is
 *     lost: all durable state is in the board's flash and key-value store.
 *
 * Usage (a board's main):
 *
 *   agent_host_t host;
 *   agent_host_config_t cfg = AGENT_HOST_CONFIG_DEFAULT;
 *   cfg.wasm = bytes; cfg.wasm_len = n;              // must outlive the host
 *   cfg.board_config = "allow_host=api.example.com\nfirmware=1.0.0\n";
 *   cfg.board_config_len = strlen(cfg.board_config);
 *   cfg.log_dictionary = &agent_log_dictionary;      // build/log_dictionary.c
 *   agent_status_t st = agent_host_init(&host, &platform, &cfg);
 *   if (st == AGENT_OK) st = agent_host_run(&host);  // returns at cfg.run_until_ms
 *   agent_host_deinit(&host);
 *
 * One host per program: nothing is global, but a board has one agent.
 * Memory: the wasm3 runtime (code pages, linear memory, value stack) plus one
 * answer buffer of rx_capacity() bytes, all from malloc. Native stack: the
 * interpreter recurses once per wasm call level; see the boards' READMEs for
 * measured figures.
 */
#ifndef TRACKAGENT_AGENT_HOST_H
#define TRACKAGENT_AGENT_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi_constants.h"
#include "log_dictionary.h"
#include "platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* AGENT_ABI_VERSION, the start flags (AGENT_FLAG_*), the agent_stat ids
 * (AGENT_STAT_*) and every other ABI number: abi_constants.h, generated from
 * assembly/abi.json. AGENT_FLAG_AFTER_TRAP is the glue's own: a board never sets it. */

typedef enum agent_status {
    AGENT_OK = 0,
    AGENT_ERR_NO_MEMORY = -1,   /* wasm3 could not allocate the runtime or compile */
    AGENT_ERR_MODULE = -2,      /* parse, load or link failed; an export is missing */
    AGENT_ERR_ABI = -3,         /* abi_version() is not AGENT_ABI_VERSION */
    AGENT_ERR_START = -4,       /* agent_start refused (see agent_host_t.start_status) */
    AGENT_ERR_ARG = -5          /* a configuration value out of range */
} agent_status_t;

typedef struct agent_host_config {
    const uint8_t *wasm;            /* the module; must stay valid until deinit */
    size_t         wasm_len;
    const char    *board_config;    /* key=value lines (ABI.md); may be NULL */
    size_t         board_config_len;
    int32_t        start_flags;     /* AGENT_FLAG_DEV | AGENT_FLAG_FAULT_INJECTION */
    uint32_t       wasm_stack_bytes;/* wasm3 value stack */
    int64_t        run_until_ms;    /* agent_host_run returns when now reaches it; <0: never */
    uint32_t       trap_every_steps;/* tests: call debug_trap after every Nth step; 0 off */
    uint32_t       max_restart_delay_ms; /* back-off ceiling when traps repeat without progress */
    bool           lazy_compile;    /* compile functions on first call (less heap, later failures) */
    const agent_log_dictionary_t *log_dictionary; /* the module's log texts (build/log_dictionary.c);
                                       NULL: every module line prints as a code, `log #<id> [args]` */
} agent_host_config_t;

#define AGENT_HOST_CONFIG_DEFAULT { NULL, 0, NULL, 0, 0, 16u * 1024u, -1, 0, 300000u, false, NULL }

/* What the glue saw. Counters of the module's own (recorded, acked, requests)
 * are summed over every instance of this run, traps included. */
typedef struct agent_host_stats {
    uint64_t steps;            /* agent_step calls that returned */
    uint64_t http_answers;     /* on_http_response deliveries */
    uint64_t gnss_fixes;       /* on_gnss_fix deliveries */
    uint64_t traps;            /* instances lost to a trap (or a failed call) */
    uint64_t restarts;         /* instances made after a trap */
    uint64_t bad_pointers;     /* import calls refused for a pointer outside memory */
    uint64_t recorded, acked, requests;
    uint32_t memory_bytes;     /* linear memory now */
    uint32_t wasm_stack_peak;  /* bytes of the wasm3 value stack ever used (AGENT_HOST_MEASURE) */
    uintptr_t import_depth_peak; /* native stack bytes between agent_host_run and the deepest import call */
} agent_host_stats_t;

/* The host. Its fields are the glue's; a board reads only `stats`,
 * `start_status` and `last_error`. */
typedef struct agent_host {
    const platform_t   *plat;
    agent_host_config_t cfg;
    agent_host_stats_t  stats;
    int32_t             start_status;  /* last agent_start result */
    const char         *last_error;    /* wasm3's text of the last failure, or NULL */

    /* one instance */
    void *env;          /* IM3Environment */
    void *runtime;      /* IM3Runtime */
    void *fn[9];        /* IM3Function of each export, see agent_host.c */
    uint32_t rx_ptr, rx_cap;
    bool     live;      /* an instance is started and usable */

    /* per-instance counters, folded into stats when the instance goes */
    uint64_t inst_recorded, inst_acked, inst_requests;

    /* events */
    plat_http_answer_t answer;
    bool     http_outstanding;
    bool     gnss_outstanding;
    int64_t  wake_ms;

    /* trap recovery */
    uint32_t traps_in_a_row;   /* traps with no step completed in between */
    uintptr_t stack_base;      /* address of a local in agent_host_run (depth measure) */
} agent_host_t;

/* Makes the first instance and starts it. On AGENT_ERR_START the module has
 * logged why (identity missing, bad configuration, bad geometry). */
agent_status_t agent_host_init(agent_host_t *host, const platform_t *plat, const agent_host_config_t *cfg);

/* Runs the loop until cfg.run_until_ms (forever when negative). Returns AGENT_OK
 * then, or an error when no instance could be made again after a trap. */
agent_status_t agent_host_run(agent_host_t *host);

/* The glue's figures, the live instance's counters included. */
void agent_host_get_stats(agent_host_t *host, agent_host_stats_t *out);

/* The module's agent_stat(which), or -1 when no instance is live. */
int64_t agent_host_stat(agent_host_t *host, int which);

/* The run's summary as JSON members, without the braces, so that a board can
 * add its own fields: the module's counters (agent_stat: buffered, resets,
 * dropped, lastUplinkId, boots, traps, utcKnown, state, backoffAttempt; -1 when
 * no instance is live), the run totals (uplinksRecorded, uplinksAcked,
 * requests, summed over every instance) and the glue's figures (trapsThisRun,
 * restarts, steps, httpAnswers, gnssFixes, badPointers, startStatus). Every
 * board's summary starts with these (boards/linux/README.md, "JSON summary").
 * It calls into the module: call it on the task that runs the agent, never
 * while agent_host_run is executing on another. Writes a NUL-terminated string
 * and its length; AGENT_ERR_ARG (and an empty string) when `cap` is too small
 * (AGENT_HOST_SUMMARY_MAX always suffices: every number at its widest). */
#define AGENT_HOST_SUMMARY_MAX 640
agent_status_t agent_host_summary_json(agent_host_t *host, char *buf, size_t cap, size_t *len);

/* Frees the runtime and the answer buffer; cancels outstanding I/O. */
void agent_host_deinit(agent_host_t *host);

/* A short English name for a status. */
const char *agent_status_text(agent_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* TRACKAGENT_AGENT_HOST_H */
