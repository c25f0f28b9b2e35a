/*
 * rv32_main.c - the agent on a bare-metal 32-bit RISC-V core (rv32imc/ilp32, an
 * ESP32-C3-class CPU), under QEMU's `virt` machine with semihosting for output.
 *
 * The same glue (boards/common), wasm3 0.5.0 and release module as every board, on the
 * simulated platform (boards/common/test/sim_platform.c: virtual clock, key-value store
 * and flash in memory, a canned cloud that acknowledges every uplink). One power-on:
 *
 *   boot     agent_host_init (parse, load, link, compile, agent_start) on a fresh heap
 *   day      agent_host_run for RV32_HOURS virtual hours: every uplink acknowledged
 *   reboot   agent_host_init again after the day's instance was freed: what a trap
 *            restart costs, on a heap that has been used
 *
 * with eager compilation, or lazy with the argument `lazy` (semihosting command line: the
 * ESP32's default). It runs on a painted stack of its own (the native stack peak) with
 * wasm3's heap metered (heap_meter.c: the bytes it asked for). Instructions are minstret,
 * which QEMU counts exactly under -icount. Prints one JSON line and a closing
 * "RV32 ok|FAILED" line; boards/riscv/run.sh runs QEMU and reads them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_host.h"
#include "heap_meter.h"
#include "sim_platform.h"

#ifndef RV32_HOURS
#define RV32_HOURS 24
#endif
#define AGENT_STACK_BYTES (96u * 1024u)
#define STACK_PAINT 0x5Au

extern const uint8_t agent_wasm[];
extern const uint32_t agent_wasm_len;
void rv32_call_on_stack(void (*fn)(void *), void *arg, void *stack_top);
uint64_t rv32_instret(void);

static uint8_t agent_stack[AGENT_STACK_BYTES] __attribute__((aligned(16)));
static uint8_t flash[4096 * 64];

typedef struct run {
    bool lazy;
    agent_status_t init_status, run_status, reboot_status;
    uint64_t boot_instructions, run_instructions, reboot_instructions;
    size_t heap_after_boot, heap_peak, heap_blocks_peak, heap_end;
    agent_host_stats_t stats;
    unsigned cloud_uplinks, error_lines;
} run_t;

static void run_agent(void *arg)
{
    run_t *r = (run_t *)arg;
    static sim_t sim;
    static platform_t plat;
    static agent_host_t host;
    agent_host_config_t cfg = AGENT_HOST_CONFIG_DEFAULT;
    sim_init(&sim, &plat, flash, (plat_flash_geometry_t){ 4096, 64, 4 });
    sim_provision(&sim);
    cfg.wasm = agent_wasm;
    cfg.wasm_len = agent_wasm_len;
    cfg.wasm_stack_bytes = 8 * 1024; /* the ESP32's Kconfig default */
    cfg.run_until_ms = (int64_t)RV32_HOURS * 3600 * 1000;
    cfg.lazy_compile = r->lazy;
    cfg.log_dictionary = &agent_log_dictionary;

    uint64_t t0 = rv32_instret();
    r->init_status = agent_host_init(&host, &plat, &cfg);
    uint64_t t1 = rv32_instret();
    r->heap_after_boot = heap_meter_now();
    r->run_status = r->init_status == AGENT_OK ? agent_host_run(&host) : r->init_status;
    uint64_t t2 = rv32_instret();
    r->boot_instructions = t1 - t0;
    r->run_instructions = t2 - t1;
    r->heap_peak = heap_meter_peak();
    r->heap_blocks_peak = heap_meter_blocks_peak();
    agent_host_get_stats(&host, &r->stats);
    r->cloud_uplinks = sim.uplinks_received;
    r->error_lines = sim.error_lines;
    agent_host_deinit(&host);

    cfg.run_until_ms = sim.now_ms; /* boot only */
    uint64_t t3 = rv32_instret();
    r->reboot_status = agent_host_init(&host, &plat, &cfg);
    r->reboot_instructions = rv32_instret() - t3;
    agent_host_deinit(&host);
    r->heap_end = heap_meter_now();
}

static size_t stack_peak(void)
{
    size_t untouched = 0;
    while (untouched < AGENT_STACK_BYTES && agent_stack[untouched] == STACK_PAINT) untouched++;
    return AGENT_STACK_BYTES - untouched;
}

int main(int argc, char **argv)
{
    static run_t r;
    r.lazy = argc > 1 && strcmp(argv[argc - 1], "lazy") == 0;
    memset(agent_stack, STACK_PAINT, sizeof agent_stack);
    rv32_call_on_stack(run_agent, &r, agent_stack + sizeof agent_stack);
    size_t peak = stack_peak();
    uint64_t per_uplink = r.stats.acked > 0 ? r.run_instructions / r.stats.acked : 0;
    printf("{\"compile\":\"%s\",\"status\":\"%s\",\"hours\":%d,\"moduleBytes\":%lu,"
           "\"uplinksRecorded\":%llu,\"uplinksAcked\":%llu,\"cloudUplinks\":%u,\"steps\":%llu,\"traps\":%llu,"
           "\"errorLines\":%u,\"bootInstructions\":%llu,\"runInstructions\":%llu,"
           "\"instructionsPerAckedUplink\":%llu,\"rebootInstructions\":%llu,\"heapAfterBootBytes\":%lu,"
           "\"heapPeakBytes\":%lu,\"heapBlocksPeak\":%lu,\"heapEndBytes\":%lu,\"linearMemoryBytes\":%lu,"
           "\"wasmStackPeakBytes\":%lu,\"nativeStackPeakBytes\":%lu,\"nativeStackBytes\":%lu}\n",
           r.lazy ? "lazy" : "eager", agent_status_text(r.run_status), RV32_HOURS, (unsigned long)agent_wasm_len,
           (unsigned long long)r.stats.recorded, (unsigned long long)r.stats.acked, r.cloud_uplinks,
           (unsigned long long)r.stats.steps, (unsigned long long)r.stats.traps, r.error_lines,
           (unsigned long long)r.boot_instructions, (unsigned long long)r.run_instructions,
           (unsigned long long)per_uplink, (unsigned long long)r.reboot_instructions,
           (unsigned long)r.heap_after_boot, (unsigned long)r.heap_peak, (unsigned long)r.heap_blocks_peak,
           (unsigned long)r.heap_end, (unsigned long)r.stats.memory_bytes, (unsigned long)r.stats.wasm_stack_peak,
           (unsigned long)peak, (unsigned long)AGENT_STACK_BYTES);
    bool ok = r.run_status == AGENT_OK && r.reboot_status == AGENT_OK && r.stats.acked > 0 &&
              r.stats.acked == r.stats.recorded && r.cloud_uplinks == r.stats.acked && r.stats.traps == 0 &&
              r.error_lines == 0 && peak < AGENT_STACK_BYTES && r.heap_end == 0;
    printf("RV32 %s\n", ok ? "ok" : "FAILED");
    fflush(stdout);
    return ok ? 0 : 1;
}
