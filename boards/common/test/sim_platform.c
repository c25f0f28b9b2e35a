/* sim_platform.c - see sim_platform.h. */
#include "sim_platform.h"

#include <stdio.h>
#include <string.h>

#include "http_answer.h"

#define SIM_UTC0_S 1795392000LL /* 2026-11-23T00:00:00Z */

static plat_status_t kv_get(void *ctx, const char *key, uint8_t *buf, size_t cap, size_t *len)
{
    sim_t *s = (sim_t *)ctx;
    for (int i = 0; i < SIM_KV_MAX; i++) {
        if (s->kv[i].used && strcmp(s->kv[i].key, key) == 0) {
            memcpy(buf, s->kv[i].val, s->kv[i].len < cap ? s->kv[i].len : cap);
            *len = s->kv[i].len;
            return PLAT_OK;
        }
    }
    return PLAT_NOT_FOUND;
}

static plat_status_t kv_set(void *ctx, const char *key, const uint8_t *val, size_t len)
{
    sim_t *s = (sim_t *)ctx;
    int free_slot = -1;
    if (len > sizeof s->kv[0].val || strlen(key) > 64) return PLAT_INVALID;
    for (int i = 0; i < SIM_KV_MAX; i++) {
        if (s->kv[i].used && strcmp(s->kv[i].key, key) == 0) { free_slot = i; break; }
        if (!s->kv[i].used && free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) return PLAT_NO_MEMORY;
    s->kv[free_slot].used = true;
    strcpy(s->kv[free_slot].key, key);
    memcpy(s->kv[free_slot].val, val, len);
    s->kv[free_slot].len = len;
    return PLAT_OK;
}

static plat_status_t flash_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    sim_t *s = (sim_t *)ctx;
    memcpy(buf, s->flash + addr, len);
    return PLAT_OK;
}

static plat_status_t flash_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    sim_t *s = (sim_t *)ctx;
    for (size_t i = 0; i < len; i++) s->flash[addr + i] &= data[i];
    return PLAT_OK;
}

static plat_status_t flash_erase(void *ctx, uint32_t sector)
{
    sim_t *s = (sim_t *)ctx;
    memset(s->flash + (size_t)sector * s->geom.sector_size, 0xFF, s->geom.sector_size);
    return PLAT_OK;
}

static bool ends_with(const char *url, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(url + len - n, suffix, n) == 0;
}

/* IMF-fixdate of the virtual clock (days-from-civil, no libc time zone code). */
static void http_date(int64_t now_ms, char *out, size_t cap)
{
    static const char *const wd[7] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
    static const char *const mon[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int64_t t = SIM_UTC0_S + now_ms / 1000;
    int64_t days = t / 86400, sec = t % 86400;
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[days % 7], (int)d, mon[m - 1], (int)y,
             (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
}

static size_t count_items(const uint8_t *body, size_t len)
{
    /* Each uplink object has one "id": member at its top level. */
    size_t n = 0;
    for (size_t i = 0; i + 5 <= len; i++)
        if (memcmp(body + i, "\"id\":", 5) == 0) n++;
    return n;
}

static plat_status_t http_start(void *ctx, const plat_http_request_t *req, plat_http_answer_t *ans)
{
    sim_t *s = (sim_t *)ctx;
    char date[40], body[64];
    s->requests++;
    http_date(s->now_ms, date, sizeof date);
    http_answer_header(ans, "Date", 4, date, strlen(date));
    if (s->fail_every > 0 && s->requests % s->fail_every == 0) {
        ans->status = 503;
        http_answer_header(ans, "Retry-After", 11, "30", 2);
    } else if (ends_with(req->url, req->url_len, "/connect")) {
        ans->status = 200;
        snprintf(body, sizeof body, "{}");
    } else if (ends_with(req->url, req->url_len, "/uplinks/backfill")) {
        size_t n = count_items(req->body, req->body_len);
        s->uplinks_received += (uint32_t)n;
        ans->status = 200;
        snprintf(body, sizeof body, "{\"accepted\":%zu,\"duplicates\":0}", n);
    } else if (ends_with(req->url, req->url_len, "/uplinks")) {
        s->uplinks_received++;
        ans->status = 201;
        snprintf(body, sizeof body, "{\"id\":%u}", (unsigned)s->uplinks_received);
    } else {
        ans->status = 404;
        snprintf(body, sizeof body, "{}");
    }
    if (ans->status != 503) http_answer_body(ans, (const uint8_t *)body, strlen(body));
    s->ans = ans;
    s->http_pending = true;
    return PLAT_OK;
}

static plat_status_t http_poll(void *ctx)
{
    sim_t *s = (sim_t *)ctx;
    if (!s->http_pending) return PLAT_NOT_FOUND;
    s->http_pending = false;
    return PLAT_OK;
}

static void http_cancel(void *ctx) { ((sim_t *)ctx)->http_pending = false; }

static int64_t now_ms(void *ctx) { return ((sim_t *)ctx)->now_ms; }

static plat_status_t sleep_until(void *ctx, int64_t wake)
{
    sim_t *s = (sim_t *)ctx;
    if (s->http_pending) return PLAT_OK;
    if (s->gnss_pending && s->gnss_ready_ms < wake) wake = s->gnss_ready_ms;
    if (wake > s->now_ms) s->now_ms = wake;
    return PLAT_OK;
}

static uint32_t random_u32(void *ctx)
{
    sim_t *s = (sim_t *)ctx;
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(s->rng >> 33);
}

static plat_status_t gnss_start(void *ctx, int32_t req_id, uint32_t timeout_ms)
{
    sim_t *s = (sim_t *)ctx;
    (void)timeout_ms;
    s->gnss_pending = true;
    s->gnss_ready_ms = s->now_ms + 2000;
    s->fix.req_id = req_id;
    s->fix.status = PLAT_GNSS_FIX;
    s->fix.lat = 47.3769;
    s->fix.lon = 8.5417;
    s->fix.accuracy_m = 4.5;
    s->fix.utc_s = (double)(SIM_UTC0_S + s->gnss_ready_ms / 1000);
    return PLAT_OK;
}

static plat_status_t gnss_poll(void *ctx, plat_gnss_fix_t *fix)
{
    sim_t *s = (sim_t *)ctx;
    if (!s->gnss_pending) return PLAT_NOT_FOUND;
    if (s->now_ms < s->gnss_ready_ms) return PLAT_BUSY;
    *fix = s->fix;
    s->gnss_pending = false;
    return PLAT_OK;
}

static void gnss_cancel(void *ctx) { ((sim_t *)ctx)->gnss_pending = false; }

static int32_t battery(void *ctx) { (void)ctx; return 80; }
static int32_t motion(void *ctx) { (void)ctx; return 0; }

static void log_line(void *ctx, int level, const char *text, size_t len)
{
    sim_t *s = (sim_t *)ctx;
    s->log_lines++;
    if (level == PLAT_LOG_ERROR) s->error_lines++;
    if (level <= s->log_level) fprintf(stderr, "  [%lld] %d %.*s\n", (long long)s->now_ms, level, (int)len, text);
}

void sim_init(sim_t *s, platform_t *p, uint8_t *flash, plat_flash_geometry_t geom)
{
    memset(s, 0, sizeof *s);
    s->flash = flash;
    s->geom = geom;
    s->rng = 42;
    s->log_level = -1;
    memset(flash, 0xFF, (size_t)geom.sector_size * geom.sector_count);
    memset(p, 0, sizeof *p);
    p->ctx = s;
    p->kv_get = kv_get;
    p->kv_set = kv_set;
    p->flash = geom;
    p->flash_read = flash_read;
    p->flash_program = flash_program;
    p->flash_erase = flash_erase;
    p->http_start = http_start;
    p->http_poll = http_poll;
    p->http_cancel = http_cancel;
    p->now_ms = now_ms;
    p->sleep_until = sleep_until;
    p->random_u32 = random_u32;
    p->gnss_start = gnss_start;
    p->gnss_poll = gnss_poll;
    p->gnss_cancel = gnss_cancel;
    p->battery_percent = battery;
    p->motion = motion;
    p->log = log_line;
}

void sim_provision(sim_t *s)
{
    static const char *const kv[5][2] = {
        { "tenantId", "t1" }, { "deviceId", "d1" }, { "environment", "https://sim.invalid" },
        { "apiKey", "ak_simulated_key_0123456789" }, { "resetSecret", "rs_simulated_secret_0123456789" },
    };
    for (int i = 0; i < 5; i++) kv_set(s, kv[i][0], (const uint8_t *)kv[i][1], strlen(kv[i][1]));
}
