/*
 * kv_store_test.c - the Linux board's key-value store against damage (linux_store.c).
 *
 *   kv_store_test DIR     works in DIR (must exist, empty); prints "N passed, N failed"
 *
 * Writes the entries a provisioned device holds, then flips every bit of the store file
 * in turn, one at a time, and opens the store after each: it must open, every entry must
 * read its exact value or be missing, at most the one entry the flipped bit belonged to
 * may be missing, and a bit outside every checked byte (the padding) loses nothing. Also:
 * the file is created with mode 0600; a write after damage keeps what survived; a store
 * cut short loses only the entries past the cut; the old text format is refused.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32.h"
#include "linux_board.h"

static int passed, failed;

#define CHECK(cond, ...) do { \
        if (cond) passed++; \
        else { failed++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
               fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
    } while (0)

typedef struct { const char *key, *value; } pair_t;

static const pair_t entries[] = {
    { "tenantId", "acme" },
    { "deviceId", "trk-0001" },
    { "environment", "https://api.example.com" },
    { "apiKey", "ak_0123456789abcdef0123456789abcdef" },
    { "resetSecret", "rs_fedcba9876543210fedcba9876543210" },
    { "settings", "{\"uplinkIntervalS\":300,\"movingIntervalS\":60,\"heartbeatS\":3600}" },
    { "state", "\x01\x00\x00\x00\x07\x00\x00\x00\x00\x00" },
    { "seq", "\x40\x1f\x00\x00" },
};
#define N_ENTRIES (sizeof entries / sizeof entries[0])

static char flash_path[512], kv_path[520];

static void board_init(linux_board_t *b)
{
    memset(b, 0, sizeof *b);
    b->geom.sector_size = 4096;
    b->geom.sector_count = 2;
    b->geom.program_unit = 4;
}

static size_t value_len(const pair_t *p)
{
    /* The binary values above end at their last listed byte: count them by hand. */
    if (strcmp(p->key, "state") == 0) return 10;
    if (strcmp(p->key, "seq") == 0) return 4;
    return strlen(p->value);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    uint8_t *buf = (uint8_t *)malloc(1 << 16);
    *len = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    return buf;
}

static void spill(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len) { perror(path); exit(2); }
    fclose(f);
}

/* Opens the store and counts the entries that read back exactly; any other value is a
 * failure (returned as -1). */
static int intact_entries(linux_board_t *b, plat_status_t *open_status)
{
    char err[256] = "";
    board_init(b);
    *open_status = store_open(b, flash_path, err, sizeof err);
    int intact = 0;
    if (*open_status == PLAT_OK) {
        for (size_t i = 0; i < N_ENTRIES; i++) {
            uint8_t buf[256];
            size_t len = 0;
            plat_status_t st = store_kv_get(b, entries[i].key, buf, sizeof buf, &len);
            if (st == PLAT_NOT_FOUND) continue;
            if (st != PLAT_OK || len != value_len(&entries[i]) || memcmp(buf, entries[i].value, len) != 0) {
                intact = -1;
                break;
            }
            intact++;
        }
    }
    return intact;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: kv_store_test DIR\n");
        return 2;
    }
    snprintf(flash_path, sizeof flash_path, "%s/flash.img", argv[1]);
    snprintf(kv_path, sizeof kv_path, "%s.kv", flash_path);
    static linux_board_t board;
    linux_board_t *b = &board;
    char err[256] = "";

    CHECK(crc32_update(0, (const uint8_t *)"123456789", 9) == 0xCBF43926u, "CRC-32 check value");

    board_init(b);
    CHECK(store_open(b, flash_path, err, sizeof err) == PLAT_OK, "new store: %s", err);
    for (size_t i = 0; i < N_ENTRIES; i++)
        CHECK(store_kv_set(b, entries[i].key, (const uint8_t *)entries[i].value, value_len(&entries[i])) == PLAT_OK,
              "set %s", entries[i].key);
    store_close(b);
    struct stat sb;
    CHECK(stat(kv_path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "store file mode %o, want 600", (unsigned)(sb.st_mode & 0777));

    size_t len = 0;
    uint8_t *good = slurp(kv_path, &len);
    CHECK(good != NULL && len > 0 && len % 32 == 0, "store file of %zu bytes", len);
    if (good == NULL) return 1;
    plat_status_t st;
    CHECK(intact_entries(b, &st) == (int)N_ENTRIES && st == PLAT_OK && b->kv_damaged == 0, "undamaged store reads whole");
    store_close(b);

    /* Every single-bit flip of the file. */
    unsigned flips = 0, lost = 0, harmless = 0, worse = 0, unopened = 0;
    uint8_t *bad = (uint8_t *)malloc(len);
    for (size_t bit = 0; bit < len * 8; bit++) {
        memcpy(bad, good, len);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        spill(kv_path, bad, len);
        int n = intact_entries(b, &st);
        flips++;
        if (st != PLAT_OK) unopened++;
        else if (n < 0 || n < (int)N_ENTRIES - 1) worse++;
        else if (n == (int)N_ENTRIES - 1) lost++;
        else harmless++;
        if (st == PLAT_OK && n == (int)N_ENTRIES - 1 && b->kv_damaged == 0) worse++; /* lost without a word */
        store_close(b);
    }
    CHECK(unopened == 0, "%u of %u flips left a store that does not open", unopened, flips);
    CHECK(worse == 0, "%u of %u flips lost more than one entry, changed a value, or lost one silently", worse, flips);
    CHECK(lost > 0 && harmless > 0, "flips: %u lost one entry, %u lost nothing", lost, harmless);
    printf("kv_store_test: %u single-bit flips of a %zu-byte store: %u lost one entry, %u lost nothing, %u worse\n",
           flips, len, lost, harmless, worse);

    /* Damage, then a write: the survivors and the new value are kept, the damage is gone. */
    memcpy(bad, good, len);
    bad[32 * 2 + 9] ^= 0x10; /* inside the first entry's value ("acme", after its 8-byte key) */
    spill(kv_path, bad, len);
    int n = intact_entries(b, &st);
    CHECK(n == (int)N_ENTRIES - 1 && b->kv_damaged == 1 && strcmp(b->kv_damaged_keys, "?") != 0,
          "first entry damaged: %d intact, %u damaged (%s)", n, b->kv_damaged, b->kv_damaged_keys);
    CHECK(store_kv_set(b, "extra", (const uint8_t *)"x", 1) == PLAT_OK, "write after damage");
    store_close(b);
    n = intact_entries(b, &st);
    uint8_t v[8];
    size_t vlen = 0;
    CHECK(n == (int)N_ENTRIES - 1 && b->kv_damaged == 0 && store_kv_get(b, "extra", v, sizeof v, &vlen) == PLAT_OK && vlen == 1,
          "after the write: %d intact, %u damaged", n, b->kv_damaged);
    store_close(b);

    /* Cut short (a disk that lost its tail): the entries before the cut survive. */
    spill(kv_path, good, len - 20);
    n = intact_entries(b, &st);
    CHECK(st == PLAT_OK && n == (int)N_ENTRIES - 1, "store cut by 20 bytes: %d intact", n);
    store_close(b);

    /* Shorter than its header (anything can happen to a file): opens empty, the damage named. */
    spill(kv_path, good, 20);
    n = intact_entries(b, &st);
    CHECK(st == PLAT_OK && n == 0 && b->kv_damaged == 1, "store of 20 bytes: opens %d, %d intact, %u damaged", st == PLAT_OK, n, b->kv_damaged);
    store_close(b);
    spill(kv_path, good, 0);
    n = intact_entries(b, &st);
    CHECK(st == PLAT_OK && n == 0 && b->kv_damaged == 1, "empty store file: opens %d, %d intact, %u damaged", st == PLAT_OK, n, b->kv_damaged);
    store_close(b);

    /* The old text format is refused, not misread. */
    static const char old[] = "# trackagent kv 1\ntenantId=61636d65\n";
    spill(kv_path, (const uint8_t *)old, sizeof old - 1);
    board_init(b);
    st = store_open(b, flash_path, err, sizeof err);
    CHECK(st != PLAT_OK && strstr(err, "old text format") != NULL, "old format: %s", err);
    store_close(b);

    free(bad);
    free(good);
    unlink(kv_path);
    unlink(flash_path);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
