/*
 * sim_platform.h - a platform_t with no outside world, for testing the glue and
 * measuring wasm3 with nothing else in the heap or the instruction count.
 *
 * Virtual clock; key-value store and flash in memory; a canned cloud that
 * answers every request at once: connect 200 {}, uplink 201 {"id":n}, backfill
 * 200 {"accepted":n,"duplicates":0}, each with a Date header from the virtual
 * clock (2026-11-23T00:00:00Z at 0); every `fail_every`-th request (0: none) a
 * 503 with Retry-After: 30. GNSS: a fixed point, fix after 2 s.
 * Deterministic: the same run gives the same instruction count.
 */
#ifndef TRACKAGENT_SIM_PLATFORM_H
#define TRACKAGENT_SIM_PLATFORM_H

#include "platform.h"

#define SIM_KV_MAX 16

typedef struct sim {
    int64_t  now_ms;
    uint64_t rng;
    struct { char key[65]; uint8_t val[1024]; size_t len; bool used; } kv[SIM_KV_MAX];
    uint8_t *flash;
    plat_flash_geometry_t geom;
    /* HTTP */
    plat_http_answer_t *ans;
    bool     http_pending;
    uint32_t requests, fail_every;
    uint32_t uplinks_received;
    /* GNSS */
    bool     gnss_pending;
    int64_t  gnss_ready_ms;
    plat_gnss_fix_t fix;
    /* log */
    int      log_level;
    uint32_t log_lines, error_lines;
} sim_t;

/* Fills `p`; `flash` must hold geom.sector_size * geom.sector_count bytes. */
void sim_init(sim_t *s, platform_t *p, uint8_t *flash, plat_flash_geometry_t geom);

/* Stores an identity (tenant t1, device d1, environment https://sim.invalid). */
void sim_provision(sim_t *s);

#endif /* TRACKAGENT_SIM_PLATFORM_H */
