/*
 * linux_platform.c - clock, sleep, randomness, GNSS, battery, motion and log of
 * the Linux board, and the platform_t that ties them to the glue.
 *
 * Virtual time (the default): the clock is a counter that only moves when the
 * glue sleeps; sleep_until jumps it to the wake time or to the next pending
 * event, whichever comes first. Hours of device life pass in seconds, and the
 * run is repeatable apart from the real time HTTP exchanges take.
 * Realtime (--realtime): CLOCK_MONOTONIC since start, and real sleeps.
 */
#define _GNU_SOURCE
#include "linux_board.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "http_answer.h"

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t board_now_ms(void *ctx)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if (!b->realtime) return b->virtual_ms;
    return (mono_ns() - b->mono_start_ns) / 1000000;
}

static plat_status_t board_sleep_until(void *ctx, int64_t wake_ms)
{
    linux_board_t *b = (linux_board_t *)ctx;
    int64_t until = wake_ms;
    if (b->http_pending && b->http_ready_ms < until) until = b->http_ready_ms;
    if (b->gnss_pending && b->gnss_ready_ms < until) until = b->gnss_ready_ms;
    int64_t now = board_now_ms(b);
    if (until <= now) return PLAT_OK;
    if (!b->realtime) {
        b->virtual_ms = until;
        return PLAT_OK;
    }
    int64_t target = b->mono_start_ns + until * 1000000;
    struct timespec ts = { (time_t)(target / 1000000000), (long)(target % 1000000000) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    return PLAT_OK;
}

/* splitmix64: a seeded, repeatable stream for --seed runs. */
static uint32_t board_random(void *ctx)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if (b->seeded) {
        uint64_t z = (b->seed_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return (uint32_t)((z ^ (z >> 31)) >> 32);
    }
    uint32_t v = 0;
    while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {}
    return v;
}

/* ---- GNSS: a fixed point or a replayed track, a fix after gnss_delay_ms ---- */

static plat_status_t board_gnss_start(void *ctx, int32_t req_id, uint32_t timeout_ms)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if (b->gnss_none) return PLAT_UNSUPPORTED;
    int64_t now = board_now_ms(b);
    plat_gnss_fix_t *f = &b->gnss_result;
    memset(f, 0, sizeof *f);
    f->req_id = req_id;
    if (b->gnss_delay_ms > timeout_ms) {
        f->status = PLAT_GNSS_TIMEOUT;
        b->gnss_ready_ms = now + timeout_ms;
    } else {
        f->status = PLAT_GNSS_FIX;
        b->gnss_ready_ms = now + b->gnss_delay_ms;
        if (b->track_len > 0) {
            const track_point_t *pt = &b->track[b->track_next % b->track_len];
            const track_point_t *prev = &b->track[(b->track_next + b->track_len - 1) % b->track_len];
            b->moving = pt->lat != prev->lat || pt->lon != prev->lon;
            b->track_next = (b->track_next + 1) % b->track_len;
            f->lat = pt->lat;
            f->lon = pt->lon;
        } else {
            f->lat = b->fixed_lat;
            f->lon = b->fixed_lon;
        }
        f->accuracy_m = 4.5;
        f->utc_s = (double)(b->utc_start_ms + b->gnss_ready_ms) / 1000.0;
    }
    b->gnss_pending = true;
    return PLAT_OK;
}

static plat_status_t board_gnss_poll(void *ctx, plat_gnss_fix_t *fix)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if (!b->gnss_pending) return PLAT_NOT_FOUND;
    if (board_now_ms(b) < b->gnss_ready_ms) return PLAT_BUSY;
    *fix = b->gnss_result;
    b->gnss_pending = false;
    return PLAT_OK;
}

static void board_gnss_cancel(void *ctx)
{
    ((linux_board_t *)ctx)->gnss_pending = false;
}

static int32_t board_battery(void *ctx)
{
    return ((linux_board_t *)ctx)->battery;
}

static int32_t board_motion(void *ctx)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if (b->gnss_none) return -1;
    return b->moving ? 1 : 0;
}

/* ---- log: stderr, one line each, "[seconds] L text" ---------------------------- */

void board_log(void *ctx, int level, const char *text, size_t len)
{
    linux_board_t *b = (linux_board_t *)ctx;
    static const char letters[] = "EWID";
    if (level > b->log_level) return;
    if (level < PLAT_LOG_ERROR) level = PLAT_LOG_ERROR;
    if (level > PLAT_LOG_DEBUG) level = PLAT_LOG_DEBUG;
    int64_t t = board_now_ms(b);
    fprintf(stderr, "[%8lld.%03lld] %c %.*s\n", (long long)(t / 1000), (long long)(t % 1000),
            letters[level], (int)len, text);
}

void board_logf(linux_board_t *b, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    board_log(b, level, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void board_platform(linux_board_t *b, platform_t *p)
{
    memset(p, 0, sizeof *p);
    p->ctx = b;
    p->kv_get = store_kv_get;
    p->kv_set = store_kv_set;
    p->flash = b->geom;
    p->flash_read = store_flash_read;
    p->flash_program = store_flash_program;
    p->flash_erase = store_flash_erase;
    p->http_start = http_start;
    p->http_poll = http_poll;
    p->http_cancel = http_cancel;
    p->now_ms = board_now_ms;
    p->sleep_until = board_sleep_until;
    p->random_u32 = board_random;
    p->gnss_start = board_gnss_start;
    p->gnss_poll = board_gnss_poll;
    p->gnss_cancel = board_gnss_cancel;
    p->battery_percent = board_battery;
    p->motion = board_motion;
    p->log = board_log;
}
