/*
 * linux_store.c - the uplink-log flash and the key-value store.
 *
 * Flash: a raw image of sector_size * sector_count bytes, erased = 0xFF, kept
 * in memory and, with --flash FILE, written through to FILE with pwrite. NOR
 * semantics: programming ANDs the new bits into the old ones.
 *
 * Key-value store: with --flash FILE, in FILE.kv, a text file of
 *   # trackagent kv 1
 *   key=hexvalue
 * lines. Each kv_set rewrites the whole file to FILE.kv.tmp, fsyncs it and
 * renames it over FILE.kv (then fsyncs the directory): after a power cut the
 * file is the old or the new one, so every key holds its whole old or whole new
 * value. A file that does not parse is a broken store: the board refuses to run
 * rather than guess.
 */
#define _GNU_SOURCE
#include "linux_board.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KV_MAGIC "# trackagent kv 1"
#define KV_VALUE_MAX (64u * 1024u)

/* ---- key-value table -------------------------------------------------------- */

static kv_entry_t *kv_find(linux_board_t *b, const char *key)
{
    for (size_t i = 0; i < b->kv_count; i++)
        if (strcmp(b->kv[i].key, key) == 0) return &b->kv[i];
    return NULL;
}

static plat_status_t kv_put(linux_board_t *b, const char *key, const uint8_t *value, size_t len)
{
    uint8_t *copy = (uint8_t *)malloc(len > 0 ? len : 1);
    if (copy == NULL) return PLAT_NO_MEMORY;
    if (len > 0) memcpy(copy, value, len);
    kv_entry_t *e = kv_find(b, key);
    if (e == NULL) {
        kv_entry_t *grown = (kv_entry_t *)realloc(b->kv, (b->kv_count + 1) * sizeof *grown);
        char *k = strdup(key);
        if (grown == NULL || k == NULL) {
            if (grown != NULL) b->kv = grown;
            free(k);
            free(copy);
            return PLAT_NO_MEMORY;
        }
        b->kv = grown;
        e = &b->kv[b->kv_count++];
        e->key = k;
        e->value = NULL;
    }
    free(e->value);
    e->value = copy;
    e->len = len;
    return PLAT_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static plat_status_t kv_load(linux_board_t *b, char *err, size_t err_len)
{
    FILE *f = fopen(b->kv_path, "r");
    if (f == NULL) {
        if (errno == ENOENT) return PLAT_OK; /* a new store */
        snprintf(err, err_len, "cannot read %s: %s", b->kv_path, strerror(errno));
        return PLAT_IO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    plat_status_t st = PLAT_OK;
    uint8_t *val = (uint8_t *)malloc(KV_VALUE_MAX);
    if (val == NULL) { fclose(f); return PLAT_NO_MEMORY; }
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (lineno == 1) {
            if (strcmp(line, KV_MAGIC) != 0) {
                snprintf(err, err_len, "%s is not a trackagent key-value store (first line)", b->kv_path);
                st = PLAT_IO;
                break;
            }
            continue;
        }
        if (n == 0) continue;
        char *eq = strchr(line, '=');
        size_t hexlen = eq ? strlen(eq + 1) : 0;
        if (eq == NULL || eq == line || hexlen % 2 != 0 || hexlen / 2 > KV_VALUE_MAX) {
            snprintf(err, err_len, "%s line %u is not key=hexvalue: broken store", b->kv_path, lineno);
            st = PLAT_IO;
            break;
        }
        *eq = '\0';
        size_t len = hexlen / 2;
        for (size_t i = 0; i < len; i++) {
            int hi = hexval((unsigned char)eq[1 + 2 * i]), lo = hexval((unsigned char)eq[2 + 2 * i]);
            if (hi < 0 || lo < 0) {
                snprintf(err, err_len, "%s line %u has a bad hex digit: broken store", b->kv_path, lineno);
                st = PLAT_IO;
                break;
            }
            val[i] = (uint8_t)(hi << 4 | lo);
        }
        if (st != PLAT_OK) break;
        if ((st = kv_put(b, line, val, len)) != PLAT_OK) {
            snprintf(err, err_len, "out of memory reading %s", b->kv_path);
            break;
        }
    }
    if (st == PLAT_OK && lineno == 0) {
        /* An empty file: a crash between create and first write cannot make one
         * (rename is atomic), so someone truncated it. */
        snprintf(err, err_len, "%s is empty: broken store", b->kv_path);
        st = PLAT_IO;
    }
    free(val);
    free(line);
    fclose(f);
    return st;
}

static plat_status_t kv_save(linux_board_t *b)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", b->kv_path) >= (int)sizeof tmp) return PLAT_IO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return PLAT_IO;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) { close(fd); return PLAT_IO; }
    bool ok = fprintf(f, "%s\n", KV_MAGIC) > 0;
    for (size_t i = 0; ok && i < b->kv_count; i++) {
        ok = fprintf(f, "%s=", b->kv[i].key) > 0;
        for (size_t j = 0; ok && j < b->kv[i].len; j++) ok = fprintf(f, "%02x", b->kv[i].value[j]) == 2;
        ok = ok && fputc('\n', f) != EOF;
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, b->kv_path) != 0) {
        unlink(tmp);
        return PLAT_IO;
    }
    /* The rename itself is durable only once the directory is. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", b->kv_path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return PLAT_OK;
}

plat_status_t store_kv_get(void *ctx, const char *key, uint8_t *buf, size_t cap, size_t *value_len)
{
    linux_board_t *b = (linux_board_t *)ctx;
    kv_entry_t *e = kv_find(b, key);
    if (e == NULL) return PLAT_NOT_FOUND;
    memcpy(buf, e->value, e->len < cap ? e->len : cap);
    *value_len = e->len;
    return PLAT_OK;
}

plat_status_t store_kv_set(void *ctx, const char *key, const uint8_t *value, size_t len)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if (len > KV_VALUE_MAX) return PLAT_INVALID;
    /* Write the file first with the new table; on failure restore the old value. */
    kv_entry_t *e = kv_find(b, key);
    uint8_t *old = NULL;
    size_t old_len = 0;
    bool existed = e != NULL;
    if (existed) {
        old = (uint8_t *)malloc(e->len > 0 ? e->len : 1);
        if (old == NULL) return PLAT_NO_MEMORY;
        memcpy(old, e->value, e->len);
        old_len = e->len;
    }
    plat_status_t st = kv_put(b, key, value, len);
    if (st == PLAT_OK && b->kv_path != NULL && kv_save(b) != PLAT_OK) {
        st = PLAT_IO;
        if (existed) {
            kv_put(b, key, old, old_len);
        } else {
            kv_entry_t *n = kv_find(b, key);
            free(n->key);
            free(n->value);
            *n = b->kv[--b->kv_count];
        }
    }
    free(old);
    return st;
}

bool store_kv_has(linux_board_t *b, const char *key)
{
    return kv_find(b, key) != NULL;
}

/* ---- flash ------------------------------------------------------------------ */

static size_t flash_size(const linux_board_t *b)
{
    return (size_t)b->geom.sector_size * b->geom.sector_count;
}

static bool write_through(linux_board_t *b, uint32_t addr, size_t len)
{
    if (b->flash_fd < 0) return true;
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(b->flash_fd, b->flash + addr + done, len - done, (off_t)(addr + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        done += (size_t)w;
    }
    return true;
}

plat_status_t store_flash_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    linux_board_t *b = (linux_board_t *)ctx;
    if ((uint64_t)addr + len > flash_size(b)) return PLAT_INVALID;
    memcpy(buf, b->flash + addr, len);
    return PLAT_OK;
}

/* --power-cut-after N: the Nth program or erase never happens; the process ends at once,
 * as if the supply failed. What earlier operations wrote is already in the file. */
static void maybe_power_cut(linux_board_t *b)
{
    if (b->cut_after_ops != 0 && ++b->flash_ops >= b->cut_after_ops) {
        fputs("trackagent-linux: power cut (--power-cut-after)\n", stderr);
        _exit(POWER_CUT_EXIT);
    }
}

plat_status_t store_flash_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    linux_board_t *b = (linux_board_t *)ctx;
    maybe_power_cut(b);
    if ((uint64_t)addr + len > flash_size(b)) return PLAT_INVALID;
    if (addr % b->geom.program_unit != 0 || len % b->geom.program_unit != 0) return PLAT_INVALID;
    for (size_t i = 0; i < len; i++) b->flash[addr + i] &= data[i]; /* NOR: bits only go 1 -> 0 */
    return write_through(b, addr, len) ? PLAT_OK : PLAT_IO;
}

plat_status_t store_flash_erase(void *ctx, uint32_t sector)
{
    linux_board_t *b = (linux_board_t *)ctx;
    maybe_power_cut(b);
    if (sector >= b->geom.sector_count) return PLAT_INVALID;
    uint32_t addr = sector * b->geom.sector_size;
    memset(b->flash + addr, 0xFF, b->geom.sector_size);
    return write_through(b, addr, b->geom.sector_size) ? PLAT_OK : PLAT_IO;
}

/* ---- open / close ----------------------------------------------------------- */

plat_status_t store_open(linux_board_t *b, const char *flash_path, char *err, size_t err_len)
{
    size_t size = flash_size(b);
    b->flash_fd = -1;
    b->flash = (uint8_t *)malloc(size);
    if (b->flash == NULL) {
        snprintf(err, err_len, "cannot allocate %zu bytes of flash", size);
        return PLAT_NO_MEMORY;
    }
    memset(b->flash, 0xFF, size);
    if (flash_path == NULL) return PLAT_OK;

    int fd = open(flash_path, O_RDWR | O_CREAT, 0600);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, err_len, "cannot open flash image %s: %s", flash_path, strerror(errno));
        if (fd >= 0) close(fd);
        return PLAT_IO;
    }
    b->flash_fd = fd;
    if (sb.st_size == 0) {
        if (!write_through(b, 0, size) || fsync(fd) != 0) {
            snprintf(err, err_len, "cannot initialise flash image %s: %s", flash_path, strerror(errno));
            return PLAT_IO;
        }
    } else if ((size_t)sb.st_size != size) {
        snprintf(err, err_len, "flash image %s is %lld bytes, the geometry says %zu (%u sectors of %u): broken store or wrong --flash-sectors",
                 flash_path, (long long)sb.st_size, size, b->geom.sector_count, b->geom.sector_size);
        return PLAT_IO;
    } else {
        size_t done = 0;
        while (done < size) {
            ssize_t r = pread(fd, b->flash + done, size - done, (off_t)done);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                snprintf(err, err_len, "cannot read flash image %s", flash_path);
                return PLAT_IO;
            }
            done += (size_t)r;
        }
    }

    size_t plen = strlen(flash_path) + 4;
    b->kv_path = (char *)malloc(plen);
    if (b->kv_path == NULL) return PLAT_NO_MEMORY;
    snprintf(b->kv_path, plen, "%s.kv", flash_path);
    return kv_load(b, err, err_len);
}

void store_close(linux_board_t *b)
{
    if (b->flash_fd >= 0) close(b->flash_fd);
    b->flash_fd = -1;
    free(b->flash);
    b->flash = NULL;
    for (size_t i = 0; i < b->kv_count; i++) {
        free(b->kv[i].key);
        free(b->kv[i].value);
    }
    free(b->kv);
    b->kv = NULL;
    b->kv_count = 0;
    free(b->kv_path);
    b->kv_path = NULL;
}
