/*
 * heap_meter.c - see heap_meter.h. Each block carries its requested size in a header
 * ahead of it, so the meter needs nothing from the C library beyond malloc and free
 * (glibc's malloc_usable_size has no equal in picolibc). The header is 16 bytes, so the
 * block keeps the alignment malloc gave it.
 */
#include "heap_meter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEADER 16u

static size_t now_bytes, peak_bytes, now_blocks, peak_blocks;

static void *track(uint8_t *raw, size_t n)
{
    if (raw == NULL) return NULL;
    memcpy(raw, &n, sizeof n);
    now_bytes += n;
    now_blocks++;
    if (now_bytes > peak_bytes) peak_bytes = now_bytes;
    if (now_blocks > peak_blocks) peak_blocks = now_blocks;
    return raw + HEADER;
}

static size_t untrack(void *p)
{
    size_t n;
    memcpy(&n, (uint8_t *)p - HEADER, sizeof n);
    now_bytes -= n;
    now_blocks--;
    return n;
}

void *trackagent_m3_malloc(size_t n)
{
    if (n > SIZE_MAX - HEADER) return NULL;
    return track((uint8_t *)malloc(n + HEADER), n);
}

void *trackagent_m3_calloc(size_t n, size_t size)
{
    if (size != 0 && n > (SIZE_MAX - HEADER) / size) return NULL;
    size_t total = n * size;
    uint8_t *raw = (uint8_t *)calloc(1, total + HEADER);
    return track(raw, total);
}

void *trackagent_m3_realloc(void *p, size_t n)
{
    if (p == NULL) return trackagent_m3_malloc(n);
    if (n > SIZE_MAX - HEADER) return NULL;
    uint8_t *raw = (uint8_t *)p - HEADER;
    uint8_t *q = (uint8_t *)realloc(raw, n + HEADER);
    if (q == NULL) return NULL; /* p untouched, still counted */
    size_t old;
    memcpy(&old, q, sizeof old);
    now_bytes -= old;
    now_blocks--;
    return track(q, n);
}

void trackagent_m3_free(void *p)
{
    if (p == NULL) return;
    untrack(p);
    free((uint8_t *)p - HEADER);
}

size_t heap_meter_now(void) { return now_bytes; }
size_t heap_meter_peak(void) { return peak_bytes; }
size_t heap_meter_blocks_peak(void) { return peak_blocks; }
void   heap_meter_reset_peak(void) { peak_bytes = now_bytes; peak_blocks = now_blocks; }
