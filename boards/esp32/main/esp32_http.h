/*
 * esp32_http.h - one HTTP(S) exchange with esp_http_client, bounded as a whole.
 *
 * The exchange runs on a worker task; the caller waits at most `wait_ms` of real time
 * for all of it (DNS, connect, TLS, request, answer), then gets a timeout whatever
 * esp_http_client is still doing. Also: no redirect is followed, a 401 is never re-sent
 * (max_authorization_retries -1), and a body that stops before its Content-Length or last
 * chunk is a broken connection (PLAT_HTTP_BROKEN), never a complete answer.
 */
#ifndef TRACKAGENT_ESP32_HTTP_H
#define TRACKAGENT_ESP32_HTTP_H

#include <stdint.h>

#include "esp_err.h"
#include "platform.h"

/* Starts the worker; `answer_cap` is the largest answer (the module's rx_capacity()). */
esp_err_t esp32_http_init(size_t answer_cap);

/* Performs `req` into `ans` (status, kept headers, body, or PLAT_HTTP_*) within `wait_ms`;
 * *took_ms is the real time it took. `ca_pem` verifies the server with that CA instead of
 * the certificate bundle (test rigs), or NULL. PLAT_BUSY while an abandoned exchange still
 * holds the worker; PLAT_NO_MEMORY. */
plat_status_t esp32_http_exchange(const plat_http_request_t *req, const char *ca_pem, uint32_t wait_ms,
                                  plat_http_answer_t *ans, int64_t *took_ms);

#endif /* TRACKAGENT_ESP32_HTTP_H */
