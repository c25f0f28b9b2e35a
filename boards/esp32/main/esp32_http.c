/* esp32_http.c - see esp32_http.h.
 *
 * Why a worker task: esp_http_client_perform's timeout_ms bounds each socket operation,
 * not the exchange; name resolution (lwIP getaddrinfo) has no bound of its own at all.
 * The module was promised its timeout for the whole exchange (platform.h), so the
 * exchange runs on the worker and the agent's task waits for it at most that long. A late
 * exchange is abandoned: its answer is dropped when it finally ends, and until then the
 * worker is busy (a new request is refused, which the module treats as a broken
 * connection and retries with back-off).
 *
 * The worker owns copies of everything it touches (URL, headers, body, its own answer
 * buffer): an abandoned exchange must not read the module's memory or write the glue's
 * answer after the agent has moved on.
 */
#include "esp32_http.h"

#include <stdlib.h>
#include <string.h>

#include "esp_crt_bundle.h"
#include "esp_http_client.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "esp_tls.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "http_answer.h"

static const char *TAG = "agent";

#define HEADER_LINE_MAX 300
#define WORKER_STACK 8192   /* esp_http_client + an mbedTLS handshake */
#define WORKER_PRIORITY 5

typedef enum { JOB_IDLE, JOB_RUNNING, JOB_DONE, JOB_ABANDONED } job_state_t;

typedef struct http_job {
    /* the request, copied */
    char    *url;
    char    *headers;
    size_t   headers_len;
    uint8_t *body;
    size_t   body_len;
    int      method;
    uint32_t socket_timeout_ms;
    const char *ca_pem;        /* a test CA instead of the bundle, or NULL */
    /* the worker's answer */
    plat_http_answer_t ans;
    job_state_t state;         /* under lock */
} http_job_t;

static http_job_t job;
static SemaphoreHandle_t lock, go, done;

static void free_request(http_job_t *j)
{
    free(j->url);
    if (j->headers != NULL) memset(j->headers, 0, j->headers_len); /* held the key */
    free(j->headers);
    free(j->body);
    j->url = j->headers = NULL;
    j->body = NULL;
}

static esp_err_t on_event(esp_http_client_event_t *evt)
{
    plat_http_answer_t *ans = (plat_http_answer_t *)evt->user_data;
    if (evt->event_id == HTTP_EVENT_ON_HEADER && evt->header_key != NULL && evt->header_value != NULL)
        http_answer_header(ans, evt->header_key, strlen(evt->header_key), evt->header_value, strlen(evt->header_value));
    else if (evt->event_id == HTTP_EVENT_ON_DATA && evt->data_len > 0)
        http_answer_body(ans, (const uint8_t *)evt->data, (size_t)evt->data_len);
    return ESP_OK;
}

static int32_t transport_status(esp_http_client_handle_t c, esp_err_t err)
{
    int tls_code = 0, tls_flags = 0;
    esp_err_t tls = esp_http_client_get_and_clear_last_tls_error(c, &tls_code, &tls_flags);
    if (tls_flags != 0) return PLAT_HTTP_TLS; /* certificate verification failed */
    if (tls == ESP_ERR_ESP_TLS_CANNOT_RESOLVE_HOSTNAME || tls == ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST ||
        tls == ESP_ERR_ESP_TLS_CANNOT_CREATE_SOCKET)
        return PLAT_HTTP_REFUSED;
    if (tls == ESP_ERR_ESP_TLS_CONNECTION_TIMEOUT) return PLAT_HTTP_TIMEOUT;
    if (tls_code != 0) return PLAT_HTTP_TLS; /* an mbedTLS error during the handshake */
    if (err == ESP_ERR_HTTP_CONNECT) return PLAT_HTTP_REFUSED;
    if (err == ESP_ERR_HTTP_EAGAIN) return PLAT_HTTP_TIMEOUT;
    return PLAT_HTTP_BROKEN;
}

/* Adds "Name: value\r\n" lines as headers. Never logged: they hold the key. */
static bool set_headers(esp_http_client_handle_t c, const char *h, size_t len)
{
    char line[HEADER_LINE_MAX];
    size_t i = 0;
    bool ok = true;
    while (ok && i < len) {
        size_t j = i;
        while (j < len && h[j] != '\r' && h[j] != '\n') j++;
        size_t n = j - i;
        if (n > 0) {
            if (n >= sizeof line) { ok = false; break; }
            memcpy(line, h + i, n);
            line[n] = '\0';
            char *colon = strchr(line, ':');
            if (colon == NULL || colon == line) { ok = false; break; }
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t') value++;
            ok = esp_http_client_set_header(c, line, value) == ESP_OK;
        }
        while (j < len && (h[j] == '\r' || h[j] == '\n')) j++;
        i = j;
    }
    memset(line, 0, sizeof line);
    return ok;
}

static void perform(http_job_t *j)
{
    bool https = strncmp(j->url, "https://", 8) == 0;
    esp_http_client_config_t cfg = {
        .url = j->url,
        .method = j->method == PLAT_HTTP_POST ? HTTP_METHOD_POST : HTTP_METHOD_GET,
        .timeout_ms = (int)j->socket_timeout_ms,
        .disable_auto_redirect = true,    /* a 3xx is the module's answer, not a hop */
        .max_authorization_retries = -1,  /* a 401 is the module's answer: no re-send */
        .event_handler = on_event,
        .user_data = &j->ans,
        .cert_pem = https ? j->ca_pem : NULL,
        .crt_bundle_attach = https && j->ca_pem == NULL ? esp_crt_bundle_attach : NULL,
        .keep_alive_enable = false,
    };
    esp_http_client_handle_t c = esp_http_client_init(&cfg);
    if (c == NULL) {
        http_answer_fail(&j->ans, PLAT_HTTP_BROKEN);
        return;
    }
    if (!set_headers(c, j->headers, j->headers_len)) {
        http_answer_fail(&j->ans, PLAT_HTTP_BROKEN);
        esp_http_client_cleanup(c);
        return;
    }
    if (j->method == PLAT_HTTP_POST) esp_http_client_set_post_field(c, (const char *)j->body, (int)j->body_len);
    esp_err_t err = esp_http_client_perform(c);
    if (err != ESP_OK) {
        http_answer_fail(&j->ans, transport_status(c, err));
    } else if ((esp_http_client_is_chunked_response(c) || esp_http_client_get_content_length(c) >= 0) &&
               !esp_http_client_is_complete_data_received(c)) {
        /* perform returns ESP_OK when the body stops early: a cut body is a broken
         * connection, never a complete answer. (A body delimited by the close of the
         * connection has no length to check against.) */
        http_answer_fail(&j->ans, PLAT_HTTP_BROKEN);
    } else {
        j->ans.status = esp_http_client_get_status_code(c);
    }
    esp_http_client_cleanup(c);
}

static void worker(void *arg)
{
    (void)arg;
    for (;;) {
        if (xSemaphoreTake(go, portMAX_DELAY) != pdTRUE) continue;
        perform(&job);
        xSemaphoreTake(lock, portMAX_DELAY);
        free_request(&job);
        job.state = job.state == JOB_ABANDONED ? JOB_IDLE : JOB_DONE;
        xSemaphoreGive(done); /* under the lock: a new exchange clears it before it starts */
        xSemaphoreGive(lock);
    }
}

esp_err_t esp32_http_init(size_t answer_cap)
{
    lock = xSemaphoreCreateMutex();
    go = xSemaphoreCreateBinary();
    done = xSemaphoreCreateBinary();
    job.ans.buf = (uint8_t *)malloc(answer_cap);
    job.ans.cap = answer_cap;
    if (lock == NULL || go == NULL || done == NULL || job.ans.buf == NULL) return ESP_ERR_NO_MEM;
    if (xTaskCreate(worker, "http", WORKER_STACK, NULL, WORKER_PRIORITY, NULL) != pdPASS) return ESP_ERR_NO_MEM;
    return ESP_OK;
}

static char *copy_text(const char *s, size_t n)
{
    char *p = (char *)malloc(n + 1);
    if (p == NULL) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* The worker's answer into the glue's (the glue's buffer holds at least as much: both are
 * rx_capacity() bytes, and the helpers kept the worker's within it). */
static void take_answer(plat_http_answer_t *ans)
{
    size_t n = job.ans.hdr_len + job.ans.body_len;
    if (n > ans->cap) n = ans->cap;
    memcpy(ans->buf, job.ans.buf, n);
    ans->status = job.ans.status;
    ans->hdr_len = job.ans.hdr_len < n ? job.ans.hdr_len : n;
    ans->body_len = n - ans->hdr_len;
    ans->truncated = job.ans.truncated || n < job.ans.hdr_len + job.ans.body_len;
}

plat_status_t esp32_http_exchange(const plat_http_request_t *req, const char *ca_pem, uint32_t wait_ms,
                                  plat_http_answer_t *ans, int64_t *took_ms)
{
    if (lock == NULL || ans->cap > job.ans.cap) return PLAT_IO;
    xSemaphoreTake(lock, portMAX_DELAY);
    if (job.state == JOB_RUNNING || job.state == JOB_ABANDONED) {
        xSemaphoreGive(lock);
        ESP_LOGW(TAG, "http: the previous exchange has not ended yet: request refused");
        return PLAT_BUSY;
    }
    xSemaphoreTake(done, 0); /* a stale completion */
    job.url = copy_text(req->url, req->url_len);
    job.headers = copy_text(req->headers, req->headers_len);
    job.headers_len = req->headers_len;
    job.body = (uint8_t *)malloc(req->body_len > 0 ? req->body_len : 1);
    if (job.url == NULL || job.headers == NULL || job.body == NULL) {
        free_request(&job);
        xSemaphoreGive(lock);
        return PLAT_NO_MEMORY;
    }
    if (req->body_len > 0) memcpy(job.body, req->body, req->body_len);
    job.body_len = req->body_len;
    job.method = req->method;
    job.socket_timeout_ms = wait_ms;
    job.ca_pem = ca_pem;
    http_answer_reset(&job.ans, req->req_id);
    job.state = JOB_RUNNING;
    xSemaphoreGive(lock);

    int64_t t0 = esp_timer_get_time();
    xSemaphoreGive(go);
    bool finished = xSemaphoreTake(done, pdMS_TO_TICKS(wait_ms) + 1) == pdTRUE;
    xSemaphoreTake(lock, portMAX_DELAY);
    if (job.state == JOB_DONE) {
        take_answer(ans);
        job.state = JOB_IDLE;
    } else {
        /* The whole exchange outlasted its time: the module sees a timeout now, and the
         * worker's answer will be dropped when it ends. */
        job.state = JOB_ABANDONED;
        http_answer_fail(ans, PLAT_HTTP_TIMEOUT);
    }
    xSemaphoreGive(lock);
    (void)finished;
    *took_ms = (esp_timer_get_time() - t0) / 1000;
    return PLAT_OK;
}
