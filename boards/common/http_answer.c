/* http_answer.c - see http_answer.h. */
#include "http_answer.h"

#include <string.h>

static char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static bool name_is(const char *name, size_t len, const char *want)
{
    size_t n = strlen(want);
    if (len != n) return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(name[i]) != want[i]) return false;
    return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void http_answer_reset(plat_http_answer_t *ans, int32_t req_id)
{
    ans->req_id = req_id;
    ans->status = PLAT_HTTP_BROKEN;
    ans->hdr_len = 0;
    ans->body_len = 0;
    ans->truncated = false;
    ans->in_body = false;
}

plat_status_t http_answer_header(plat_http_answer_t *ans, const char *name, size_t name_len,
                                 const char *value, size_t value_len)
{
    const char *keep;
    if (ans->in_body) return PLAT_OK; /* a trailer: the module reads headers only */
    while (name_len > 0 && is_space(name[name_len - 1])) name_len--;
    if (name_is(name, name_len, "date")) keep = "date";
    else if (name_is(name, name_len, "retry-after")) keep = "retry-after";
    else return PLAT_OK;
    while (value_len > 0 && is_space(value[0])) { value++; value_len--; }
    while (value_len > 0 && is_space(value[value_len - 1])) value_len--;
    for (size_t i = 0; i < value_len; i++)
        if (value[i] == '\n' || value[i] == '\r') return PLAT_INVALID; /* would forge a line */

    size_t klen = strlen(keep);
    size_t need = klen + 2 + value_len + 1;
    /* Headers take at most half the buffer, the body keeps the rest (ABI.md): a
     * line past that half is dropped whole; a later, shorter one may still fit. */
    if (ans->buf == NULL || ans->hdr_len + need > ans->cap / 2) return PLAT_NO_MEMORY;
    uint8_t *p = ans->buf + ans->hdr_len;
    memcpy(p, keep, klen);
    p[klen] = ':';
    p[klen + 1] = ' ';
    memcpy(p + klen + 2, value, value_len);
    p[klen + 2 + value_len] = '\n';
    ans->hdr_len += need;
    return PLAT_OK;
}

plat_status_t http_answer_header_line(plat_http_answer_t *ans, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line) return PLAT_OK; /* "HTTP/1.1 200 OK", blank line */
    size_t name_len = (size_t)(colon - line);
    return http_answer_header(ans, line, name_len, colon + 1, len - name_len - 1);
}

void http_answer_body(plat_http_answer_t *ans, const uint8_t *data, size_t len)
{
    ans->in_body = true;
    if (len == 0) return;
    size_t used = ans->hdr_len + ans->body_len;
    size_t room = (ans->buf != NULL && ans->cap > used) ? ans->cap - used : 0;
    size_t take = len < room ? len : room;
    if (take > 0) {
        memcpy(ans->buf + used, data, take);
        ans->body_len += take;
    }
    if (take < len) ans->truncated = true;
}

void http_answer_fail(plat_http_answer_t *ans, int32_t transport_status)
{
    ans->status = transport_status;
    ans->hdr_len = 0;
    ans->body_len = 0;
    ans->truncated = false;
}
