/*
 * heap_meter.h - wasm3's own heap use, counted. A metered build compiles wasm3 with
 * -Dmalloc=trackagent_m3_malloc (and calloc, realloc, free likewise: wasm3.cmake's
 * METERED), so these see exactly the interpreter's allocations and nothing else: the
 * runtime, the parsed module, code pages, linear memory, the value stack.
 *
 * The figure is the bytes wasm3 asked for, the same on every C library (glibc, picolibc,
 * ESP-IDF's heap): an allocator adds its own few bytes per block on top, which is why the
 * block count is kept too.
 */
#ifndef TRACKAGENT_HEAP_METER_H
#define TRACKAGENT_HEAP_METER_H

#include <stddef.h>

void *trackagent_m3_malloc(size_t n);
void *trackagent_m3_calloc(size_t n, size_t size);
void *trackagent_m3_realloc(void *p, size_t n);
void  trackagent_m3_free(void *p);

size_t heap_meter_now(void);         /* bytes wasm3 holds now */
size_t heap_meter_peak(void);        /* the most it ever held */
size_t heap_meter_blocks_peak(void); /* the most blocks it held at once */
void   heap_meter_reset_peak(void);

#endif /* TRACKAGENT_HEAP_METER_H */
