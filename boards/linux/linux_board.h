/*
 * linux_board.h - the Linux board: the platform interface (platform.h) on files,
 * libcurl and a virtual or real clock.
 *
 *   linux_store.c     flash image and key-value store, in memory or in files
 *   linux_http.c      HTTP/HTTPS through libcurl, one blocking exchange at a time
 *   linux_platform.c  clock and sleep, randomness, GNSS, battery, motion, log;
 *                     fills the platform_t
 *   crc32.c           the store's per-entry checksum
 *   board_main.c      main: flags, provisioning, the run, the JSON summary
 *
 * HTTP is synchronous: http_start performs the whole exchange with libcurl and
 * stores the answer; http_poll reports it complete once the clock reaches the
 * time it "arrived" (start + the real time it took, or start + the timeout). The
 * glue therefore still sees it as an event, delivered on a later loop turn.
 */
#ifndef TRACKAGENT_LINUX_BOARD_H
#define TRACKAGENT_LINUX_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap_meter.h"
#include "platform.h"

/* Exit status of a simulated power cut (--power-cut-after): like 128 + SIGKILL. */
#define POWER_CUT_EXIT 137

typedef struct kv_entry {
    char    *key;
    uint8_t *value;
    size_t   len;
} kv_entry_t;

typedef struct track_point {
    double lat, lon;
} track_point_t;

typedef struct linux_board {
    /* clock */
    bool    realtime;
    int64_t virtual_ms;        /* virtual mode: the clock */
    int64_t mono_start_ns;     /* realtime mode: CLOCK_MONOTONIC at start */
    int64_t utc_start_ms;      /* wall clock at start: GNSS fix times */

    /* randomness: getrandom(2), or a seeded generator for repeatable runs */
    bool     seeded;
    uint64_t seed_state;

    /* log */
    int log_level;             /* lines above it are dropped */

    /* flash: the whole image in memory; with a file, every change written through */
    plat_flash_geometry_t geom;
    uint8_t *flash;
    int      flash_fd;         /* -1: memory only */
    uint32_t cut_after_ops;    /* --power-cut-after: 0 = never; else the process dies at that program/erase */
    uint32_t flash_ops;        /* programs and erases so far */

    /* key-value store: a small table; with a file, rewritten whole on each set
     * (temp file, fsync, rename: a set is atomic, and so per key), every entry with
     * its own CRC-32 (linux_store.c) */
    kv_entry_t *kv;
    size_t      kv_count;
    char       *kv_path;       /* NULL: memory only */
    unsigned    kv_damaged;    /* slots or entries that failed their CRC at open: read as missing */
    char        kv_damaged_keys[160]; /* the keys of those whose header still named them ("?" otherwise) */

    /* HTTP */
    void    *curl;             /* CURL easy handle, reused: keep-alive */
    void    *share;            /* CURLSH: connection cache, TLS sessions and DNS, kept across resets */
    bool     allow_http;       /* --dev: plain http:// allowed */
    const char *cacert;        /* extra CA bundle (tests with a private CA) */
    uint32_t http_wait_cap_ms; /* virtual mode: longest real wait for one exchange */
    plat_http_answer_t *http_ans;
    bool     http_pending;
    int64_t  http_ready_ms;
    uint64_t http_exchanges;

    /* GNSS */
    bool     gnss_none;        /* --no-gnss: no receiver */
    uint32_t gnss_delay_ms;    /* time to a fix */
    double   fixed_lat, fixed_lon;
    track_point_t *track;
    size_t   track_len, track_next;
    bool     moving;
    bool     gnss_pending;
    int64_t  gnss_ready_ms;
    plat_gnss_fix_t gnss_result;

    int32_t battery;           /* -1 unknown */
} linux_board_t;

/* linux_store.c */
plat_status_t store_open(linux_board_t *b, const char *flash_path, char *err, size_t err_len);
void          store_close(linux_board_t *b);
plat_status_t store_kv_get(void *ctx, const char *key, uint8_t *buf, size_t cap, size_t *value_len);
plat_status_t store_kv_set(void *ctx, const char *key, const uint8_t *value, size_t len);
bool          store_kv_has(linux_board_t *b, const char *key);
plat_status_t store_flash_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len);
plat_status_t store_flash_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len);
plat_status_t store_flash_erase(void *ctx, uint32_t sector);

/* linux_http.c */
plat_status_t http_init(linux_board_t *b);
void          http_close(linux_board_t *b);
plat_status_t http_start(void *ctx, const plat_http_request_t *req, plat_http_answer_t *ans);
plat_status_t http_poll(void *ctx);
void          http_cancel(void *ctx);

/* linux_platform.c */
void    board_platform(linux_board_t *b, platform_t *p);
int64_t board_now_ms(void *ctx);
void    board_log(void *ctx, int level, const char *text, size_t len);
void    board_logf(linux_board_t *b, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* TRACKAGENT_LINUX_BOARD_H */
