/*
 * platform.h - what a board gives the agent glue.
 *
 * The glue (agent_host.c) runs the agent module under wasm3 and implements the
 * module's imports (assembly/ABI.md) on top of this interface. A board fills one
 * `platform_t`: a table of functions and the `ctx` they all receive. Nothing here
 * allocates; buffers belong to the caller. Every function returns a status
 * (`PLAT_OK` or a negative `PLAT_*`), except the few that return a reading.
 *
 * Threading: the glue calls every function from one task. A board that completes
 * I/O on another task (an ESP32 event handler, say) synchronises inside its own
 * functions; the glue only ever polls.
 *
 * What the glue already checked before calling: every pointer and length the
 * module gave is inside its linear memory; keys are 1-64 bytes of
 * [A-Za-z0-9_.-]; flash ranges lie inside the geometry and writes are aligned to
 * the program unit. A board may check again; it never has to.
 */
#ifndef TRACKAGENT_PLATFORM_H
#define TRACKAGENT_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi_constants.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statuses ---------------------------------------------------------------- */

typedef int32_t plat_status_t;

#define PLAT_OK            0
#define PLAT_NOT_FOUND    (-1)  /* kv: no such key; poll: nothing outstanding */
#define PLAT_IO           (-2)  /* the storage or device failed */
#define PLAT_INVALID      (-3)  /* an argument out of range */
#define PLAT_UNSUPPORTED  (-4)  /* the board has no such device */
#define PLAT_BUSY         (-5)  /* poll: outstanding, not finished yet */
#define PLAT_NO_MEMORY    (-6)

/* Transport failures, reported in place of an HTTP status (ABI.md). */
#define PLAT_HTTP_TIMEOUT  AGENT_NET_TIMEOUT
#define PLAT_HTTP_REFUSED  AGENT_NET_REFUSED  /* refused, no route, DNS */
#define PLAT_HTTP_BROKEN   AGENT_NET_BROKEN   /* connection broken, malformed answer */
#define PLAT_HTTP_TLS      AGENT_NET_TLS

/* Log levels, as the module uses them. */
#define PLAT_LOG_ERROR AGENT_LEVEL_ERROR
#define PLAT_LOG_WARN  AGENT_LEVEL_WARN
#define PLAT_LOG_INFO  AGENT_LEVEL_INFO
#define PLAT_LOG_DEBUG AGENT_LEVEL_DEBUG

/* ---- flash ------------------------------------------------------------------- */

/* The uplink-log partition: raw NOR flash, erased = 0xFF, programming only
 * clears bits. */
typedef struct plat_flash_geometry {
    uint32_t sector_size;   /* bytes per erase sector */
    uint32_t sector_count;
    uint32_t program_unit;  /* program address and length are multiples of it */
} plat_flash_geometry_t;

/* ---- HTTP -------------------------------------------------------------------- */

#define PLAT_HTTP_GET  AGENT_METHOD_GET
#define PLAT_HTTP_POST AGENT_METHOD_POST

/* One request, as the module gave it. The pointers are valid only during the
 * `http_start` call: a board that needs them later copies them. */
typedef struct plat_http_request {
    int32_t        req_id;
    int32_t        method;       /* PLAT_HTTP_GET or PLAT_HTTP_POST */
    const char    *url;          /* not NUL-terminated */
    size_t         url_len;
    const char    *headers;      /* "Name: value\r\n" lines, sent as given. They hold */
    size_t         headers_len;  /* the API key or reset secret: never log them. */
    const uint8_t *body;
    size_t         body_len;
    uint32_t       timeout_ms;   /* whole exchange */
} plat_http_request_t;

/*
 * Where a board puts the answer. The glue owns the buffer and hands it to
 * `http_start`; the board fills it (with the helpers of http_answer.h, which keep
 * only the headers the module reads and cut the body to capacity) and reports
 * completion through `http_poll`. The board must follow no redirect.
 */
typedef struct plat_http_answer {
    int32_t  req_id;     /* set by the glue */
    int32_t  status;     /* HTTP status, or PLAT_HTTP_* */
    uint8_t *buf;        /* header lines, then the body */
    size_t   cap;
    size_t   hdr_len;    /* "name: value\n" lines at buf[0 .. hdr_len) */
    size_t   body_len;   /* body at buf[hdr_len .. hdr_len + body_len) */
    bool     truncated;  /* the body was longer than the room left */
    bool     in_body;    /* helpers: the first body byte arrived; later headers ignored */
} plat_http_answer_t;

/* ---- GNSS -------------------------------------------------------------------- */

#define PLAT_GNSS_FIX      0
#define PLAT_GNSS_TIMEOUT  1
#define PLAT_GNSS_ERROR    2

typedef struct plat_gnss_fix {
    int32_t req_id;
    int32_t status;       /* PLAT_GNSS_* */
    double  lat, lon;     /* degrees (WGS84) */
    double  accuracy_m;
    double  utc_s;        /* UTC of the fix, seconds since 1970, or 0 */
} plat_gnss_fix_t;

/* ---- the interface ----------------------------------------------------------- */

typedef struct platform {
    void *ctx;

    /* Key-value store. kv_get copies at most `cap` bytes of the value into `buf`
     * and sets `*value_len` to its full length; PLAT_NOT_FOUND when absent.
     * kv_set is atomic per key: after a power cut the key holds the whole old or
     * the whole new value. `key` is NUL-terminated. */
    plat_status_t (*kv_get)(void *ctx, const char *key, uint8_t *buf, size_t cap, size_t *value_len);
    plat_status_t (*kv_set)(void *ctx, const char *key, const uint8_t *value, size_t len);

    /* The uplink-log partition; `flash` is its geometry. */
    plat_flash_geometry_t flash;
    plat_status_t (*flash_read)(void *ctx, uint32_t addr, uint8_t *buf, size_t len);
    plat_status_t (*flash_program)(void *ctx, uint32_t addr, const uint8_t *data, size_t len);
    plat_status_t (*flash_erase)(void *ctx, uint32_t sector);

    /* HTTP(S). http_start begins one exchange and returns PLAT_OK, or an error
     * when it could not even start. The answer goes into `ans` (kept by the board
     * until it completes). http_poll: PLAT_OK when `ans` is complete, PLAT_BUSY
     * while in flight, PLAT_NOT_FOUND when nothing is outstanding. http_cancel
     * forgets the exchange in flight; its answer must never reach `ans` later.
     * A board may do the whole exchange inside http_start (blocking) and report it
     * complete at the next poll: the glue still delivers it as an event. */
    plat_status_t (*http_start)(void *ctx, const plat_http_request_t *req, plat_http_answer_t *ans);
    plat_status_t (*http_poll)(void *ctx);
    void          (*http_cancel)(void *ctx);

    /* Monotonic milliseconds since power-on (or since the start of a virtual run);
     * never goes backwards. */
    int64_t (*now_ms)(void *ctx);

    /* Waits until now_ms() >= wake_ms, or returns earlier when an HTTP answer or
     * a GNSS fix is ready. A virtual clock just jumps to the earlier of the two. */
    plat_status_t (*sleep_until)(void *ctx, int64_t wake_ms);

    uint32_t (*random_u32)(void *ctx);

    /* GNSS. gnss_start powers the receiver and looks for a fix within timeout_ms
     * (PLAT_UNSUPPORTED: no receiver). gnss_poll copies the result into `fix`:
     * PLAT_OK ready, PLAT_BUSY still looking, PLAT_NOT_FOUND nothing outstanding. */
    plat_status_t (*gnss_start)(void *ctx, int32_t req_id, uint32_t timeout_ms);
    plat_status_t (*gnss_poll)(void *ctx, plat_gnss_fix_t *fix);
    void          (*gnss_cancel)(void *ctx);

    /* Readings: battery 0-100 or -1 unknown; motion 1 moving, 0 still, -1 unknown. */
    int32_t (*battery_percent)(void *ctx);
    int32_t (*motion)(void *ctx);

    /* One line of text (not NUL-terminated, no newline). Never called with a
     * key, a secret, request headers or a URL. */
    void (*log)(void *ctx, int level, const char *text, size_t len);
} platform_t;

#ifdef __cplusplus
}
#endif

#endif /* TRACKAGENT_PLATFORM_H */
