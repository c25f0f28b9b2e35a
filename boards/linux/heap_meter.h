/*
 * heap_meter.h - wasm3's own heap use, counted. The build compiles wasm3 with
 * -Dcalloc=trackagent_m3_calloc (and malloc, realloc, free likewise), so these
 * see exactly the interpreter's allocations. With a wasm3 built elsewhere (the
 * wasm3-sys feature) nothing is routed here and the figures stay 0.
 */
#ifndef TRACKAGENT_HEAP_METER_H
#define TRACKAGENT_HEAP_METER_H

#include <stddef.h>

void *trackagent_m3_malloc(size_t n);
void *trackagent_m3_calloc(size_t n, size_t size);
void *trackagent_m3_realloc(void *p, size_t n);
void  trackagent_m3_free(void *p);

size_t heap_meter_now(void);   /* bytes wasm3 holds now */
size_t heap_meter_peak(void);  /* the most it ever held */
void   heap_meter_reset_peak(void);

#endif /* TRACKAGENT_HEAP_METER_H */
