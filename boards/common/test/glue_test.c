/*
 * glue_test.c - tests of the wasm3 glue (agent_host.c) on the simulated platform,
 * and the measuring run used by boards/linux/measure.sh.
 *
 *   glue_test test AGENT.wasm PROBE.wasm PROBE_ABI2.wasm PROBE_UNRESOLVED.wasm
 *       runs every test; prints "N passed, N failed"; exit 0 when none failed
 *   glue_test measure AGENT.wasm HOURS [TRAP_EVERY [WASM_STACK_KIB [lazy]]]
 *       one run of the real module; prints a JSON object of wasm3 figures
 *
 * Built by boards/linux/CMakeLists.txt (boards/common/test/run.sh builds and runs
 * it), natively and with -m32 as the stand-in for the ESP32's 32-bit pointers.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "agent_host.h"
#include "http_answer.h"
#include "heap_meter.h"
#include "sim_platform.h"
#include "wasm3.h"

static int passed, failed;

#define CHECK(cond, ...) do { \
        if (cond) passed++; \
        else { failed++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
               fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
    } while (0)

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "cannot read %s\n", path); exit(2); }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const plat_flash_geometry_t geom = { 4096, 64, 4 };
static uint8_t flash[4096 * 64];

typedef struct fixture {
    sim_t sim;
    platform_t plat;
    agent_host_t host;
    agent_host_config_t cfg;
} fixture_t;

static void setup(fixture_t *f, const uint8_t *wasm, size_t len, bool provision)
{
    agent_host_config_t d = AGENT_HOST_CONFIG_DEFAULT;
    sim_init(&f->sim, &f->plat, flash, geom);
    if (provision) sim_provision(&f->sim);
    f->cfg = d;
    f->cfg.wasm = wasm;
    f->cfg.wasm_len = len;
}

/* The real module for a day: every uplink recorded is acknowledged. */
static void test_day(const uint8_t *wasm, size_t len)
{
    static fixture_t f;
    setup(&f, wasm, len, true);
    f.cfg.run_until_ms = 24LL * 3600 * 1000;
    agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
    CHECK(st == AGENT_OK, "day: init %s", agent_status_text(st));
    if (st == AGENT_OK) st = agent_host_run(&f.host);
    CHECK(st == AGENT_OK, "day: run %s", agent_status_text(st));
    agent_host_stats_t s;
    agent_host_get_stats(&f.host, &s);
    CHECK(s.recorded >= 24 * 12, "day: %llu uplinks recorded", (unsigned long long)s.recorded);
    CHECK(s.acked + 2 >= s.recorded, "day: %llu of %llu acknowledged", (unsigned long long)s.acked, (unsigned long long)s.recorded);
    CHECK(f.sim.uplinks_received == s.acked, "day: cloud got %u, module counted %llu", f.sim.uplinks_received, (unsigned long long)s.acked);
    CHECK(s.traps == 0 && s.bad_pointers == 0, "day: traps %llu, bad pointers %llu", (unsigned long long)s.traps, (unsigned long long)s.bad_pointers);
    CHECK(agent_host_stat(&f.host, AGENT_STAT_UTC_KNOWN) == 1, "day: UTC not learnt from Date");
    CHECK(f.sim.error_lines == 0, "day: %u error lines", f.sim.error_lines);

    /* The summary every board prints starts with these members. */
    char json[AGENT_HOST_SUMMARY_MAX], want[64];
    size_t jlen = 0;
    st = agent_host_summary_json(&f.host, json, sizeof json, &jlen);
    snprintf(want, sizeof want, "\"uplinksRecorded\":%llu,\"uplinksAcked\":%llu,",
             (unsigned long long)s.recorded, (unsigned long long)s.acked);
    CHECK(st == AGENT_OK && jlen == strlen(json) && strncmp(json, want, strlen(want)) == 0, "day: summary %s", json);
    snprintf(want, sizeof want, "\"buffered\":%lld,", (long long)agent_host_stat(&f.host, AGENT_STAT_BUFFERED));
    CHECK(strstr(json, want) != NULL && strstr(json, "\"utcKnown\":1,") != NULL &&
          strstr(json, "\"trapsThisRun\":0,") != NULL && jlen > 16 && strcmp(json + jlen - 16, ",\"startStatus\":0") == 0,
          "day: summary %s", json);
    st = agent_host_summary_json(&f.host, json, 40, &jlen);
    CHECK(st == AGENT_ERR_ARG && json[0] == '\0', "day: summary into 40 bytes: %s", agent_status_text(st));
    agent_host_deinit(&f.host);
}

/* Traps on purpose every 7 steps: each is recovered, counted by the module too. */
static void test_traps(const uint8_t *wasm, size_t len)
{
    static fixture_t f;
    setup(&f, wasm, len, true);
    f.cfg.run_until_ms = 6LL * 3600 * 1000;
    f.cfg.start_flags = AGENT_FLAG_FAULT_INJECTION;
    f.cfg.trap_every_steps = 7;
    agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
    if (st == AGENT_OK) st = agent_host_run(&f.host);
    CHECK(st == AGENT_OK, "traps: %s", agent_status_text(st));
    agent_host_stats_t s;
    agent_host_get_stats(&f.host, &s);
    CHECK(s.traps >= 5, "traps: only %llu traps", (unsigned long long)s.traps);
    CHECK(s.restarts == s.traps, "traps: %llu restarts for %llu traps", (unsigned long long)s.restarts, (unsigned long long)s.traps);
    CHECK(agent_host_stat(&f.host, AGENT_STAT_TRAPS) == (int64_t)s.traps, "traps: module counted %lld",
          (long long)agent_host_stat(&f.host, AGENT_STAT_TRAPS));
    CHECK(agent_host_stat(&f.host, AGENT_STAT_BOOTS) == (int64_t)s.traps + 1, "traps: boots %lld",
          (long long)agent_host_stat(&f.host, AGENT_STAT_BOOTS));
    CHECK(s.acked > 0, "traps: nothing acknowledged");
    agent_host_deinit(&f.host);

    /* Without FAULT_INJECTION, debug_trap does nothing. */
    setup(&f, wasm, len, true);
    f.cfg.run_until_ms = 3600 * 1000;
    f.cfg.trap_every_steps = 3;
    st = agent_host_init(&f.host, &f.plat, &f.cfg);
    if (st == AGENT_OK) st = agent_host_run(&f.host);
    agent_host_get_stats(&f.host, &s);
    CHECK(st == AGENT_OK && s.traps == 0, "disarmed: %llu traps", (unsigned long long)s.traps);
    agent_host_deinit(&f.host);
}

/* No identity in the store: agent_start refuses, the glue reports it. */
static void test_refused(const uint8_t *wasm, size_t len)
{
    static fixture_t f;
    setup(&f, wasm, len, false);
    agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
    CHECK(st == AGENT_ERR_START, "refused: %s", agent_status_text(st));
    CHECK(f.host.start_status == -1, "refused: start status %d", (int)f.host.start_status);
    char json[AGENT_HOST_SUMMARY_MAX];
    st = agent_host_summary_json(&f.host, json, sizeof json, NULL);
    CHECK(st == AGENT_OK && strstr(json, "\"uplinksRecorded\":0,") == json && strstr(json, "\"boots\":-1,") != NULL &&
          strstr(json, "\"startStatus\":-1") != NULL, "refused: summary %s", json);
    agent_host_deinit(&f.host);
}

/* The probe module: every out-of-bounds pointer is refused, nothing crashes;
 * then two steps (at 0 and 60 s) in its two minutes. */
static void test_bounds(const uint8_t *wasm, size_t len)
{
    static fixture_t f;
    setup(&f, wasm, len, false);
    f.cfg.run_until_ms = 120000;
    agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
    CHECK(st == AGENT_OK, "bounds: init %s", agent_status_text(st));
    if (st != AGENT_OK) return;
    static const struct { int which; int64_t want; const char *what; } expect[] = {
        { 0, AGENT_IMPORT_BAD_POINTER, "kv_get key past the end" },
        { 1, AGENT_IMPORT_BAD_POINTER, "kv_get key at 2^31" },
        { 2, AGENT_IMPORT_BAD_POINTER, "kv_set negative length" },
        { 3, AGENT_IMPORT_BAD_POINTER, "kv_get buffer past the end" },
        { 4, AGENT_IMPORT_BAD_POINTER, "http_request url past the end" },
        { 5, AGENT_IMPORT_BAD_POINTER, "flash_read buffer past the end" },
        { 6, AGENT_IMPORT_OUT_OF_RANGE, "flash_read past the partition" },
        { 7, AGENT_IMPORT_MISALIGNED, "flash_program misaligned" },
        { 8, AGENT_IMPORT_OK, "kv_set ok" },
        { 9, 1, "kv_get ok" },
        { 10, AGENT_IMPORT_BAD_KEY, "kv_get bad key" },
        { 11, 'v', "kv_get value" },
        { 12, AGENT_IMPORT_BAD_KEY, "kv_get key of 16 bytes" },
        { 13, AGENT_IMPORT_OK, "kv_set key of 15 bytes" },
        { 14, AGENT_IMPORT_OK, "http_request" },
        { 15, AGENT_IMPORT_BUSY, "http_request while one is in flight" },
        { 16, AGENT_IMPORT_INVALID, "http_request method 5" },
        { 17, AGENT_IMPORT_OK, "flash_program aligned" },
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int64_t got = agent_host_stat(&f.host, expect[i].which);
        CHECK(got == expect[i].want, "bounds: %s: got %lld, want %lld", expect[i].what, (long long)got, (long long)expect[i].want);
    }
    agent_host_stats_t s;
    agent_host_get_stats(&f.host, &s);
    CHECK(s.bad_pointers == 7, "bounds: %llu refusals counted, want 7", (unsigned long long)s.bad_pointers);
    st = agent_host_run(&f.host);
    agent_host_get_stats(&f.host, &s);
    /* The first request went on (not cancelled by the refused second): its answer
     * arrived (the step at 0 follows it), then the step at 60 s. */
    CHECK(st == AGENT_OK && s.steps == 2 && s.http_answers == 1, "bounds: run %s, %llu steps, %llu answers",
          agent_status_text(st), (unsigned long long)s.steps, (unsigned long long)s.http_answers);
    CHECK(agent_host_stat(&f.host, 21) == 404 && agent_host_stat(&f.host, 19) == 2 && agent_host_stat(&f.host, 20) == 0,
          "bounds: answer %lld, body %lld B, flags %lld", (long long)agent_host_stat(&f.host, 21),
          (long long)agent_host_stat(&f.host, 19), (long long)agent_host_stat(&f.host, 20));
    agent_host_deinit(&f.host);
}

/* Response headers take at most half the buffer: a line past it is dropped
 * whole, a later one that fits is kept; the body has the rest (ABI.md). The
 * same cases as test/host-rules.test.ts runs on the Node host. */
static void test_header_room(void)
{
    static const struct { const char *date; const char *retry; const char *want; } cases[] = {
        { "xxxxxxxxxx", "yyyyyyyyyyyyyyyyyyyy", "date: xxxxxxxxxx\n" },
        { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "30", "retry-after: 30\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[80];
        plat_http_answer_t a;
        memset(&a, 0, sizeof a);
        a.buf = buf;
        a.cap = sizeof buf;
        http_answer_reset(&a, 1);
        http_answer_header(&a, "Date", 4, cases[i].date, strlen(cases[i].date));
        http_answer_header(&a, "Retry-After", 11, cases[i].retry, strlen(cases[i].retry));
        uint8_t body[100];
        memset(body, 'b', sizeof body);
        http_answer_body(&a, body, sizeof body);
        size_t want = strlen(cases[i].want);
        CHECK(a.hdr_len == want && memcmp(buf, cases[i].want, want) == 0, "headers %zu: %zu bytes kept", i, a.hdr_len);
        CHECK(a.body_len == sizeof buf - want && a.truncated, "headers %zu: body %zu", i, a.body_len);
    }
}

/* A trap inside agent_start is recovered like any other. */
static void test_trap_at_start(const uint8_t *wasm, size_t len)
{
    static fixture_t f;
    setup(&f, wasm, len, false);
    f.cfg.board_config = "trap";
    f.cfg.board_config_len = 4;
    f.cfg.run_until_ms = 60000;
    agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
    CHECK(st == AGENT_OK, "trap at start: init %s", agent_status_text(st));
    if (st == AGENT_OK) st = agent_host_run(&f.host);
    agent_host_stats_t s;
    agent_host_get_stats(&f.host, &s);
    CHECK(st == AGENT_OK && s.traps == 1 && s.restarts == 1 && f.host.live,
          "trap at start: %s, traps %llu, restarts %llu", agent_status_text(st),
          (unsigned long long)s.traps, (unsigned long long)s.restarts);
    agent_host_deinit(&f.host);
}

static void test_abi(const uint8_t *wasm, size_t len)
{
    static fixture_t f;
    setup(&f, wasm, len, false);
    agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
    CHECK(st == AGENT_ERR_ABI, "abi 3: %s", agent_status_text(st));
    agent_host_deinit(&f.host);
    static const uint8_t junk[] = { 0, 'a', 's', 'm', 1, 0, 0, 0, 0xff };
    setup(&f, junk, sizeof junk, false);
    st = agent_host_init(&f.host, &f.plat, &f.cfg);
    CHECK(st == AGENT_ERR_MODULE, "junk module: %s", agent_status_text(st));
    agent_host_deinit(&f.host);
}

/* The log dictionary's expansion (log_dictionary.h): the same lines as
 * host-sim/log-dictionary.ts prints (test/log-dictionary.test.ts). */
static void test_log_expand(void)
{
    static const agent_log_message_t msgs[] = {
        { 0x00000010u, "uplink: HTTP {}; retry {} in {} s{}" },
        { 0x00000020u, "no arguments" },
    };
    static const agent_log_dictionary_t dict = { msgs, 2 };
    /* i32 503, u32 7, i64 -30, string ", then reset" */
    static const uint8_t args[] = { 1, 0xf7, 0x01, 0, 0, 2, 7, 0, 0, 0, 3, 0xe2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    7, 12, 0, ',', ' ', 't', 'h', 'e', 'n', ' ', 'r', 'e', 's', 'e', 't' };
    static const struct { uint32_t id; size_t len; const char *want; } cases[] = {
        { 0x10u, sizeof args, "uplink: HTTP 503; retry 7 in -30 s, then reset" },
        { 0x10u, 10, "uplink: HTTP 503; retry 7 in {} s{}" },
        { 0x10u, 12, "uplink: HTTP 503; retry 7 in {} s{} <bad args>" },
        { 0x20u, 0, "no arguments" },
        { 0x30u, 0, "log #00000030" },
        { 0xdeadbeefu, sizeof args, "log #deadbeef [503, 7, -30, \", then reset\"]" },
        { 0xdeadbeefu, 3, "log #deadbeef <bad args>" },
    };
    char out[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = agent_log_expand(&dict, cases[i].id, args, cases[i].len, out, sizeof out);
        CHECK(n == strlen(cases[i].want) && strcmp(out, cases[i].want) == 0, "log expand %zu: got \"%s\"", i, out);
    }
    size_t n = agent_log_expand(&dict, 0x10u, args, sizeof args, out, 8);
    CHECK(n == strlen(cases[0].want) && strcmp(out, "uplink:") == 0, "log expand cut: got %zu \"%s\"", n, out);
    n = agent_log_expand(NULL, 0x20u, args, 0, out, sizeof out);
    CHECK(strcmp(out, "log #00000020") == 0, "log expand without a dictionary: got \"%s\"", out);
}

/* A module importing something no board provides is refused at load, with lazy
 * compilation too (which would otherwise trap only when a caller is first compiled). */
static void test_unresolved(const uint8_t *wasm, size_t len)
{
    static fixture_t f;
    for (int lazy = 0; lazy <= 1; lazy++) {
        setup(&f, wasm, len, false);
        f.cfg.lazy_compile = lazy != 0;
        f.sim.log_level = -1;
        agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
        CHECK(st == AGENT_ERR_MODULE && f.sim.error_lines >= 1,
              "unresolved import (%s compile): %s, %u error lines", lazy ? "lazy" : "eager",
              agent_status_text(st), f.sim.error_lines);
        agent_host_deinit(&f.host);
    }
}

/* The measuring run happens on a thread whose stack is painted: its deepest use
 * is the native stack the interpreter and glue need (no libcurl here). */
#define NATIVE_STACK (1024 * 1024)
static size_t native_peak;
typedef struct { const uint8_t *wasm; size_t len; double hours; uint32_t trap_every, stack_kib; bool lazy; int rc; } measure_args_t;
static int measure(const uint8_t *wasm, size_t len, double hours, uint32_t trap_every, uint32_t stack_kib, bool lazy);
static void *measure_thread(void *p)
{
    measure_args_t *a = (measure_args_t *)p;
    a->rc = measure(a->wasm, a->len, a->hours, a->trap_every, a->stack_kib, a->lazy);
    return NULL;
}

static int measure_on_painted_stack(measure_args_t *a)
{
    uint8_t *stack = (uint8_t *)mmap(NULL, NATIVE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return 2;
    memset(stack, 0x5A, NATIVE_STACK);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, NATIVE_STACK);
    if (pthread_create(&t, &attr, measure_thread, a) != 0) return 2;
    pthread_join(t, NULL);
    size_t untouched = 0;
    while (untouched < NATIVE_STACK && stack[untouched] == 0x5A) untouched++;
    native_peak = NATIVE_STACK - untouched;
    munmap(stack, NATIVE_STACK);
    return a->rc;
}

static int measure(const uint8_t *wasm, size_t len, double hours, uint32_t trap_every, uint32_t stack_kib, bool lazy)
{
    static fixture_t f;
    setup(&f, wasm, len, true);
    if (stack_kib > 0) f.cfg.wasm_stack_bytes = stack_kib * 1024;
    f.cfg.lazy_compile = lazy;
    f.cfg.run_until_ms = (int64_t)(hours * 3600000.0);
    if (trap_every > 0) {
        f.cfg.start_flags = AGENT_FLAG_FAULT_INJECTION;
        f.cfg.trap_every_steps = trap_every;
    }
    agent_status_t st = agent_host_init(&f.host, &f.plat, &f.cfg);
    size_t after_load = heap_meter_now();
    if (st == AGENT_OK) st = agent_host_run(&f.host);
    agent_host_stats_t s;
    agent_host_get_stats(&f.host, &s);
    printf("{\"status\":\"%s\",\"pointerBits\":%u,\"wasm3\":\"%s\",\"hours\":%g,\"uplinksRecorded\":%llu,"
           "\"uplinksAcked\":%llu,\"steps\":%llu,\"traps\":%llu,\"heapAfterStartBytes\":%zu,\"heapPeakBytes\":%zu,"
           "\"linearMemoryBytes\":%u,\"wasmStackBytes\":%u,\"wasmStackPeakBytes\":%u,\"importDepthPeakBytes\":%llu,"
           "\"lazyCompile\":%s}\n",
           agent_status_text(st), (unsigned)(sizeof(void *) * 8), M3_VERSION, hours,
           (unsigned long long)s.recorded, (unsigned long long)s.acked, (unsigned long long)s.steps,
           (unsigned long long)s.traps, after_load, heap_meter_peak(), s.memory_bytes,
           f.cfg.wasm_stack_bytes, s.wasm_stack_peak, (unsigned long long)s.import_depth_peak, lazy ? "true" : "false");
    agent_host_deinit(&f.host);
    return st == AGENT_OK ? 0 : 1;
}

static void print_native_peak(void)
{
    printf("{\"nativeStackPeakBytes\":%zu,\"tailCalls\":%s}\n", native_peak,
#if defined(TRACKAGENT_NO_TAIL_CALLS)
           "false"
#else
           "true"
#endif
    );
}

int main(int argc, char **argv)
{
    size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    if (argc >= 4 && strcmp(argv[1], "measure") == 0) {
        uint8_t *agent = read_all(argv[2], &n1);
        measure_args_t a = { agent, n1, atof(argv[3]), argc > 4 ? (uint32_t)atoi(argv[4]) : 0,
                             argc > 5 ? (uint32_t)atoi(argv[5]) : 0, argc > 6 && strcmp(argv[6], "lazy") == 0, 0 };
        int rc = measure_on_painted_stack(&a);
        print_native_peak();
        free(agent);
        return rc;
    }
    if (argc != 6 || strcmp(argv[1], "test") != 0) {
        fprintf(stderr, "usage: glue_test test AGENT.wasm PROBE.wasm PROBE_ABI2.wasm PROBE_UNRESOLVED.wasm\n"
                        "       glue_test measure AGENT.wasm HOURS [TRAP_EVERY [WASM_STACK_KIB [lazy]]]\n");
        return 2;
    }
    uint8_t *agent = read_all(argv[2], &n1);
    uint8_t *probe = read_all(argv[3], &n2);
    uint8_t *probe2 = read_all(argv[4], &n3);
    uint8_t *probe3 = read_all(argv[5], &n4);
    test_day(agent, n1);
    test_traps(agent, n1);
    test_refused(agent, n1);
    test_bounds(probe, n2);
    test_header_room();
    test_trap_at_start(probe, n2);
    test_abi(probe2, n3);
    test_log_expand();
    test_unresolved(probe3, n4);
    CHECK(heap_meter_now() == 0, "wasm3 heap after every deinit: %zu bytes", heap_meter_now());
    free(agent);
    free(probe);
    free(probe2);
    free(probe3);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
