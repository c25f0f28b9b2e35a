/* log_expand.c - see log_dictionary.h. Mirrors host-sim/log-dictionary.ts. */
#include "log_dictionary.h"
#include "abi_constants.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Argument tags (assembly/ABI.md, "log"; assembly/logger.ts). */
enum {
    ARG_I32 = AGENT_ARG_I32, ARG_U32 = AGENT_ARG_U32, ARG_I64 = AGENT_ARG_I64, ARG_U64 = AGENT_ARG_U64,
    ARG_F64 = AGENT_ARG_F64, ARG_BOOL = AGENT_ARG_BOOL, ARG_STR = AGENT_ARG_STR, ARG_NULL = AGENT_ARG_NULL
};

typedef struct {
    char  *out;
    size_t cap;
    size_t n;  /* the whole length so far, written or not */
} sink_t;

static void put(sink_t *s, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++, s->n++)
        if (s->n + 1 < s->cap) s->out[s->n] = p[i];
}

static void puts_(sink_t *s, const char *p) { put(s, p, strlen(p)); }

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* An f64 as AssemblyScript's toString writes it: integral values keep ".0", others the
 * shortest %g that reads back the same. */
static void put_f64(sink_t *s, double v)
{
    char b[40];
    if (v != v) { puts_(s, "NaN"); return; }
    if (v > 1.7976931348623157e308) { puts_(s, "Infinity"); return; }
    if (v < -1.7976931348623157e308) { puts_(s, "-Infinity"); return; }
    if (v > -1e21 && v < 1e21 && v == (double)(int64_t)v) {
        snprintf(b, sizeof b, "%.1f", v);
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(b, sizeof b, "%.*g", p, v);
            if (strtod(b, NULL) == v) break;
        }
    }
    puts_(s, b);
}

/* One argument at *at: false when the record does not read there. quoted: strings as "..." */
static bool put_arg(sink_t *s, const uint8_t *a, size_t len, size_t *at, bool quoted)
{
    char b[24];
    size_t i = *at;
    if (i >= len) return false;
    uint8_t tag = a[i++];
    size_t rest = len - i;
    switch (tag) {
    case ARG_I32: if (rest < 4) return false; snprintf(b, sizeof b, "%" PRId32, (int32_t)le32(a + i)); i += 4; break;
    case ARG_U32: if (rest < 4) return false; snprintf(b, sizeof b, "%" PRIu32, le32(a + i)); i += 4; break;
    case ARG_I64: if (rest < 8) return false; snprintf(b, sizeof b, "%" PRId64, (int64_t)le64(a + i)); i += 8; break;
    case ARG_U64: if (rest < 8) return false; snprintf(b, sizeof b, "%" PRIu64, le64(a + i)); i += 8; break;
    case ARG_F64: {
        if (rest < 8) return false;
        uint64_t bits = le64(a + i);
        double v;
        memcpy(&v, &bits, sizeof v);
        put_f64(s, v);
        *at = i + 8;
        return true;
    }
    case ARG_BOOL: if (rest < 1) return false; strcpy(b, a[i] ? "true" : "false"); i += 1; break;
    case ARG_NULL: strcpy(b, "null"); break;
    case ARG_STR: {
        if (rest < 2) return false;
        size_t n = (size_t)a[i] | (size_t)a[i + 1] << 8;
        if (rest - 2 < n) return false;
        if (quoted) put(s, "\"", 1);
        put(s, (const char *)a + i + 2, n);
        if (quoted) put(s, "\"", 1);
        *at = i + 2 + n;
        return true;
    }
    default: return false;
    }
    puts_(s, b);
    *at = i;
    return true;
}

static const char *lookup(const agent_log_dictionary_t *d, uint32_t id)
{
    if (d == NULL) return NULL;
    size_t lo = 0, hi = d->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t m = d->messages[mid].id;
        if (m == id) return d->messages[mid].format;
        if (m < id) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

size_t agent_log_expand(const agent_log_dictionary_t *dict, uint32_t id,
                        const uint8_t *args, size_t len, char *out, size_t cap)
{
    /* First the arguments that read, from the start: the record is sound when they are all of it. */
    sink_t none = { NULL, 0, 0 };
    size_t readable = 0, at = 0;
    while (at < len && put_arg(&none, args, len, &at, false)) readable++;
    bool ok = at == len;

    sink_t s = { out, cap, 0 };
    size_t used = 0;
    at = 0;
    const char *f = lookup(dict, id);
    if (f == NULL) {
        char b[16];
        snprintf(b, sizeof b, "log #%08" PRIx32, id);
        puts_(&s, b);
        for (; used < readable; used++) {
            puts_(&s, used == 0 ? " [" : ", ");
            put_arg(&s, args, len, &at, true);
        }
        if (readable > 0) puts_(&s, "]");
    } else {
        for (const char *p = f; *p != '\0'; p++) {
            if (p[0] == '{' && p[1] == '}' && used < readable) {
                put_arg(&s, args, len, &at, false);
                used++;
                p++;
            } else {
                put(&s, p, 1);
            }
        }
    }
    if (!ok) puts_(&s, " <bad args>");
    if (cap > 0) out[s.n < cap ? s.n : cap - 1] = '\0';
    return s.n;
}
