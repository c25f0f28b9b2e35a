/*
 * uplink_native.c - the work of one acknowledged uplink, written natively in C: the anchor
 * the module's instructions per uplink under wasm3 are compared with (npm run bench).
 *
 * Per uplink, as the agent does it (same formats and algorithms, no interpreter, no
 * allocator, no garbage): encode a 26-byte position record into a 44-byte log entry
 * (16-byte header, payload, 0xFF fill to the 4-byte program unit), CRC-32 it bound to its
 * flash address and sector seq (table-driven, as assembly/log/crc32.ts), program it into a
 * NOR image (bits can only be cleared) and read it back to verify; build the uplink's JSON
 * (ISO time from UTC milliseconds, fixed-point coordinates), the URL and the headers; parse
 * the answer (the Date header to UTC milliseconds, `{"accepted":1,"duplicates":0}` checked
 * for one acknowledged); then encode, program and verify the 16-byte ack entry.
 *
 *   uplink_native N      runs N uplinks, prints {"uplinks":N,"check":...}
 *
 * Built with gcc -O2 and run under callgrind for two values of N by npm run bench: the
 * difference over the difference of N is the figure, start-up cancelled out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR_SIZE 4096u
#define SECTORS 64u
#define PROG_UNIT 4u
#define ENTRY_HEADER 16u
#define POSITION_LEN 26u

static uint8_t flash[SECTOR_SIZE * SECTORS];
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc;
}

static uint32_t crc_u32(uint32_t crc, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    return crc_update(crc, b, 4);
}

/* ---- the log entry ------------------------------------------------------------------ */

static uint32_t entry_extent(uint32_t len) { return (ENTRY_HEADER + len + PROG_UNIT - 1) & ~(PROG_UNIT - 1); }

static uint32_t encode_entry(uint8_t *buf, uint32_t addr, uint32_t seq, uint8_t kind, uint64_t id, const uint8_t *payload, uint32_t len)
{
    uint32_t extent = entry_extent(len);
    buf[0] = kind;
    buf[1] = (uint8_t)len;
    buf[2] = buf[3] = 0xFF;
    memcpy(buf + 8, &id, 8);
    memcpy(buf + ENTRY_HEADER, payload, len);
    memset(buf + ENTRY_HEADER + len, 0xFF, extent - ENTRY_HEADER - len);
    uint32_t crc = crc_u32(0xFFFFFFFFu, addr);
    crc = crc_u32(crc, seq);
    crc = crc_update(crc, buf, 4);
    crc = crc_update(crc, buf + 8, 8 + len);
    crc = ~crc;
    memcpy(buf + 4, &crc, 4);
    return extent;
}

/* NOR: programming clears bits; a program is verified by reading it back. */
static int program_verified(uint32_t addr, const uint8_t *buf, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) flash[addr + i] &= buf[i];
    return memcmp(flash + addr, buf, len) == 0 ? 0 : -1;
}

static uint32_t write_pos = 16, sector = 0, seq = 2;

static int append_entry(uint8_t kind, uint64_t id, const uint8_t *payload, uint32_t len)
{
    uint8_t buf[ENTRY_HEADER + 96];
    uint32_t extent = entry_extent(len);
    if (write_pos + extent > SECTOR_SIZE) { /* next sector: erase and start after its header */
        sector = (sector + 1) % SECTORS;
        seq++;
        memset(flash + sector * SECTOR_SIZE, 0xFF, SECTOR_SIZE);
        write_pos = 16;
    }
    uint32_t addr = sector * SECTOR_SIZE + write_pos;
    encode_entry(buf, addr, seq, kind, id, payload, len);
    if (program_verified(addr, buf, extent) != 0) return -1;
    write_pos += extent;
    return 0;
}

static uint32_t encode_position(uint8_t *out, int64_t utc_ms, int32_t lat_e7, int32_t lon_e7, uint16_t acc_dm, int8_t battery)
{
    out[0] = 1;  /* position */
    out[1] = 0;  /* UTC known */
    uint32_t boot = 1;
    memcpy(out + 2, &boot, 4);
    memcpy(out + 6, &utc_ms, 8);
    out[14] = (uint8_t)battery;
    out[15] = 1; /* fix */
    memcpy(out + 16, &lat_e7, 4);
    memcpy(out + 20, &lon_e7, 4);
    memcpy(out + 24, &acc_dm, 2);
    return POSITION_LEN;
}

/* ---- text ---------------------------------------------------------------------------- */

static char *put_str(char *p, const char *s) { size_t n = strlen(s); memcpy(p, s, n); return p + n; }

static char *put_uint(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0);
    while (n < width) tmp[n++] = '0';
    while (n > 0) *p++ = tmp[--n];
    return p;
}

/* 473769000 at 7 decimals is 47.3769, as assembly/json/fixed.ts writes it. */
static char *put_fixed(char *p, int32_t value, int decimals)
{
    uint64_t v = value < 0 ? (uint64_t)(-(int64_t)value) : (uint64_t)value, scale = 1;
    if (value < 0) *p++ = '-';
    for (int i = 0; i < decimals; i++) scale *= 10;
    p = put_uint(p, v / scale, 1);
    uint64_t frac = v % scale;
    if (frac == 0) return p;
    int digits = decimals;
    while (frac % 10 == 0) { frac /= 10; digits--; }
    *p++ = '.';
    return put_uint(p, frac, digits);
}

static char *put_iso(char *p, int64_t utc_ms)
{
    int64_t secs = utc_ms / 1000, days = secs / 86400, rem = secs % 86400;
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    p = put_uint(p, (uint64_t)y, 4); *p++ = '-';
    p = put_uint(p, (uint64_t)m, 2); *p++ = '-';
    p = put_uint(p, (uint64_t)d, 2); *p++ = 'T';
    p = put_uint(p, (uint64_t)(rem / 3600), 2); *p++ = ':';
    p = put_uint(p, (uint64_t)(rem / 60 % 60), 2); *p++ = ':';
    p = put_uint(p, (uint64_t)(rem % 60), 2); *p++ = 'Z';
    return p;
}

static size_t uplink_json(char *out, uint64_t id, const uint8_t *rec)
{
    int64_t utc; int32_t lat, lon; uint16_t acc;
    memcpy(&utc, rec + 6, 8); memcpy(&lat, rec + 16, 4); memcpy(&lon, rec + 20, 4); memcpy(&acc, rec + 24, 2);
    char *p = out;
    p = put_str(p, "{\"timestamp\":\""); p = put_iso(p, utc);
    p = put_str(p, "\",\"id\":"); p = put_uint(p, id, 1);
    p = put_str(p, ",\"topic\":\"position\",\"data\":{\"latitude\":"); p = put_fixed(p, lat, 7);
    p = put_str(p, ",\"longitude\":"); p = put_fixed(p, lon, 7);
    p = put_str(p, ",\"accuracyM\":"); p = put_fixed(p, acc, 1);
    p = put_str(p, ",\"battery\":"); p = put_uint(p, (uint64_t)(int8_t)rec[14], 1);
    p = put_str(p, "}}");
    return (size_t)(p - out);
}

static const char *environment = "https://cloud.example.com", *tenant = "t1", *device = "bench-1";
static const char *api_key = "ak_0123456789abcdefghijklmnopqrstuv";

static size_t request_url(char *out, const char *endpoint)
{
    char *p = out;
    p = put_str(p, environment); p = put_str(p, "/api/"); p = put_str(p, tenant);
    p = put_str(p, "/devices/"); p = put_str(p, device); p = put_str(p, endpoint);
    return (size_t)(p - out);
}

static size_t request_headers(char *out)
{
    char *p = out;
    p = put_str(p, "X-Api-Key: "); p = put_str(p, api_key); p = put_str(p, "\r\nContent-Type: application/json\r\n");
    return (size_t)(p - out);
}

/* ---- the answer ---------------------------------------------------------------------- */

static int month_of(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++) if (memcmp(s, months + 3 * i, 3) == 0) return i + 1;
    return 0;
}

static int64_t digits(const char *s, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) { if (s[i] < '0' || s[i] > '9') return -1; v = v * 10 + (s[i] - '0'); }
    return v;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1, doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "date: Mon, 23 Nov 2026 10:15:02 GMT" (IMF-fixdate) to UTC ms, or -1. */
static int64_t parse_date_header(const char *h, size_t len)
{
    if (len < 35 || memcmp(h, "date: ", 6) != 0) return -1;
    const char *v = h + 6;
    int64_t d = digits(v + 5, 2), y = digits(v + 12, 4), hh = digits(v + 17, 2), mm = digits(v + 20, 2), ss = digits(v + 23, 2);
    int mo = month_of(v + 8);
    if (d < 1 || y < 1970 || mo == 0 || hh < 0 || mm < 0 || ss < 0) return -1;
    return ((days_from_civil(y, mo, d) * 24 + hh) * 60 + mm) * 60000 + ss * 1000;
}

/* The value of integer member `name` of a flat JSON object, or -1. */
static int64_t int_member(const char *body, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + n + 3 < len; i++) {
        if (body[i] != '"' || memcmp(body + i + 1, name, n) != 0 || body[i + 1 + n] != '"' || body[i + 2 + n] != ':') continue;
        size_t j = i + 3 + n, k = j;
        while (k < len && body[k] >= '0' && body[k] <= '9') k++;
        return k > j && k - j <= 15 ? digits(body + j, (int)(k - j)) : -1;
    }
    return -1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    crc_init();
    memset(flash, 0xFF, sizeof flash);
    int64_t utc = 1795392000000LL; /* 2026-11-23T00:00:00Z */
    uint64_t check = 0, acked = 0;
    char json[512], url[256], headers[256], answer_head[60][40];
    size_t answer_len[60];
    const char *answer_body = "{\"accepted\":1,\"duplicates\":0}";
    /* The answers as a host hands them over, made before the clock starts: not the agent's work. */
    for (int s = 0; s < 60; s++)
        answer_len[s] = (size_t)snprintf(answer_head[s], sizeof answer_head[s], "date: Mon, 23 Nov 2026 10:15:%02d GMT", s);
    for (long i = 0; i < n; i++) {
        uint64_t id = (uint64_t)i + 1;
        uint8_t rec[POSITION_LEN];
        encode_position(rec, utc, 473769000 + (int32_t)(i & 1023), 85417000 - (int32_t)(i & 511), 45, 87);
        if (append_entry('R', id, rec, POSITION_LEN) != 0) return 1;
        size_t jl = uplink_json(json, id, rec);
        size_t ul = request_url(url, "/uplinks");
        size_t hl = request_headers(headers);
        int64_t date = parse_date_header(answer_head[i % 60], answer_len[i % 60]);
        size_t bl = strlen(answer_body);
        if (int_member(answer_body, bl, "accepted") + int_member(answer_body, bl, "duplicates") == 1) {
            if (append_entry('A', id, NULL, 0) != 0) return 1;
            acked++;
        }
        check += jl + ul + hl + (uint64_t)date + (uint8_t)json[jl - 3];
        utc += 60000;
    }
    printf("{\"uplinks\":%ld,\"acked\":%llu,\"check\":%llu}\n", n, (unsigned long long)acked, (unsigned long long)check);
    return acked == (uint64_t)n ? 0 : 1;
}
