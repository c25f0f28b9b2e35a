/*
 * board_main.c - the trackagent-linux program: flags, provisioning, one run of
 * the agent (boards/common) on the Linux platform, and a JSON summary.
 *
 * Exit status: 0 the run lasted its duration, whatever the cloud did;
 * 2 bad flags, unreadable module or track, broken store; 3 the module refused
 * to start (identity, board configuration or flash geometry: its log line says
 * which); 4 the module cannot run here (wasm3 refused it, wrong ABI version,
 * out of memory). One line on stderr says why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "agent_host.h"
#include "linux_board.h"
#include "wasm3.h"

#define EXIT_BAD_FLAGS 2
#define EXIT_START_REFUSED 3
#define EXIT_MODULE 4
#define STACK_PAINT 0x5A

static const char usage[] =
    "usage: trackagent-linux [flags]\n"
    "  --module PATH          agent module (default build/trackagent.wasm)\n"
    "  --environment URL --tenant ID --device ID --api-key KEY --reset-secret SECRET\n"
    "                         identity, written into an empty key-value store\n"
    "  --allow-host HOST      a host a reset may move the device to (repeatable)\n"
    "  --firmware VERSION     firmware version reported at connect\n"
    "  --dev                  development configuration (start flag DEV): http:// allowed\n"
    "  --hours H              duration, virtual hours unless --realtime (default 1)\n"
    "  --realtime             wall-clock time instead of virtual time\n"
    "  --flash FILE           keep the flash image in FILE and the key-value store in FILE.kv\n"
    "  --flash-sectors N      sectors of the uplink-log partition (default 64)\n"
    "  --sector-size N        bytes per sector (default 4096)\n"
    "  --json                 print a JSON summary on stdout at the end\n"
    "  --fault-injection      arm the module's debug_trap (start flag FAULT_INJECTION)\n"
    "  --trap-every N         call debug_trap after every Nth step (trap-recovery tests)\n"
    "  --power-cut-after N    die (exit 137) instead of the Nth flash program/erase: a power cut\n"
    "  --gnss-fixed LAT,LON   position of every fix (default 47.3769,8.5417)\n"
    "  --track FILE           replay lat,lon lines of a CSV file, one per fix\n"
    "  --no-gnss              the board has no GNSS receiver\n"
    "  --gnss-delay-ms N      time to a fix (default 2000)\n"
    "  --battery N            battery percent, -1 unknown (default 87)\n"
    "  --seed N               repeatable random numbers\n"
    "  --log-level N          0 error .. 3 debug (default 2)\n"
    "  --wasm-stack-kib N     wasm3 value stack (default 16)\n"
    "  --lazy-compile         compile each function at its first call, not all at load\n"
    "  --stack-kib N          run the agent on a thread with an N KiB native stack and\n"
    "                         report its peak use (nativeStackPeakBytes)\n"
    "  --cacert FILE          extra CA bundle for HTTPS\n"
    "  --http-wait-ms N       virtual time: longest real wait for one HTTP exchange (default 3000)\n";

typedef struct options {
    const char *module;
    const char *environment, *tenant, *device, *api_key, *reset_secret;
    const char *allow_hosts[32];
    int allow_host_count;
    const char *firmware;
    bool dev, realtime, json, fault_injection, no_gnss, seeded, lazy_compile;
    double hours;
    const char *flash_path;
    uint32_t flash_sectors, sector_size;
    uint32_t trap_every;
    uint32_t power_cut_after;
    double fixed_lat, fixed_lon;
    const char *track_path;
    uint32_t gnss_delay_ms;
    int32_t battery;
    uint64_t seed;
    int log_level;
    uint32_t wasm_stack_kib, stack_kib;
    const char *cacert;
    uint32_t http_wait_ms;
} options_t;

static int bad_flag(const char *fmt, const char *what)
{
    fprintf(stderr, "trackagent-linux: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, " (--help lists the flags)\n");
    return EXIT_BAD_FLAGS;
}

static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_latlon(const char *s, double *lat, double *lon)
{
    char *end;
    *lat = strtod(s, &end);
    if (end == s || *end != ',') return false;
    const char *rest = end + 1;
    *lon = strtod(rest, &end);
    if (end == rest) return false;
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    if (*end != '\0' && *end != ',') return false; /* more columns are allowed */
    return isfinite(*lat) && isfinite(*lon) && fabs(*lat) <= 90 && fabs(*lon) <= 180;
}

static int parse_flags(int argc, const char *const *argv, options_t *o)
{
    memset(o, 0, sizeof *o);
    o->module = "build/trackagent.wasm";
    o->hours = 1;
    o->flash_sectors = 64;
    o->sector_size = 4096;
    o->fixed_lat = 47.3769;
    o->fixed_lon = 8.5417;
    o->gnss_delay_ms = 2000;
    o->battery = 87;
    o->log_level = 2;
    o->wasm_stack_kib = 16;
    o->http_wait_ms = 3000;

    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_VALUE() do { if (v == NULL) return bad_flag("%s needs a value", f); i++; } while (0)
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(f, "--module") == 0) { NEEDS_VALUE(); o->module = v; }
        else if (strcmp(f, "--environment") == 0) { NEEDS_VALUE(); o->environment = v; }
        else if (strcmp(f, "--tenant") == 0) { NEEDS_VALUE(); o->tenant = v; }
        else if (strcmp(f, "--device") == 0) { NEEDS_VALUE(); o->device = v; }
        else if (strcmp(f, "--api-key") == 0) { NEEDS_VALUE(); o->api_key = v; }
        else if (strcmp(f, "--reset-secret") == 0) { NEEDS_VALUE(); o->reset_secret = v; }
        else if (strcmp(f, "--allow-host") == 0) {
            NEEDS_VALUE();
            if (o->allow_host_count >= 32) return bad_flag("%s: at most 32", f);
            if (v[0] == '\0' || strpbrk(v, "\n\r=") != NULL) return bad_flag("%s: not a host name", f);
            o->allow_hosts[o->allow_host_count++] = v;
        } else if (strcmp(f, "--firmware") == 0) {
            NEEDS_VALUE();
            if (strpbrk(v, "\n\r") != NULL) return bad_flag("%s: one line", f);
            o->firmware = v;
        }
        else if (strcmp(f, "--dev") == 0) o->dev = true;
        else if (strcmp(f, "--hours") == 0) {
            NEEDS_VALUE();
            char *end;
            o->hours = strtod(v, &end);
            if (end == v || *end != '\0' || !(o->hours > 0) || o->hours > 24 * 366 * 10)
                return bad_flag("%s: a positive number of hours", f);
        }
        else if (strcmp(f, "--realtime") == 0) o->realtime = true;
        else if (strcmp(f, "--flash") == 0) { NEEDS_VALUE(); o->flash_path = v; }
        else if (strcmp(f, "--flash-sectors") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 1, 1u << 16, &o->flash_sectors)) return bad_flag("%s: 1-65536", f);
        } else if (strcmp(f, "--sector-size") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 16, 1u << 20, &o->sector_size) || o->sector_size % 4 != 0)
                return bad_flag("%s: 16-1048576, a multiple of 4", f);
        }
        else if (strcmp(f, "--json") == 0) o->json = true;
        else if (strcmp(f, "--fault-injection") == 0) o->fault_injection = true;
        else if (strcmp(f, "--power-cut-after") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 1, 1u << 30, &o->power_cut_after)) return bad_flag("%s: a positive number of flash operations", f);
        } else if (strcmp(f, "--trap-every") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 1, 1u << 30, &o->trap_every)) return bad_flag("%s: a positive number of steps", f);
        } else if (strcmp(f, "--gnss-fixed") == 0) {
            NEEDS_VALUE();
            if (!parse_latlon(v, &o->fixed_lat, &o->fixed_lon)) return bad_flag("%s: LAT,LON in degrees", f);
        }
        else if (strcmp(f, "--track") == 0) { NEEDS_VALUE(); o->track_path = v; }
        else if (strcmp(f, "--no-gnss") == 0) o->no_gnss = true;
        else if (strcmp(f, "--gnss-delay-ms") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 0, 3600000, &o->gnss_delay_ms)) return bad_flag("%s: 0-3600000", f);
        } else if (strcmp(f, "--battery") == 0) {
            NEEDS_VALUE();
            uint32_t b;
            if (strcmp(v, "-1") == 0) o->battery = -1;
            else if (parse_u32(v, 0, 100, &b)) o->battery = (int32_t)b;
            else return bad_flag("%s: 0-100 or -1", f);
        } else if (strcmp(f, "--seed") == 0) {
            NEEDS_VALUE();
            char *end;
            o->seed = strtoull(v, &end, 10);
            if (end == v || *end != '\0') return bad_flag("%s: a number", f);
            o->seeded = true;
        } else if (strcmp(f, "--log-level") == 0) {
            NEEDS_VALUE();
            uint32_t l;
            if (!parse_u32(v, 0, 3, &l)) return bad_flag("%s: 0-3", f);
            o->log_level = (int)l;
        } else if (strcmp(f, "--wasm-stack-kib") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 4, 16384, &o->wasm_stack_kib)) return bad_flag("%s: 4-16384", f);
        } else if (strcmp(f, "--stack-kib") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 16, 65536, &o->stack_kib)) return bad_flag("%s: 16-65536", f);
        }
        else if (strcmp(f, "--lazy-compile") == 0) o->lazy_compile = true;
        else if (strcmp(f, "--cacert") == 0) { NEEDS_VALUE(); o->cacert = v; }
        else if (strcmp(f, "--http-wait-ms") == 0) {
            NEEDS_VALUE();
            if (!parse_u32(v, 1, 600000, &o->http_wait_ms)) return bad_flag("%s: 1-600000", f);
        }
        else return bad_flag("unknown flag %s", f);
#undef NEEDS_VALUE
    }
    if (o->trap_every > 0 && !o->fault_injection)
        fprintf(stderr, "trackagent-linux: notice: --trap-every without --fault-injection: debug_trap is disarmed and does nothing\n");
    return 0;
}

static uint8_t *read_file(const char *path, size_t *len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 64 * 1024, n = 0;
    uint8_t *buf = (uint8_t *)malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        uint8_t *grown = (uint8_t *)realloc(buf, cap * 2);
        if (grown == NULL) { free(buf); buf = NULL; break; }
        buf = grown;
        cap *= 2;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (buf == NULL || bad) {
        free(buf);
        snprintf(err, err_len, "cannot read %s", path);
        return NULL;
    }
    *len = n;
    return buf;
}

/* A CSV of lat,lon lines; '#' comments, blank lines and one header line allowed. */
static int load_track(linux_board_t *b, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "trackagent-linux: cannot read track %s: %s\n", path, strerror(errno));
        return EXIT_BAD_FLAGS;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0, data_lines = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0' || *s == '#') continue;
        double lat, lon;
        if (!parse_latlon(s, &lat, &lon)) {
            if (data_lines == 0 && lineno == 1) continue; /* a header */
            fprintf(stderr, "trackagent-linux: track %s line %u: expected lat,lon in degrees\n", path, lineno);
            rc = EXIT_BAD_FLAGS;
            break;
        }
        track_point_t *grown = (track_point_t *)realloc(b->track, (b->track_len + 1) * sizeof *grown);
        if (grown == NULL) { rc = EXIT_BAD_FLAGS; break; }
        b->track = grown;
        b->track[b->track_len].lat = lat;
        b->track[b->track_len].lon = lon;
        b->track_len++;
        data_lines++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && b->track_len == 0) {
        fprintf(stderr, "trackagent-linux: track %s has no lat,lon line\n", path);
        rc = EXIT_BAD_FLAGS;
    }
    return rc;
}

/* Writes the identity flags into an empty store; an identity already stored wins. */
static int provision(linux_board_t *b, const options_t *o)
{
    static const char *const keys[5] = { "tenantId", "deviceId", "environment", "apiKey", "resetSecret" };
    static const char *const flags[5] = { "--tenant", "--device", "--environment", "--api-key", "--reset-secret" };
    const char *values[5] = { o->tenant, o->device, o->environment, o->api_key, o->reset_secret };
    bool stored = false, given = false;
    for (int i = 0; i < 5; i++) {
        stored = stored || store_kv_has(b, keys[i]);
        given = given || values[i] != NULL;
    }
    if (stored) {
        if (given) {
            char dev[65] = "?";
            size_t len = 0;
            if (store_kv_get(b, "deviceId", (uint8_t *)dev, sizeof dev - 1, &len) == PLAT_OK)
                dev[len < sizeof dev - 1 ? len : sizeof dev - 1] = '\0';
            fprintf(stderr, "trackagent-linux: notice: the store already holds an identity (device %s); identity flags ignored\n", dev);
        }
        return 0;
    }
    for (int i = 0; i < 5; i++)
        if (values[i] == NULL)
            return bad_flag("the key-value store holds no identity: %s is required", flags[i]);
    for (int i = 0; i < 5; i++) {
        if (store_kv_set(b, keys[i], (const uint8_t *)values[i], strlen(values[i])) != PLAT_OK) {
            fprintf(stderr, "trackagent-linux: cannot write %s into the key-value store: broken store\n", keys[i]);
            return EXIT_BAD_FLAGS;
        }
    }
    return 0;
}

/* ---- the run, optionally on a thread with a measured stack ------------------ */

typedef struct run {
    agent_host_t host;
    const platform_t *plat;
    agent_host_config_t cfg;
    agent_status_t init_status, run_status;
    char summary[AGENT_HOST_SUMMARY_MAX]; /* agent_host_summary_json at the end of the run */
    agent_host_stats_t stats;
} run_t;

static void run_agent(run_t *r)
{
    r->init_status = agent_host_init(&r->host, r->plat, &r->cfg);
    r->run_status = AGENT_OK;
    if (r->init_status == AGENT_OK) r->run_status = agent_host_run(&r->host);
    /* Taken here, on the thread that ran the agent (the summary calls into the module). */
    if (agent_host_summary_json(&r->host, r->summary, sizeof r->summary, NULL) != AGENT_OK) r->summary[0] = '\0';
    agent_host_get_stats(&r->host, &r->stats);
}

static void *run_thread(void *arg)
{
    run_agent((run_t *)arg);
    return NULL;
}

/* Runs on a thread whose stack is an mmap'd region painted with STACK_PAINT, with
 * a guard page below: the deepest use is read back afterwards; an overflow is a
 * SIGSEGV, never silent. */
static int run_on_measured_stack(run_t *r, size_t stack_bytes, size_t *peak)
{
    size_t page = 4096;
    size_t total = stack_bytes + page;
    uint8_t *mem = (uint8_t *)mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return -1;
    mprotect(mem, page, PROT_NONE);
    uint8_t *stack = mem + page;
    memset(stack, STACK_PAINT, stack_bytes);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, stack_bytes);
    int rc = pthread_create(&t, &attr, run_thread, r);
    pthread_attr_destroy(&attr);
    if (rc == 0) pthread_join(t, NULL);
    size_t untouched = 0;
    while (untouched < stack_bytes && stack[untouched] == STACK_PAINT) untouched++;
    *peak = stack_bytes - untouched;
    munmap(mem, total);
    return rc;
}

static void print_json(const options_t *o, const run_t *r, const linux_board_t *b, int exit_code,
                       size_t native_peak, size_t heap_end, const char *error)
{
    const agent_host_stats_t *s = &r->stats;
    /* The fields every board shares (boards/common), then this board's own. */
    printf("{%s,", r->summary);
    printf("\"elapsedMs\":%lld,\"realtime\":%s,\"exitCode\":%d,",
           (long long)board_now_ms((void *)b), o->realtime ? "true" : "false", exit_code);
    printf("\"error\":");
    if (error == NULL) printf("null,");
    else {
        putchar('"');
        for (const char *c = error; *c; c++) {
            if (*c == '"' || *c == '\\') printf("\\%c", *c);
            else if ((unsigned char)*c < 0x20) printf("\\u%04x", *c);
            else putchar(*c);
        }
        printf("\",");
    }
    printf("\"wasm3\":{\"version\":\"%s\",\"linearMemoryBytes\":%u,\"wasmStackBytes\":%u,"
           "\"wasmStackPeakBytes\":%u,\"importDepthPeakBytes\":%llu,\"nativeStackBytes\":%llu,"
           "\"nativeStackPeakBytes\":%llu,\"heapPeakBytes\":%zu,\"heapEndBytes\":%zu,\"moduleBytes\":%zu}}\n",
           M3_VERSION, s->memory_bytes, r->cfg.wasm_stack_bytes, s->wasm_stack_peak,
           (unsigned long long)s->import_depth_peak, (unsigned long long)o->stack_kib * 1024,
           (unsigned long long)native_peak, heap_meter_peak(), heap_end, r->cfg.wasm_len);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    options_t o;
    int rc = parse_flags(argc, (const char *const *)argv, &o);
    if (rc != 0) return rc;

    static linux_board_t board; /* large and long-lived; zeroed */
    linux_board_t *b = &board;
    b->realtime = o.realtime;
    b->log_level = o.log_level;
    b->seeded = o.seeded;
    b->seed_state = o.seed;
    b->geom.sector_size = o.sector_size;
    b->geom.sector_count = o.flash_sectors;
    b->geom.program_unit = 4;
    b->allow_http = o.dev;
    b->cacert = o.cacert;
    b->http_wait_cap_ms = o.http_wait_ms;
    b->gnss_none = o.no_gnss;
    b->gnss_delay_ms = o.gnss_delay_ms;
    b->fixed_lat = o.fixed_lat;
    b->fixed_lon = o.fixed_lon;
    b->battery = o.battery;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    b->mono_start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    clock_gettime(CLOCK_REALTIME, &ts);
    b->utc_start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    char err[512] = "";
    size_t wasm_len = 0;
    uint8_t *wasm = read_file(o.module, &wasm_len, err, sizeof err);
    if (wasm == NULL) {
        fprintf(stderr, "trackagent-linux: %s (build it with npm run build, or pass --module)\n", err);
        return EXIT_BAD_FLAGS;
    }
    if (o.track_path != NULL && (rc = load_track(b, o.track_path)) != 0) {
        free(wasm);
        return rc;
    }
    b->cut_after_ops = o.power_cut_after;
    if (store_open(b, o.flash_path, err, sizeof err) != PLAT_OK) {
        fprintf(stderr, "trackagent-linux: %s\n", err);
        store_close(b);
        free(b->track);
        free(wasm);
        return EXIT_BAD_FLAGS;
    }
    if (b->kv_damaged > 0)
        fprintf(stderr, "trackagent-linux: warning: %s: %u damaged entr%s read as missing (%s); the others are intact\n",
                b->kv_path, b->kv_damaged, b->kv_damaged == 1 ? "y" : "ies", b->kv_damaged_keys);
    rc = provision(b, &o);
    if (rc == 0 && http_init(b) != PLAT_OK) {
        fprintf(stderr, "trackagent-linux: cannot initialise libcurl\n");
        rc = EXIT_BAD_FLAGS;
    }
    if (rc != 0) {
        http_close(b);
        store_close(b);
        free(b->track);
        free(wasm);
        return rc;
    }

    /* The board configuration (ABI.md): allow-list and firmware version. */
    char config[32 * 300 + 64];
    size_t clen = 0;
    for (int i = 0; i < o.allow_host_count; i++)
        clen += (size_t)snprintf(config + clen, sizeof config - clen, "allow_host=%s\n", o.allow_hosts[i]);
    if (o.firmware != NULL)
        clen += (size_t)snprintf(config + clen, sizeof config - clen, "firmware=%s\n", o.firmware);
    if (clen >= sizeof config) clen = sizeof config - 1;

    platform_t plat;
    board_platform(b, &plat);
    static run_t run; /* holds the host: keep it off the measured stack */
    agent_host_config_t defaults = AGENT_HOST_CONFIG_DEFAULT;
    run.plat = &plat;
    run.cfg = defaults;
    run.cfg.wasm = wasm;
    run.cfg.wasm_len = wasm_len;
    run.cfg.board_config = config;
    run.cfg.board_config_len = clen;
    run.cfg.start_flags = (o.dev ? AGENT_FLAG_DEV : 0) | (o.fault_injection ? AGENT_FLAG_FAULT_INJECTION : 0);
    run.cfg.wasm_stack_bytes = o.wasm_stack_kib * 1024;
    run.cfg.run_until_ms = (int64_t)llround(o.hours * 3600000.0);
    run.cfg.trap_every_steps = o.trap_every;
    run.cfg.lazy_compile = o.lazy_compile;
    run.cfg.log_dictionary = &agent_log_dictionary;

    size_t native_peak = 0;
    if (o.stack_kib > 0) {
        if (run_on_measured_stack(&run, (size_t)o.stack_kib * 1024, &native_peak) != 0) {
            fprintf(stderr, "trackagent-linux: cannot start the agent thread\n");
            rc = EXIT_BAD_FLAGS;
        }
    } else {
        run_agent(&run);
    }

    const char *error = NULL;
    char why[256];
    if (rc == 0) {
        agent_status_t st = run.init_status != AGENT_OK ? run.init_status : run.run_status;
        if (st == AGENT_ERR_START) {
            snprintf(why, sizeof why, "the module refused to start (status %d): see its log line above",
                     (int)run.host.start_status);
            rc = EXIT_START_REFUSED;
        } else if (st != AGENT_OK) {
            snprintf(why, sizeof why, "the module cannot run: %s%s%s", agent_status_text(st),
                     run.host.last_error ? ": " : "", run.host.last_error ? run.host.last_error : "");
            rc = st == AGENT_ERR_ARG ? EXIT_BAD_FLAGS : EXIT_MODULE;
        }
        if (rc != 0) {
            fprintf(stderr, "trackagent-linux: %s\n", why);
            error = why;
        }
        if (o.json) print_json(&o, &run, b, rc, native_peak, heap_meter_now(), error);
    }

    agent_host_deinit(&run.host);
    http_close(b);
    store_close(b);
    free(b->track);
    free(wasm);
    return rc;
}
