/*
 * http_answer.h - filling a plat_http_answer_t, for board HTTP clients.
 *
 * The module reads two response headers (`date`, `retry-after`) and the body,
 * all from one buffer of fixed capacity (ABI.md, on_http_response). A board's
 * HTTP client feeds what it receives through these helpers, in arrival order;
 * they keep what the module reads and nothing else:
 *
 *   http_answer_header_line(ans, "Date: Mon, 23 Nov 2026 10:00:00 GMT\r\n", n);
 *   http_answer_header(ans, "Retry-After", 11, "30", 2);   (name and value apart)
 *   http_answer_body(ans, chunk, len);                     (any number of chunks)
 *
 * Headers are stored as lower-case `name: value\n` lines ahead of the body; one
 * that arrives after the first body byte (a trailer) is ignored, and one that
 * would take the headers past half the capacity is dropped whole (ABI.md: the
 * same rule as the Node host). The body is cut at capacity and `truncated` set.
 * Header values are never logged here or anywhere: they are not secret in an
 * answer, but the rule is simpler without exceptions.
 */
#ifndef TRACKAGENT_HTTP_ANSWER_H
#define TRACKAGENT_HTTP_ANSWER_H

#include "platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Empties the answer for a new exchange; keeps buf and cap. */
void http_answer_reset(plat_http_answer_t *ans, int32_t req_id);

/* One header given as name and value (neither NUL-terminated). Kept when the
 * name is `date` or `retry-after` (any case). Returns PLAT_OK, or PLAT_NO_MEMORY
 * when it was dropped for lack of room. */
plat_status_t http_answer_header(plat_http_answer_t *ans, const char *name, size_t name_len,
                                 const char *value, size_t value_len);

/* One raw header line as received ("Name: value\r\n"); status lines and blank
 * lines are ignored. */
plat_status_t http_answer_header_line(plat_http_answer_t *ans, const char *line, size_t len);

/* Appends body bytes; what does not fit is cut and `truncated` set. */
void http_answer_body(plat_http_answer_t *ans, const uint8_t *data, size_t len);

/* Drops everything received and records a transport failure (PLAT_HTTP_*). */
void http_answer_fail(plat_http_answer_t *ans, int32_t transport_status);

#ifdef __cplusplus
}
#endif

#endif /* TRACKAGENT_HTTP_ANSWER_H */
