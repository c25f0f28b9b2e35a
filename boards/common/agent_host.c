/* agent_host.c - see agent_host.h; manual in boards/common/README.md. */
#include "agent_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_answer.h"
#include "log_dictionary.h"
#include "w3_api.h"

/* The exports the glue calls; debug_trap is optional (a production build of the
 * module may lack it). */
enum {
    FN_ABI_VERSION, FN_RX_BUFFER, FN_RX_CAPACITY, FN_AGENT_START, FN_AGENT_STEP,
    FN_ON_HTTP_RESPONSE, FN_ON_GNSS_FIX, FN_AGENT_STAT, FN_DEBUG_TRAP, FN_COUNT
};
static const char *const fn_names[FN_COUNT] = {
    "abi_version", "rx_buffer", "rx_capacity", "agent_start", "agent_step",
    "on_http_response", "on_gnss_fix", "agent_stat", "debug_trap"
};

#define KEY_MAX AGENT_KV_KEY_MAX /* bytes of a key-value key (ABI.md) */
#define SUMMARY_STATS (AGENT_STAT_REQUESTS + 1) /* agent_stat ids 0.. that the summary reads */
#define LOG_LINE_MAX 240    /* bytes of one module log line kept */
#define RX_CAP_MAX (1u << 20)

/* ---- small helpers ------------------------------------------------------------ */

#if defined(__GNUC__)
static void glue_log(agent_host_t *h, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif

/* The glue's own log lines: short, and never a key, header or URL. */
static void glue_log(agent_host_t *h, int level, const char *fmt, ...)
{
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    h->plat->log(h->plat->ctx, level, line, len);
}

static IM3Runtime rt_of(agent_host_t *h) { return (IM3Runtime)h->runtime; }
static IM3Function fn_of(agent_host_t *h, int which) { return (IM3Function)h->fn[which]; }

static uint64_t cell_i32(int32_t v) { return (uint64_t)(uint32_t)v; }
static uint64_t cell_i64(int64_t v) { return (uint64_t)v; }
static uint64_t cell_f64(double v) { uint64_t u; memcpy(&u, &v, sizeof u); return u; }

/*
 * The one bounds check: [ptr, ptr + len) inside linear memory. Memory can grow
 * during any call into the module, so the size is read again every time.
 */
static uint8_t *mem_range(IM3Runtime rt, uint32_t ptr, int32_t len)
{
    uint32_t size = 0;
    uint8_t *base = m3_GetMemory(rt, &size, 0);
    if (base == NULL || len < 0) return NULL;
    if ((uint64_t)ptr + (uint64_t)(uint32_t)len > (uint64_t)size) return NULL;
    return base + ptr;
}

static void note_depth(agent_host_t *h)
{
    volatile char here = 0;
    uintptr_t at = (uintptr_t)&here;
    if (h->stack_base > at && h->stack_base - at > h->stats.import_depth_peak)
        h->stats.import_depth_peak = h->stack_base - at;
}

static agent_host_t *refuse_pointer(agent_host_t *h, const char *import)
{
    h->stats.bad_pointers++;
    glue_log(h, PLAT_LOG_WARN, "host.%s: pointer outside linear memory refused", import);
    return h;
}

/* A key as the module passed it, checked and NUL-terminated. */
static bool copy_key(const uint8_t *p, int32_t len, char out[KEY_MAX + 1])
{
    if (len < 1 || len > KEY_MAX) return false;
    for (int32_t i = 0; i < len; i++) {
        char c = (char)p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return false;
        out[i] = c;
    }
    out[len] = '\0';
    return true;
}

/* ---- the imports (module "host", ABI.md) -------------------------------------- */

W3_HOST_FUNCTION(imp_log)
{
    W3_NO_RESULT;
    W3_ARG_I32(level);
    W3_ARG_U32(id);
    W3_ARG_U32(ptr);
    W3_ARG_I32(len);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    note_depth(h);
    const uint8_t *args = mem_range(runtime, ptr, len);
    if (args == NULL) { refuse_pointer(h, "log"); W3_RETURN_VOID; }
    /* The line from the dictionary (log_dictionary.h), then printable: a control
     * character would forge a new log line. */
    char line[LOG_LINE_MAX + 4];
    size_t whole = agent_log_expand(h->cfg.log_dictionary, id, args, (size_t)len, line, LOG_LINE_MAX + 1);
    size_t n = whole < LOG_LINE_MAX ? whole : LOG_LINE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f) line[i] = ' ';
    }
    if (whole > n) { memcpy(line + n, "...", 3); n += 3; }
    if (level < PLAT_LOG_ERROR) level = PLAT_LOG_ERROR;
    if (level > PLAT_LOG_DEBUG) level = PLAT_LOG_DEBUG;
    h->plat->log(h->plat->ctx, level, line, n);
    W3_RETURN_VOID;
}

W3_HOST_FUNCTION(imp_random)
{
    W3_RESULT_SLOT;
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    W3_RETURN_I32((int32_t)h->plat->random_u32(h->plat->ctx));
}

W3_HOST_FUNCTION(imp_kv_get)
{
    W3_RESULT_SLOT;
    W3_ARG_U32(key_ptr);
    W3_ARG_I32(key_len);
    W3_ARG_U32(buf_ptr);
    W3_ARG_I32(buf_cap);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    note_depth(h);
    const uint8_t *kp = mem_range(runtime, key_ptr, key_len);
    uint8_t *buf = mem_range(runtime, buf_ptr, buf_cap);
    if (kp == NULL || buf == NULL) { refuse_pointer(h, "kv_get"); W3_RETURN_I32(AGENT_IMPORT_BAD_POINTER); }
    char key[KEY_MAX + 1];
    if (!copy_key(kp, key_len, key)) W3_RETURN_I32(AGENT_IMPORT_BAD_KEY);
    size_t full = 0;
    plat_status_t st = h->plat->kv_get(h->plat->ctx, key, buf, (size_t)buf_cap, &full);
    if (st == PLAT_NOT_FOUND) W3_RETURN_I32(AGENT_IMPORT_NOT_FOUND);
    if (st != PLAT_OK) W3_RETURN_I32(AGENT_IMPORT_IO);
    W3_RETURN_I32(full > 0x7fffffff ? 0x7fffffff : (int32_t)full);
}

W3_HOST_FUNCTION(imp_kv_set)
{
    W3_RESULT_SLOT;
    W3_ARG_U32(key_ptr);
    W3_ARG_I32(key_len);
    W3_ARG_U32(val_ptr);
    W3_ARG_I32(val_len);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    note_depth(h);
    const uint8_t *kp = mem_range(runtime, key_ptr, key_len);
    const uint8_t *val = mem_range(runtime, val_ptr, val_len);
    if (kp == NULL || val == NULL) { refuse_pointer(h, "kv_set"); W3_RETURN_I32(AGENT_IMPORT_BAD_POINTER); }
    char key[KEY_MAX + 1];
    if (!copy_key(kp, key_len, key)) W3_RETURN_I32(AGENT_IMPORT_BAD_KEY);
    plat_status_t st = h->plat->kv_set(h->plat->ctx, key, val, (size_t)val_len);
    W3_RETURN_I32(st == PLAT_OK ? AGENT_IMPORT_OK : AGENT_IMPORT_IO);
}

/* AGENT_IMPORT_OK when addr..addr+len is inside the partition and aligned to
 * `unit`; else why not (outside first, as the Node host checks). */
static int32_t flash_range_check(const plat_flash_geometry_t *g, uint32_t addr, int32_t len, uint32_t unit)
{
    uint64_t size = (uint64_t)g->sector_size * g->sector_count;
    if (len < 0 || (uint64_t)addr + (uint64_t)(uint32_t)len > size) return AGENT_IMPORT_OUT_OF_RANGE;
    if (unit > 1 && (addr % unit != 0 || (uint32_t)len % unit != 0)) return AGENT_IMPORT_MISALIGNED;
    return AGENT_IMPORT_OK;
}

W3_HOST_FUNCTION(imp_flash_read)
{
    W3_RESULT_SLOT;
    W3_ARG_U32(addr);
    W3_ARG_U32(ptr);
    W3_ARG_I32(len);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    note_depth(h);
    uint8_t *buf = mem_range(runtime, ptr, len);
    if (buf == NULL) { refuse_pointer(h, "flash_read"); W3_RETURN_I32(AGENT_IMPORT_BAD_POINTER); }
    int32_t rc = flash_range_check(&h->plat->flash, addr, len, 1);
    if (rc != AGENT_IMPORT_OK) W3_RETURN_I32(rc);
    if (len == 0) W3_RETURN_I32(AGENT_IMPORT_OK);
    plat_status_t st = h->plat->flash_read(h->plat->ctx, addr, buf, (size_t)len);
    W3_RETURN_I32(st == PLAT_OK ? AGENT_IMPORT_OK : AGENT_IMPORT_IO);
}

W3_HOST_FUNCTION(imp_flash_program)
{
    W3_RESULT_SLOT;
    W3_ARG_U32(addr);
    W3_ARG_U32(ptr);
    W3_ARG_I32(len);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    note_depth(h);
    const uint8_t *data = mem_range(runtime, ptr, len);
    if (data == NULL) { refuse_pointer(h, "flash_program"); W3_RETURN_I32(AGENT_IMPORT_BAD_POINTER); }
    int32_t rc = flash_range_check(&h->plat->flash, addr, len, h->plat->flash.program_unit);
    if (rc != AGENT_IMPORT_OK) W3_RETURN_I32(rc);
    if (len == 0) W3_RETURN_I32(AGENT_IMPORT_OK);
    plat_status_t st = h->plat->flash_program(h->plat->ctx, addr, data, (size_t)len);
    W3_RETURN_I32(st == PLAT_OK ? AGENT_IMPORT_OK : AGENT_IMPORT_IO);
}

W3_HOST_FUNCTION(imp_flash_erase)
{
    W3_RESULT_SLOT;
    W3_ARG_U32(sector);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    if (sector >= h->plat->flash.sector_count) W3_RETURN_I32(AGENT_IMPORT_OUT_OF_RANGE);
    plat_status_t st = h->plat->flash_erase(h->plat->ctx, sector);
    W3_RETURN_I32(st == PLAT_OK ? AGENT_IMPORT_OK : AGENT_IMPORT_IO);
}

W3_HOST_FUNCTION(imp_http_request)
{
    W3_RESULT_SLOT;
    W3_ARG_I32(req_id);
    W3_ARG_I32(method);
    W3_ARG_U32(url_ptr);
    W3_ARG_I32(url_len);
    W3_ARG_U32(hdr_ptr);
    W3_ARG_I32(hdr_len);
    W3_ARG_U32(body_ptr);
    W3_ARG_I32(body_len);
    W3_ARG_I32(timeout_ms);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    note_depth(h);
    const uint8_t *url = mem_range(runtime, url_ptr, url_len);
    const uint8_t *hdr = mem_range(runtime, hdr_ptr, hdr_len);
    const uint8_t *body = mem_range(runtime, body_ptr, body_len);
    if (url == NULL || hdr == NULL || body == NULL) { refuse_pointer(h, "http_request"); W3_RETURN_I32(AGENT_IMPORT_BAD_POINTER); }
    if ((method != PLAT_HTTP_GET && method != PLAT_HTTP_POST) || url_len == 0 || timeout_ms < 0)
        W3_RETURN_I32(AGENT_IMPORT_INVALID);
    /* At most one exchange: a second is refused and the one in flight goes on
     * (ABI.md, as the Node host does). */
    if (h->http_outstanding) W3_RETURN_I32(AGENT_IMPORT_BUSY);
    if (h->answer.buf == NULL) W3_RETURN_I32(AGENT_IMPORT_IO);
    plat_http_request_t req = {
        req_id, method,
        (const char *)url, (size_t)url_len,
        (const char *)hdr, (size_t)hdr_len,
        body, (size_t)body_len,
        (uint32_t)timeout_ms
    };
    http_answer_reset(&h->answer, req_id);
    plat_status_t st = h->plat->http_start(h->plat->ctx, &req, &h->answer);
    if (st != PLAT_OK) W3_RETURN_I32(AGENT_IMPORT_IO);
    h->http_outstanding = true;
    W3_RETURN_I32(AGENT_IMPORT_OK);
}

W3_HOST_FUNCTION(imp_gnss_start)
{
    W3_RESULT_SLOT;
    W3_ARG_I32(req_id);
    W3_ARG_I32(timeout_ms);
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    if (timeout_ms < 0) W3_RETURN_I32(AGENT_IMPORT_INVALID);
    if (h->gnss_outstanding) {
        h->plat->gnss_cancel(h->plat->ctx);
        h->gnss_outstanding = false;
    }
    plat_status_t st = h->plat->gnss_start(h->plat->ctx, req_id, (uint32_t)timeout_ms);
    if (st != PLAT_OK) W3_RETURN_I32(AGENT_IMPORT_IO);
    h->gnss_outstanding = true;
    W3_RETURN_I32(AGENT_IMPORT_OK);
}

W3_HOST_FUNCTION(imp_battery_percent)
{
    W3_RESULT_SLOT;
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    int32_t v = h->plat->battery_percent(h->plat->ctx);
    W3_RETURN_I32(v >= 0 && v <= 100 ? v : -1);
}

W3_HOST_FUNCTION(imp_motion)
{
    W3_RESULT_SLOT;
    agent_host_t *h = (agent_host_t *)W3_HOST_USERDATA;
    int32_t v = h->plat->motion(h->plat->ctx);
    W3_RETURN_I32(v == 0 || v == 1 ? v : -1);
}

typedef struct {
    const char  *name;
    const char  *signature;
    w3_host_fn_t fn;
} import_t;

/* Signatures in wasm3's notation: result(args); i = i32, I = i64, F = f64. */
static const import_t imports[] = {
    { "log",             "v(iiii)",      imp_log },
    { "random",          "i()",          imp_random },
    { "kv_get",          "i(iiii)",      imp_kv_get },
    { "kv_set",          "i(iiii)",      imp_kv_set },
    { "flash_read",      "i(iii)",       imp_flash_read },
    { "flash_program",   "i(iii)",       imp_flash_program },
    { "flash_erase",     "i(i)",         imp_flash_erase },
    { "http_request",    "i(iiiiiiiii)", imp_http_request },
    { "gnss_start",      "i(ii)",        imp_gnss_start },
    { "battery_percent", "i()",          imp_battery_percent },
    { "motion",          "i()",          imp_motion },
};

/* ---- instances ---------------------------------------------------------------- */

const char *agent_status_text(agent_status_t status)
{
    switch (status) {
    case AGENT_OK:            return "ok";
    case AGENT_ERR_NO_MEMORY: return "out of memory";
    case AGENT_ERR_MODULE:    return "module unusable";
    case AGENT_ERR_ABI:       return "module ABI version mismatch";
    case AGENT_ERR_START:     return "agent_start refused";
    case AGENT_ERR_ARG:       return "bad configuration";
    }
    return "unknown";
}

static void fold_counters(agent_host_t *h)
{
    h->stats.recorded += h->inst_recorded;
    h->stats.acked += h->inst_acked;
    h->stats.requests += h->inst_requests;
    h->inst_recorded = h->inst_acked = h->inst_requests = 0;
}

/* Ends the instance: outstanding I/O is forgotten (a new instance numbers its
 * requests from 1 again, so a late answer could pass for one of its own). */
static void drop_instance(agent_host_t *h)
{
    if (h->http_outstanding) h->plat->http_cancel(h->plat->ctx);
    if (h->gnss_outstanding) h->plat->gnss_cancel(h->plat->ctx);
    h->http_outstanding = h->gnss_outstanding = false;
    if (h->runtime != NULL) {
        uint32_t peak = w3_stack_peak(rt_of(h), h->cfg.wasm_stack_bytes);
        if (peak > h->stats.wasm_stack_peak) h->stats.wasm_stack_peak = peak;
        m3_FreeRuntime(rt_of(h)); /* frees the loaded module with it */
    }
    h->runtime = NULL;
    memset(h->fn, 0, sizeof h->fn);
    h->live = false;
    fold_counters(h);
}

static agent_status_t fail(agent_host_t *h, agent_status_t st, const char *what, M3Result r)
{
    h->last_error = r;
    if (r != NULL) glue_log(h, PLAT_LOG_ERROR, "wasm3: %s: %s", what, r);
    else glue_log(h, PLAT_LOG_ERROR, "wasm3: %s", what);
    return st;
}

static bool is_oom(M3Result r)
{
    return r == m3Err_mallocFailed || r == m3Err_mallocFailedCodePage;
}

/* Parses, loads and links a fresh copy of the module and finds its exports. */
static agent_status_t instantiate(agent_host_t *h)
{
    M3Result r;
    IM3Runtime rt = m3_NewRuntime((IM3Environment)h->env, h->cfg.wasm_stack_bytes, NULL);
    if (rt == NULL) return fail(h, AGENT_ERR_NO_MEMORY, "cannot allocate a runtime", NULL);
    h->runtime = rt;
    w3_stack_paint(rt, h->cfg.wasm_stack_bytes);

    IM3Module mod = NULL;
    r = m3_ParseModule((IM3Environment)h->env, &mod, h->cfg.wasm, (uint32_t)h->cfg.wasm_len);
    if (r != m3Err_none) return fail(h, is_oom(r) ? AGENT_ERR_NO_MEMORY : AGENT_ERR_MODULE, "parse", r);
    r = w3_load(rt, mod);
    if (r != m3Err_none) return fail(h, is_oom(r) ? AGENT_ERR_NO_MEMORY : AGENT_ERR_MODULE, "load", r);
    for (size_t i = 0; i < sizeof imports / sizeof imports[0]; i++) {
        r = w3_link(mod, "host", imports[i].name, imports[i].signature, imports[i].fn, h);
        /* An import the module does not use (the flash ones, before the flash log
         * lands) is not an error. */
        if (r != m3Err_none && r != m3Err_functionLookupFailed) {
            glue_log(h, PLAT_LOG_ERROR, "wasm3: link host.%s %s: %s", imports[i].name, imports[i].signature, r);
            return fail(h, is_oom(r) ? AGENT_ERR_NO_MEMORY : AGENT_ERR_MODULE, "link", r);
        }
    }
    /* Every import must resolve now: with lazy compilation a missing one would
     * surface only when a function calling it is first compiled, hours later. */
    char missing[80];
    if (w3_unresolved_import(mod, missing, sizeof missing)) {
        glue_log(h, PLAT_LOG_ERROR, "module imports %s, which this board does not provide: refused", missing);
        return fail(h, AGENT_ERR_MODULE, "unresolved import", m3Err_functionImportMissing);
    }
    r = h->cfg.lazy_compile ? m3Err_none : m3_CompileModule(mod);
    if (r != m3Err_none) return fail(h, is_oom(r) ? AGENT_ERR_NO_MEMORY : AGENT_ERR_MODULE, "compile", r);
    r = m3_RunStart(mod);
    if (r != m3Err_none) return fail(h, AGENT_ERR_MODULE, "start function", r);
    for (int i = 0; i < FN_COUNT; i++) {
        IM3Function f = NULL;
        r = m3_FindFunction(&f, rt, fn_names[i]);
        if (r != m3Err_none) {
            if (i == FN_DEBUG_TRAP) { h->fn[i] = NULL; continue; }
            glue_log(h, PLAT_LOG_ERROR, "wasm3: export %s: %s", fn_names[i], r);
            return fail(h, is_oom(r) ? AGENT_ERR_NO_MEMORY : AGENT_ERR_MODULE, "exports", r);
        }
        h->fn[i] = f;
    }

    uint64_t v = 0;
    r = w3_call(fn_of(h, FN_ABI_VERSION), 0, NULL, &v);
    if (r != m3Err_none) return fail(h, AGENT_ERR_MODULE, "abi_version()", r);
    if ((int32_t)v != AGENT_ABI_VERSION) {
        glue_log(h, PLAT_LOG_ERROR, "module speaks host ABI %d, this board speaks %d: refused",
                 (int)(int32_t)v, AGENT_ABI_VERSION);
        return AGENT_ERR_ABI;
    }
    uint64_t ptr = 0, cap = 0;
    r = w3_call(fn_of(h, FN_RX_BUFFER), 0, NULL, &ptr);
    if (r == m3Err_none) r = w3_call(fn_of(h, FN_RX_CAPACITY), 0, NULL, &cap);
    if (r != m3Err_none) return fail(h, AGENT_ERR_MODULE, "rx_buffer()", r);
    int32_t cap32 = (int32_t)(uint32_t)cap;
    if (cap32 <= 0 || (uint32_t)cap32 > RX_CAP_MAX || mem_range(rt, (uint32_t)ptr, cap32) == NULL)
        return fail(h, AGENT_ERR_MODULE, "rx buffer outside linear memory", NULL);
    h->rx_ptr = (uint32_t)ptr;
    h->rx_cap = (uint32_t)cap32;
    if (h->answer.cap < h->rx_cap) {
        uint8_t *buf = (uint8_t *)realloc(h->answer.buf, h->rx_cap);
        if (buf == NULL) return fail(h, AGENT_ERR_NO_MEMORY, "answer buffer", NULL);
        h->answer.buf = buf;
        h->answer.cap = h->rx_cap;
    }
    return AGENT_OK;
}

/* Writes the board configuration and calls agent_start. A trap here is a trap
 * like any other (returns the M3Result through *trap). */
static agent_status_t start_instance(agent_host_t *h, int64_t now, int32_t flags, M3Result *trap)
{
    *trap = m3Err_none;
    size_t cfg_len = h->cfg.board_config_len;
    if (cfg_len > h->rx_cap) return fail(h, AGENT_ERR_ARG, "board configuration longer than the rx buffer", NULL);
    uint8_t *rx = mem_range(rt_of(h), h->rx_ptr, (int32_t)h->rx_cap);
    if (rx == NULL) return fail(h, AGENT_ERR_MODULE, "rx buffer outside linear memory", NULL);
    if (cfg_len > 0) memcpy(rx, h->cfg.board_config, cfg_len);

    uint64_t args[6] = {
        cell_i64(now), cell_i32((int32_t)cfg_len), cell_i32(flags),
        cell_i32((int32_t)h->plat->flash.sector_size), cell_i32((int32_t)h->plat->flash.sector_count),
        cell_i32((int32_t)h->plat->flash.program_unit)
    };
    uint64_t rc = 0;
    M3Result r = w3_call(fn_of(h, FN_AGENT_START), 6, args, &rc);
    if (r != m3Err_none) { *trap = r; return AGENT_OK; }
    h->start_status = (int32_t)(uint32_t)rc;
    if (h->start_status != 0) return AGENT_ERR_START;
    h->live = true;
    h->wake_ms = now; /* step at once */
    return AGENT_OK;
}

static M3Result call_stat(agent_host_t *h, int which, int64_t *out)
{
    uint64_t arg = cell_i32(which), v = 0;
    M3Result r = w3_call(fn_of(h, FN_AGENT_STAT), 1, &arg, &v);
    *out = (int64_t)v;
    return r;
}

/* After each step: the per-boot counters of this instance, so that the run's
 * totals survive a trap (a trapped instance is not asked anything). */
static M3Result sample_counters(agent_host_t *h)
{
    int64_t v;
    M3Result r;
    if ((r = call_stat(h, AGENT_STAT_RECORDED, &v)) != m3Err_none) return r;
    if (v >= 0) h->inst_recorded = (uint64_t)v;
    if ((r = call_stat(h, AGENT_STAT_ACKED, &v)) != m3Err_none) return r;
    if (v >= 0) h->inst_acked = (uint64_t)v;
    if ((r = call_stat(h, AGENT_STAT_REQUESTS, &v)) != m3Err_none) return r;
    if (v >= 0) h->inst_requests = (uint64_t)v;
    return m3Err_none;
}

agent_status_t agent_host_init(agent_host_t *h, const platform_t *plat, const agent_host_config_t *cfg)
{
    memset(h, 0, sizeof *h);
    h->plat = plat;
    h->cfg = *cfg;
    h->start_status = 0;
    if (cfg->wasm == NULL || cfg->wasm_len == 0 || cfg->wasm_len > 0xffffffffu)
        return fail(h, AGENT_ERR_ARG, "no module", NULL);
    if (cfg->wasm_stack_bytes < 4096) return fail(h, AGENT_ERR_ARG, "wasm stack under 4 KiB", NULL);
    if (cfg->start_flags & ~(AGENT_FLAG_DEV | AGENT_FLAG_FAULT_INJECTION))
        return fail(h, AGENT_ERR_ARG, "unknown start flag", NULL);
    h->env = m3_NewEnvironment();
    if (h->env == NULL) return fail(h, AGENT_ERR_NO_MEMORY, "cannot allocate an environment", NULL);

    agent_status_t st = instantiate(h);
    if (st != AGENT_OK) { drop_instance(h); return st; }
    M3Result trap;
    st = start_instance(h, plat->now_ms(plat->ctx), cfg->start_flags, &trap);
    if (st != AGENT_OK) { drop_instance(h); return st; }
    if (trap != m3Err_none) {
        /* Trapped while starting: the loop recovers it like any trap. */
        h->last_error = trap;
        glue_log(h, PLAT_LOG_ERROR, "trap in agent_start: %s", trap);
        h->stats.traps++;
        h->traps_in_a_row++;
        drop_instance(h);
    }
    return AGENT_OK;
}

/* Tears the trapped instance down and starts a new one with AFTER_TRAP. When
 * traps repeat before any step completes, waits longer each time first (1 s,
 * 2 s, ... up to max_restart_delay_ms) so a bug does not spin the CPU. */
static agent_status_t recover(agent_host_t *h)
{
    const platform_t *p = h->plat;
    if (h->traps_in_a_row > 1) {
        uint32_t shift = h->traps_in_a_row - 2 < 20 ? h->traps_in_a_row - 2 : 20;
        uint64_t delay = 1000ull << shift;
        if (delay > h->cfg.max_restart_delay_ms) delay = h->cfg.max_restart_delay_ms;
        int64_t until = p->now_ms(p->ctx) + (int64_t)delay;
        if (h->cfg.run_until_ms >= 0 && until > h->cfg.run_until_ms) until = h->cfg.run_until_ms;
        glue_log(h, PLAT_LOG_WARN, "%u traps in a row: restarting in %llu ms",
                 (unsigned)h->traps_in_a_row, (unsigned long long)delay);
        while (p->now_ms(p->ctx) < until) p->sleep_until(p->ctx, until);
        if (h->cfg.run_until_ms >= 0 && p->now_ms(p->ctx) >= h->cfg.run_until_ms) return AGENT_OK;
    }
    agent_status_t st = instantiate(h);
    if (st != AGENT_OK) { drop_instance(h); return st; }
    h->stats.restarts++;
    M3Result trap;
    st = start_instance(h, p->now_ms(p->ctx), h->cfg.start_flags | AGENT_FLAG_AFTER_TRAP, &trap);
    if (st != AGENT_OK) { drop_instance(h); return st; }
    if (trap != m3Err_none) {
        h->last_error = trap;
        glue_log(h, PLAT_LOG_ERROR, "trap in agent_start: %s", trap);
        h->stats.traps++;
        h->traps_in_a_row++;
        drop_instance(h);
    }
    return AGENT_OK;
}

/* One line for the trap, then the instance goes. The module's own abort handler
 * has usually logged where it was. */
static void on_trap(agent_host_t *h, const char *during, M3Result r)
{
    h->last_error = r;
    h->stats.traps++;
    h->traps_in_a_row++;
    glue_log(h, PLAT_LOG_ERROR, "trap in %s: %s; restarting the module", during, r);
    drop_instance(h);
}

static M3Result do_step(agent_host_t *h, int64_t now)
{
    uint64_t arg = cell_i64(now), wake = 0;
    M3Result r = w3_call(fn_of(h, FN_AGENT_STEP), 1, &arg, &wake);
    if (r != m3Err_none) return r;
    h->stats.steps++;
    h->traps_in_a_row = 0;
    int64_t w = (int64_t)wake;
    h->wake_ms = w > now ? w : now + 1; /* never a wake in the past: no hot loop */
    r = sample_counters(h);
    if (r != m3Err_none) return r;
    if (h->cfg.trap_every_steps > 0 && h->fn[FN_DEBUG_TRAP] != NULL &&
        h->stats.steps % h->cfg.trap_every_steps == 0) {
        r = w3_call(fn_of(h, FN_DEBUG_TRAP), 0, NULL, NULL);
    }
    return r;
}

static M3Result deliver_http(agent_host_t *h, int64_t now)
{
    plat_http_answer_t *a = &h->answer;
    h->http_outstanding = false;
    size_t hdr = a->hdr_len, body = a->body_len;
    if (hdr > h->rx_cap) hdr = 0; /* the helpers never let this happen; belt and braces */
    if (body > h->rx_cap - hdr) { body = h->rx_cap - hdr; a->truncated = true; }
    uint8_t *rx = mem_range(rt_of(h), h->rx_ptr, (int32_t)h->rx_cap);
    if (rx == NULL) return m3Err_trapOutOfBoundsMemoryAccess;
    memcpy(rx, a->buf, hdr + body);
    uint64_t args[6] = {
        cell_i64(now), cell_i32(a->req_id), cell_i32(a->status),
        cell_i32((int32_t)hdr), cell_i32((int32_t)body), cell_i32(a->truncated ? AGENT_RESPONSE_BODY_CUT : 0)
    };
    h->stats.http_answers++;
    return w3_call(fn_of(h, FN_ON_HTTP_RESPONSE), 6, args, NULL);
}

static M3Result deliver_gnss(agent_host_t *h, int64_t now, const plat_gnss_fix_t *f)
{
    uint64_t args[7] = {
        cell_i64(now), cell_i32(f->req_id), cell_i32(f->status),
        cell_f64(f->lat), cell_f64(f->lon), cell_f64(f->accuracy_m), cell_f64(f->utc_s)
    };
    h->stats.gnss_fixes++;
    return w3_call(fn_of(h, FN_ON_GNSS_FIX), 7, args, NULL);
}

agent_status_t agent_host_run(agent_host_t *h)
{
    const platform_t *p = h->plat;
    volatile char base = 0;
    h->stack_base = (uintptr_t)&base;

    for (;;) {
        int64_t now = p->now_ms(p->ctx);
        if (h->cfg.run_until_ms >= 0 && now >= h->cfg.run_until_ms) break;

        if (!h->live) {
            agent_status_t st = recover(h);
            if (st != AGENT_OK) return st;
            continue;
        }

        M3Result r = m3Err_none;
        const char *during = NULL;
        plat_gnss_fix_t fix;
        if (h->http_outstanding && p->http_poll(p->ctx) == PLAT_OK) {
            during = "on_http_response";
            r = deliver_http(h, now);
            if (r == m3Err_none) { during = "agent_step"; r = do_step(h, now); }
        } else if (h->gnss_outstanding && p->gnss_poll(p->ctx, &fix) == PLAT_OK) {
            h->gnss_outstanding = false;
            during = "on_gnss_fix";
            r = deliver_gnss(h, now, &fix);
            if (r == m3Err_none) { during = "agent_step"; r = do_step(h, now); }
        } else if (now >= h->wake_ms) {
            during = "agent_step";
            r = do_step(h, now);
        } else {
            int64_t until = h->wake_ms;
            if (h->cfg.run_until_ms >= 0 && h->cfg.run_until_ms < until) until = h->cfg.run_until_ms;
            p->sleep_until(p->ctx, until);
            continue;
        }
        if (r != m3Err_none) on_trap(h, during, r);
        else if (h->runtime != NULL) {
            uint32_t size = 0;
            m3_GetMemory(rt_of(h), &size, 0);
            h->stats.memory_bytes = size;
        }
    }
    return AGENT_OK;
}

void agent_host_get_stats(agent_host_t *h, agent_host_stats_t *out)
{
    *out = h->stats;
    out->recorded += h->inst_recorded;
    out->acked += h->inst_acked;
    out->requests += h->inst_requests;
    if (h->runtime != NULL) {
        uint32_t peak = w3_stack_peak(rt_of(h), h->cfg.wasm_stack_bytes);
        if (peak > out->wasm_stack_peak) out->wasm_stack_peak = peak;
    }
}

int64_t agent_host_stat(agent_host_t *h, int which)
{
    int64_t v = -1;
    if (!h->live) return -1;
    if (call_stat(h, which, &v) != m3Err_none) return -1;
    return v;
}

agent_status_t agent_host_summary_json(agent_host_t *h, char *buf, size_t cap, size_t *len)
{
    if (buf == NULL || cap == 0) return AGENT_ERR_ARG;
    agent_host_stats_t s;
    agent_host_get_stats(h, &s);
    int64_t v[SUMMARY_STATS];
    for (int i = 0; i < SUMMARY_STATS; i++) v[i] = agent_host_stat(h, i);
    int n = snprintf(buf, cap,
                     "\"uplinksRecorded\":%llu,\"uplinksAcked\":%llu,\"requests\":%llu,"
                     "\"buffered\":%lld,\"resets\":%lld,\"dropped\":%lld,\"lastUplinkId\":%lld,\"boots\":%lld,"
                     "\"traps\":%lld,\"utcKnown\":%lld,\"state\":%lld,\"backoffAttempt\":%lld,"
                     "\"trapsThisRun\":%llu,\"restarts\":%llu,\"steps\":%llu,\"httpAnswers\":%llu,"
                     "\"gnssFixes\":%llu,\"badPointers\":%llu,\"startStatus\":%d",
                     (unsigned long long)s.recorded, (unsigned long long)s.acked, (unsigned long long)s.requests,
                     (long long)v[AGENT_STAT_BUFFERED], (long long)v[AGENT_STAT_RESETS],
                     (long long)v[AGENT_STAT_DROPPED], (long long)v[AGENT_STAT_LAST_ID],
                     (long long)v[AGENT_STAT_BOOTS], (long long)v[AGENT_STAT_TRAPS],
                     (long long)v[AGENT_STAT_UTC_KNOWN], (long long)v[AGENT_STAT_STATE],
                     (long long)v[AGENT_STAT_BACKOFF_ATTEMPT],
                     (unsigned long long)s.traps, (unsigned long long)s.restarts, (unsigned long long)s.steps,
                     (unsigned long long)s.http_answers, (unsigned long long)s.gnss_fixes,
                     (unsigned long long)s.bad_pointers, (int)h->start_status);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return AGENT_ERR_ARG;
    }
    if (len != NULL) *len = (size_t)n;
    return AGENT_OK;
}

void agent_host_deinit(agent_host_t *h)
{
    if (h->plat == NULL) return;
    drop_instance(h);
    if (h->env != NULL) m3_FreeEnvironment((IM3Environment)h->env);
    h->env = NULL;
    free(h->answer.buf);
    h->answer.buf = NULL;
    h->answer.cap = 0;
}
