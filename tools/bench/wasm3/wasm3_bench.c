/*
 * wasm3_bench.c - the agent module under wasm3, measured on the glue's simulated
 * platform (boards/common/test/sim_platform.c, no network): what `npm run bench`
 * and test/budgets.test.ts read about wasm3.
 *
 *   wasm3_bench steady AGENT.wasm HOURS [lazy]
 *       the cloud answers everything at once for HOURS virtual hours (0: start-up
 *       and teardown only); run twice under callgrind, the difference of two
 *       durations is the steady-state cost per acknowledged uplink
 *   wasm3_bench drain AGENT.wasm RECORDS [lazy]
 *       a cloud that refuses every uplink (503, Retry-After: 60) until RECORDS
 *       are buffered, then accepts: the backlog drains through 16 KiB batches.
 *       Positions every 10 s, batch size 500 (the byte cap binds, not the count).
 *       Every accepted id is checked: 1, 2, 3, ... in order, none twice.
 *
 * One JSON line on stdout. The wasm3 heap is counted by boards/linux/heap_meter.c
 * (wasm3 is compiled with its allocator routed there), linear memory is read after
 * every call into the module by the glue. The value stack is 8 KiB, the ESP32's.
 * Built by build.sh in this folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_host.h"
#include "http_answer.h"
#include "sim_platform.h"
#include "wasm3.h"

size_t heap_meter_now(void);
size_t heap_meter_peak(void);

#define HOUR_MS (3600LL * 1000)
#define CHUNK_MS (10LL * 60 * 1000)
#define WASM_STACK_BYTES (8u * 1024u)

static const plat_flash_geometry_t geom = { 4096, 64, 4 };
static uint8_t flash[4096 * 64];

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) { fprintf(stderr, "wasm3_bench: cannot open %s: build the module (npm run build)\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "wasm3_bench: cannot read %s\n", path); exit(2); }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- the refusing cloud, in front of the simulated one ---------------------- */

static plat_status_t (*sim_http_start)(void *, const plat_http_request_t *, plat_http_answer_t *);
static struct {
    int  refusing;
    uint32_t refused, batches, batch_uplinks_max, body_bytes_max;
    uint64_t next_id;    /* the id the next accepted uplink must carry */
    uint32_t out_of_order;
} cloud = { 1, 0, 0, 0, 0, 1, 0 };

static int ends_with(const plat_http_request_t *req, const char *suffix)
{
    size_t n = strlen(suffix);
    return req->url_len >= n && memcmp(req->url + req->url_len - n, suffix, n) == 0;
}

/* Every `"id":N` of an accepted body, in order: each must be the next id. */
static uint32_t check_ids(const uint8_t *body, size_t len)
{
    uint32_t n = 0;
    for (size_t i = 0; i + 5 <= len; i++) {
        if (memcmp(body + i, "\"id\":", 5) != 0) continue;
        uint64_t id = 0;
        size_t j = i + 5;
        while (j < len && body[j] >= '0' && body[j] <= '9') id = id * 10 + (uint64_t)(body[j++] - '0');
        if (id != cloud.next_id) cloud.out_of_order++;
        cloud.next_id = id + 1;
        n++;
    }
    return n;
}

static plat_status_t answer_now(sim_t *s, plat_http_answer_t *ans, int32_t status, const char *retry_after, const char *body)
{
    s->requests++;
    ans->status = status;
    if (retry_after != NULL) http_answer_header(ans, "Retry-After", 11, retry_after, strlen(retry_after));
    if (body != NULL) http_answer_body(ans, (const uint8_t *)body, strlen(body));
    s->ans = ans;
    s->http_pending = true;
    return PLAT_OK;
}

static plat_status_t bench_http_start(void *ctx, const plat_http_request_t *req, plat_http_answer_t *ans)
{
    sim_t *s = (sim_t *)ctx;
    if (ends_with(req, "/connect"))
        return answer_now(s, ans, 200, NULL,
                          "{\"settings\":{\"type\":\"tracker\",\"uplinkIntervalS\":10,\"movingIntervalS\":10,"
                          "\"heartbeatS\":604800,\"backfillBatchSize\":500}}");
    int uplinks = ends_with(req, "/uplinks") || ends_with(req, "/uplinks/backfill");
    if (uplinks && cloud.refusing) {
        cloud.refused++;
        return answer_now(s, ans, 503, "60", NULL);
    }
    if (uplinks) {
        uint32_t n = check_ids(req->body, req->body_len);
        if (ends_with(req, "/uplinks/backfill")) {
            cloud.batches++;
            if (n > cloud.batch_uplinks_max) cloud.batch_uplinks_max = n;
            if (req->body_len > cloud.body_bytes_max) cloud.body_bytes_max = (uint32_t)req->body_len;
        }
    }
    return sim_http_start(ctx, req, ans);
}

/* ---- runs ------------------------------------------------------------------- */

typedef struct bench {
    sim_t sim;
    platform_t plat;
    agent_host_t host;
    agent_host_config_t cfg;
} bench_t;

static bench_t b;

static agent_status_t bench_init(const uint8_t *wasm, size_t len, bool lazy, bool refusing_cloud)
{
    agent_host_config_t d = AGENT_HOST_CONFIG_DEFAULT;
    sim_init(&b.sim, &b.plat, flash, geom);
    sim_provision(&b.sim);
    if (refusing_cloud) {
        sim_http_start = b.plat.http_start;
        b.plat.http_start = bench_http_start;
    }
    b.cfg = d;
    b.cfg.wasm = wasm;
    b.cfg.wasm_len = len;
    b.cfg.wasm_stack_bytes = WASM_STACK_BYTES;
    b.cfg.lazy_compile = lazy;
    b.cfg.run_until_ms = 0;
    return agent_host_init(&b.host, &b.plat, &b.cfg);
}

static agent_status_t run_until(int64_t t)
{
    b.host.cfg.run_until_ms = t;
    return agent_host_run(&b.host);
}

static int steady(const uint8_t *wasm, size_t len, double hours, bool lazy)
{
    agent_status_t st = bench_init(wasm, len, lazy, false);
    if (st == AGENT_OK) st = run_until((int64_t)(hours * (double)HOUR_MS));
    agent_host_stats_t s;
    agent_host_get_stats(&b.host, &s);
    printf("{\"mode\":\"steady\",\"status\":\"%s\",\"pointerBits\":%u,\"wasm3\":\"%s\",\"lazyCompile\":%s,\"hours\":%g,"
           "\"uplinksRecorded\":%llu,\"uplinksAcked\":%llu,\"steps\":%llu,\"traps\":%llu,"
           "\"heapPeakBytes\":%zu,\"linearMemoryBytes\":%u,\"wasmStackPeakBytes\":%u}\n",
           agent_status_text(st), (unsigned)(sizeof(void *) * 8), M3_VERSION, lazy ? "true" : "false", hours,
           (unsigned long long)s.recorded, (unsigned long long)s.acked, (unsigned long long)s.steps,
           (unsigned long long)s.traps, heap_meter_peak(), s.memory_bytes, s.wasm_stack_peak);
    agent_host_deinit(&b.host);
    return st == AGENT_OK && s.traps == 0 ? 0 : 1;
}

static int drain(const uint8_t *wasm, size_t len, int64_t records, bool lazy)
{
    agent_status_t st = bench_init(wasm, len, lazy, true);
    int64_t t = 0, buffered = 0;
    while (st == AGENT_OK && (buffered = agent_host_stat(&b.host, AGENT_STAT_BUFFERED)) < records && t < 48 * HOUR_MS)
        st = run_until(t += CHUNK_MS);
    int64_t backlog = buffered;
    agent_host_stats_t s;
    agent_host_get_stats(&b.host, &s);
    uint32_t memory_outage = s.memory_bytes;
    size_t heap_outage = heap_meter_peak();
    int64_t drain_start = t;
    cloud.refusing = 0;
    /* Drained when what is left is only what was recorded since (a position every 10 s). */
    while (st == AGENT_OK && (buffered = agent_host_stat(&b.host, AGENT_STAT_BUFFERED)) > 2 && t < drain_start + 24 * HOUR_MS)
        st = run_until(t += CHUNK_MS);
    agent_host_get_stats(&b.host, &s);
    int64_t dropped = agent_host_stat(&b.host, AGENT_STAT_DROPPED);
    int64_t last_id = agent_host_stat(&b.host, AGENT_STAT_LAST_ID);
    /* Lost: an id recorded, not delivered and no longer buffered. */
    int64_t lost = last_id - (int64_t)(cloud.next_id - 1) - buffered;
    printf("{\"mode\":\"drain\",\"status\":\"%s\",\"pointerBits\":%u,\"wasm3\":\"%s\",\"lazyCompile\":%s,"
           "\"records\":%lld,\"backlog\":%lld,\"drainHours\":%.2f,\"refusedRequests\":%u,\"batches\":%u,"
           "\"batchUplinksMax\":%u,\"batchBodyBytesMax\":%u,\"buffered\":%lld,\"dropped\":%lld,\"lost\":%lld,"
           "\"outOfOrder\":%u,\"traps\":%llu,\"linearMemoryOutageBytes\":%u,\"linearMemoryBytes\":%u,"
           "\"heapPeakOutageBytes\":%zu,\"heapPeakBytes\":%zu,\"wasmStackPeakBytes\":%u}\n",
           agent_status_text(st), (unsigned)(sizeof(void *) * 8), M3_VERSION, lazy ? "true" : "false",
           (long long)records, (long long)backlog, (double)(t - drain_start) / (double)HOUR_MS, cloud.refused,
           cloud.batches, cloud.batch_uplinks_max, cloud.body_bytes_max, (long long)buffered, (long long)dropped,
           (long long)lost, cloud.out_of_order, (unsigned long long)s.traps, memory_outage, s.memory_bytes,
           heap_outage, heap_meter_peak(), s.wasm_stack_peak);
    agent_host_deinit(&b.host);
    return st == AGENT_OK && backlog >= records && buffered <= 2 && lost == 0 && cloud.out_of_order == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "steady") != 0 && strcmp(argv[1], "drain") != 0)) {
        fprintf(stderr, "usage: wasm3_bench steady AGENT.wasm HOURS [lazy]\n"
                        "       wasm3_bench drain AGENT.wasm RECORDS [lazy]\n");
        return 2;
    }
    size_t len = 0;
    uint8_t *wasm = read_all(argv[2], &len);
    bool lazy = argc > 4 && strcmp(argv[4], "lazy") == 0;
    int rc = strcmp(argv[1], "steady") == 0 ? steady(wasm, len, atof(argv[3]), lazy)
                                            : drain(wasm, len, atoll(argv[3]), lazy);
    free(wasm);
    return rc;
}
