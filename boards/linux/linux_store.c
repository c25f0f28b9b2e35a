/*
 * linux_store.c - the uplink-log flash and the key-value store.
 *
 * Flash: a raw image of sector_size * sector_count bytes, erased = 0xFF, kept
 * in memory and, with --flash FILE, written through to FILE with pwrite. NOR
 * semantics: programming ANDs the new bits into the old ones.
 *
 * Key-value store: with --flash FILE, in FILE.kv, modelled on ESP-IDF's NVS: the
 * file is a sequence of 32-byte slots, and every entry carries its own CRC-32,
 *
 *   slot 0            file header: "TAKV", version 2, slot size; CRC-32 of its bytes 0-27
 *   per entry         a header slot: "TAKE", key length (1 byte), value length (4),
 *                     CRC-32 of key + value (4), reserved, CRC-32 of its bytes 0-27;
 *                     then the key and the value in as many slots as they need (padded
 *                     with 0xFF)
 *
 * all integers little-endian. Reading, an entry whose header or data does not match its
 * CRC reads as missing (PLAT_NOT_FOUND to the module) and every other entry stays
 * readable: after a bad header the scan moves on one slot at a time until the next
 * header that checks, after bad data it skips the entry (its header gave the length).
 * The damage is counted and named (kv_damaged, kv_damaged_keys) for the board to report.
 *
 * Writing: each kv_set writes the whole store (a few hundred bytes) to FILE.kv.tmp,
 * created with mode 0600 (it holds the API key), fsyncs it, renames it over FILE.kv and
 * fsyncs the directory: after a power cut the file is the old or the new one, so every key
 * holds its whole old or whole new value (atomic per key, as the ABI asks). Damaged
 * entries are not written again: they already read as missing. Why a rewrite and not an
 * append-only log: the store is small and written a few times an hour, so a rewrite costs
 * nothing, and there is no compaction to get wrong.
 *
 * A file in the old text format ("# trackagent kv 1") is refused with a line saying so; a
 * file too short to hold its header reads as one damaged slot and an empty store.
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

#include "crc32.h"

#define KV_VALUE_MAX (64u * 1024u)
#define KV_KEY_MAX 64u
#define KV_SLOT 32u
#define KV_HEADER_CRC_AT 28u            /* the header's CRC covers its bytes 0..27 */
#define KV_FILE_MAGIC "TAKV"
#define KV_ENTRY_MAGIC "TAKE"
#define KV_VERSION 2u
#define KV_OLD_TEXT_MAGIC "# trackagent kv 1"

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

/* ---- the file format ----------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool slot_crc_ok(const uint8_t *slot)
{
    return crc32_update(0, slot, KV_HEADER_CRC_AT) == get_u32(slot + KV_HEADER_CRC_AT);
}

static void seal_slot(uint8_t *slot)
{
    put_u32(slot + KV_HEADER_CRC_AT, crc32_update(0, slot, KV_HEADER_CRC_AT));
}

static bool key_ok(const uint8_t *k, size_t n)
{
    if (n < 1 || n > KV_KEY_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = (char)k[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

static size_t entry_slots(size_t key_len, size_t value_len)
{
    return 1 + (key_len + value_len + KV_SLOT - 1) / KV_SLOT;
}

/* Names a damaged entry (when its header still tells the key) in kv_damaged_keys. */
static void note_damage(linux_board_t *b, const uint8_t *key, size_t key_len)
{
    b->kv_damaged++;
    size_t used = strlen(b->kv_damaged_keys);
    size_t room = sizeof b->kv_damaged_keys - used;
    const char *sep = used > 0 ? ", " : "";
    if (key != NULL && key_ok(key, key_len))
        snprintf(b->kv_damaged_keys + used, room, "%s%.*s", sep, (int)key_len, (const char *)key);
    else if (strstr(b->kv_damaged_keys, "?") == NULL)
        snprintf(b->kv_damaged_keys + used, room, "%s?", sep);
}

/* Parses a whole store file image; damaged entries are counted and skipped. */
static plat_status_t kv_parse(linux_board_t *b, const uint8_t *img, size_t size, char *err, size_t err_len)
{
    if (size >= strlen(KV_OLD_TEXT_MAGIC) && memcmp(img, KV_OLD_TEXT_MAGIC, strlen(KV_OLD_TEXT_MAGIC)) == 0) {
        snprintf(err, err_len, "%s is in the old text format: delete it (and the flash image) or use a new --flash file", b->kv_path);
        return PLAT_IO;
    }
    size_t slots = size / KV_SLOT;
    /* Shorter than its header: nothing in it checks, so every entry reads as missing (the
     * agent falls back as for any damaged entry); a store is never a reason not to start. */
    if (slots == 0) {
        note_damage(b, NULL, 0);
        return PLAT_OK;
    }
    /* A damaged file header is one more damaged slot: the entries carry their own checks. */
    if (!slot_crc_ok(img) || memcmp(img, KV_FILE_MAGIC, 4) != 0) note_damage(b, NULL, 0);
    if (size % KV_SLOT != 0) note_damage(b, NULL, 0);
    size_t i = 1;
    while (i < slots) {
        const uint8_t *h = img + i * KV_SLOT;
        size_t key_len = h[4];
        size_t value_len = get_u32(h + 8);
        if (memcmp(h, KV_ENTRY_MAGIC, 4) != 0 || !slot_crc_ok(h) || key_len < 1 || key_len > KV_KEY_MAX ||
            value_len > KV_VALUE_MAX || i + entry_slots(key_len, value_len) > slots) {
            /* Not a header that checks: move on one slot (a damaged header's own data
             * slots are scanned too; they hold no magic and CRC that match). */
            note_damage(b, NULL, 0);
            i++;
            continue;
        }
        const uint8_t *data = h + KV_SLOT;
        if (crc32_update(0, data, key_len + value_len) != get_u32(h + 12) || !key_ok(data, key_len)) {
            note_damage(b, data, key_len);
        } else {
            char key[KV_KEY_MAX + 1];
            memcpy(key, data, key_len);
            key[key_len] = '\0';
            if (kv_put(b, key, data + key_len, value_len) != PLAT_OK) {
                snprintf(err, err_len, "out of memory reading %s", b->kv_path);
                return PLAT_NO_MEMORY;
            }
        }
        i += entry_slots(key_len, value_len);
    }
    return PLAT_OK;
}

static plat_status_t kv_load(linux_board_t *b, char *err, size_t err_len)
{
    int fd = open(b->kv_path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT) return PLAT_OK; /* a new store */
        snprintf(err, err_len, "cannot read %s: %s", b->kv_path, strerror(errno));
        return PLAT_IO;
    }
    struct stat sb;
    uint8_t *img = NULL;
    plat_status_t st = PLAT_IO;
    if (fstat(fd, &sb) != 0 || sb.st_size < 0 || (uint64_t)sb.st_size > 64u * 1024u * 1024u) {
        snprintf(err, err_len, "cannot read %s: not a store file", b->kv_path);
    } else if ((img = (uint8_t *)malloc((size_t)sb.st_size + 1)) == NULL) {
        st = PLAT_NO_MEMORY;
        snprintf(err, err_len, "out of memory reading %s", b->kv_path);
    } else {
        size_t done = 0, size = (size_t)sb.st_size;
        while (done < size) {
            ssize_t r = read(fd, img + done, size - done);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            done += (size_t)r;
        }
        if (done != size) snprintf(err, err_len, "cannot read %s", b->kv_path);
        else st = kv_parse(b, img, size, err, err_len);
    }
    free(img);
    close(fd);
    return st;
}

/* The whole table as a store file image. */
static uint8_t *kv_image(const linux_board_t *b, size_t *size)
{
    size_t slots = 1;
    for (size_t i = 0; i < b->kv_count; i++) slots += entry_slots(strlen(b->kv[i].key), b->kv[i].len);
    uint8_t *img = (uint8_t *)malloc(slots * KV_SLOT);
    if (img == NULL) return NULL;
    memset(img, 0xFF, slots * KV_SLOT);
    memset(img, 0, KV_SLOT);
    memcpy(img, KV_FILE_MAGIC, 4);
    put_u32(img + 4, KV_VERSION);
    put_u32(img + 8, KV_SLOT);
    seal_slot(img);
    size_t at = 1;
    for (size_t i = 0; i < b->kv_count; i++) {
        const kv_entry_t *e = &b->kv[i];
        size_t key_len = strlen(e->key);
        uint8_t *h = img + at * KV_SLOT;
        uint8_t *data = h + KV_SLOT;
        memcpy(data, e->key, key_len);
        if (e->len > 0) memcpy(data + key_len, e->value, e->len);
        memset(h, 0, KV_SLOT);
        memcpy(h, KV_ENTRY_MAGIC, 4);
        h[4] = (uint8_t)key_len;
        put_u32(h + 8, (uint32_t)e->len);
        put_u32(h + 12, crc32_update(0, data, key_len + e->len));
        seal_slot(h);
        at += entry_slots(key_len, e->len);
    }
    *size = slots * KV_SLOT;
    return img;
}

static plat_status_t kv_save(linux_board_t *b)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", b->kv_path) >= (int)sizeof tmp) return PLAT_IO;
    size_t size = 0;
    uint8_t *img = kv_image(b, &size);
    if (img == NULL) return PLAT_NO_MEMORY;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { free(img); return PLAT_IO; }
    bool ok = fchmod(fd, 0600) == 0; /* a leftover tmp file keeps its mode through O_CREAT */
    for (size_t done = 0; ok && done < size;) {
        ssize_t w = write(fd, img + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else done += (size_t)w;
    }
    free(img);
    ok = ok && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
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
    if (len > KV_VALUE_MAX || !key_ok((const uint8_t *)key, strlen(key))) return PLAT_INVALID;
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
