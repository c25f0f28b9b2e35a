/*
 * heap_meter.c - counts wasm3's heap. build.rs compiles wasm3 with calloc,
 * malloc, realloc and free renamed to the functions below, so every byte the
 * interpreter holds (runtime, parsed module, code pages, linear memory, value
 * stack) passes through here, and nothing else does. The peak is the figure to
 * hold against an ESP32's free heap (the board's own buffers, libcurl and the
 * simulated flash image are not in it).
 */
#define _GNU_SOURCE
#include "heap_meter.h"

#include <malloc.h>
#include <stdlib.h>

static size_t now_bytes, peak_bytes;

static void *counted(void *p)
{
    if (p != NULL) {
        now_bytes += malloc_usable_size(p);
        if (now_bytes > peak_bytes) peak_bytes = now_bytes;
    }
    return p;
}


void *trackagent_m3_malloc(size_t n) { return counted(malloc(n)); }

void *trackagent_m3_calloc(size_t n, size_t size) { return counted(calloc(n, size)); }

void *trackagent_m3_realloc(void *p, size_t n)
{
    size_t old = p != NULL ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n);
    if (q == NULL && n > 0) return NULL; /* p untouched */
    now_bytes -= old;
    return counted(q);
}

void trackagent_m3_free(void *p)
{
    if (p != NULL) now_bytes -= malloc_usable_size(p);
    free(p);
}

size_t heap_meter_now(void) { return now_bytes; }
size_t heap_meter_peak(void) { return peak_bytes; }
void   heap_meter_reset_peak(void) { peak_bytes = now_bytes; }
