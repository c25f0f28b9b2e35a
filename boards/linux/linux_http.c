/*
 * linux_http.c - HTTP and HTTPS through libcurl.
 *
 * One easy handle, reused so connections are kept alive as on a device, attached
 * to a share handle that holds the connection cache, the TLS session cache and
 * the DNS cache: a new connection (the server closed the last one, or it went
 * idle) resumes the TLS session instead of a full handshake, and nothing of it
 * is lost when the easy handle's options are reset for the next exchange. Each
 * exchange is performed to the end inside http_start (blocking), its answer
 * kept in the glue's answer buffer, and reported complete by http_poll once the
 * board clock reaches its arrival time:
 *   realtime: the moment it finished;
 *   virtual:  the virtual start + the real time it took, or + the module's
 *             timeout when it timed out. The real wait for one exchange is
 *             capped (http_wait_cap_ms, default 3 s): a cloud that hangs costs a
 *             few real seconds, and the module still sees a timeout.
 * Redirects are never followed. Plain http:// only with --dev. Headers hold the
 * API key and are never logged; the log line for an exchange names the method,
 * host and path (no query) and the outcome.
 */
#define _GNU_SOURCE
#include "linux_board.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_answer.h"

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

plat_status_t http_init(linux_board_t *b)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return PLAT_IO;
    /* One thread uses the share: no lock callbacks needed. */
    CURLSH *sh = curl_share_init();
    if (sh == NULL
        || curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK
        || curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK
        || curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        if (sh != NULL) curl_share_cleanup(sh);
        curl_global_cleanup();
        return PLAT_IO;
    }
    b->share = sh;
    b->curl = curl_easy_init();
    return b->curl != NULL ? PLAT_OK : PLAT_IO;
}

void http_close(linux_board_t *b)
{
    /* The easy handle first: it must be detached before its share goes. */
    if (b->curl != NULL) curl_easy_cleanup((CURL *)b->curl);
    b->curl = NULL;
    if (b->share != NULL) curl_share_cleanup((CURLSH *)b->share);
    b->share = NULL;
    curl_global_cleanup();
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    http_answer_header_line((plat_http_answer_t *)user, data, size * n);
    return size * n;
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    http_answer_body((plat_http_answer_t *)user, (const uint8_t *)data, size * n);
    return size * n; /* keep reading past capacity: the module is told it was cut */
}

static int32_t transport_status(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return PLAT_HTTP_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return PLAT_HTTP_REFUSED;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return PLAT_HTTP_TLS;
    default:
        return PLAT_HTTP_BROKEN;
    }
}

/* "scheme://host[:port]/path" of a URL, without user info or query, for the log. */
static void url_for_log(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at != NULL && (slash == NULL || at < slash)) p = at + 1;
    size_t n = strcspn(p, "?#");
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

plat_status_t http_start(void *ctx, const plat_http_request_t *req, plat_http_answer_t *ans)
{
    linux_board_t *b = (linux_board_t *)ctx;
    CURL *c = (CURL *)b->curl;
    if (c == NULL) return PLAT_IO;

    char *url = (char *)malloc(req->url_len + 1);
    if (url == NULL) return PLAT_NO_MEMORY;
    memcpy(url, req->url, req->url_len);
    url[req->url_len] = '\0';
    if (memchr(url, '\0', req->url_len) != NULL) { free(url); return PLAT_INVALID; }

    /* "Name: value\r\n" lines, each a curl header; "Expect:" turns off
     * 100-continue, which a device does not wait for. */
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    char line[1024];
    size_t i = 0;
    while (headers != NULL && i < req->headers_len) {
        size_t j = i;
        while (j < req->headers_len && req->headers[j] != '\r' && req->headers[j] != '\n') j++;
        size_t n = j - i;
        if (n > 0 && n < sizeof line && memchr(req->headers + i, '\0', n) == NULL) {
            memcpy(line, req->headers + i, n);
            line[n] = '\0';
            struct curl_slist *more = curl_slist_append(headers, line);
            if (more == NULL) { curl_slist_free_all(headers); headers = NULL; break; }
            headers = more;
        }
        while (j < req->headers_len && (req->headers[j] == '\r' || req->headers[j] == '\n')) j++;
        i = j;
    }
    memset(line, 0, sizeof line); /* held a key */
    if (headers == NULL) { free(url); return PLAT_NO_MEMORY; }

    uint32_t timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    uint32_t wait = timeout;
    if (!b->realtime && b->http_wait_cap_ms > 0 && wait > b->http_wait_cap_ms) wait = b->http_wait_cap_ms;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_SHARE, (CURLSH *)b->share);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)wait);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)wait);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "trackagent-linux/0.1");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, b->allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (b->cacert != NULL) curl_easy_setopt(c, CURLOPT_CAINFO, b->cacert);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, ans);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ans);
    if (req->method == PLAT_HTTP_POST) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        /* The body lives in the module's memory, unchanged while this call runs. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body_len > 0 ? (const char *)req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }

    int64_t t0 = real_ms();
    CURLcode rc = curl_easy_perform(c);
    int64_t took = real_ms() - t0;
    long code = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        ans->status = (int32_t)code;
    } else {
        http_answer_fail(ans, transport_status(rc));
    }
    /* Drop the handle's reference to the header list before freeing it. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);

    char where[256];
    url_for_log(url, where, sizeof where);
    if (rc == CURLE_OK)
        board_logf(b, PLAT_LOG_DEBUG, "http: %s %s -> %ld (%lld ms, %zu body bytes%s)",
                   req->method == PLAT_HTTP_POST ? "POST" : "GET", where, code, (long long)took,
                   ans->body_len, ans->truncated ? ", cut" : "");
    else
        board_logf(b, PLAT_LOG_DEBUG, "http: %s %s -> %s (%lld ms)",
                   req->method == PLAT_HTTP_POST ? "POST" : "GET", where, curl_easy_strerror(rc), (long long)took);
    free(url);

    int64_t now = board_now_ms(b);
    if (b->realtime) b->http_ready_ms = now;
    else b->http_ready_ms = now + (rc == CURLE_OPERATION_TIMEDOUT ? (int64_t)timeout : took);
    b->http_ans = ans;
    b->http_pending = true;
    b->http_exchanges++;
    return PLAT_OK;
}

plat_status_t http_poll(void *ctx)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if (!b->http_pending) return PLAT_NOT_FOUND;
    if (board_now_ms(b) < b->http_ready_ms) return PLAT_BUSY;
    b->http_pending = false;
    b->http_ans = NULL;
    return PLAT_OK;
}

void http_cancel(void *ctx)
{
    linux_board_t *b = (linux_board_t *)ctx;
    b->http_pending = false;
    b->http_ans = NULL;
}
