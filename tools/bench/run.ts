// npm run bench: every figure of the current build in one table, and the same figures as one
// JSON file (build/bench.json). Deterministic figures carry their budget (test/budgets.json);
// timings are medians of several runs, reported with a ratio against a baseline measured in
// the same run, and never asserted anywhere.
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { moduleBytes, memoryFigures, backfillFigures, liveFigures, logFigures, backlogFigures } from './figures.ts';
import { loadBudgets, boardFigures, goalOf, type Budget } from './budgets.ts';
import { allocationFigures } from './allocation.ts';
import { wasm3Figures, nativeInstructionsPerUplink, interpreterTextBytes } from './wasm3.ts';
import { esp32Fit, ESP_IDF } from './esp32-fit.ts';
import { fleetThroughput } from './fleet-throughput.ts';
import { rv32Figures } from './rv32.ts';
import { chaosFigures } from '../../host-sim/chaos/figures.ts';
import { energyFigures } from './energy.ts';

const budgets = loadBudgets();
const rows: { figure: string; value: string; goal: string; budget: string; anchor: string; key?: string }[] = [];
const json: Record<string, unknown> = { when: new Date().toISOString(), node: process.version, cores: os.availableParallelism() };

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
const num = (n: number) => fmt(n, n % 1 ? 2 : 0);
/**
 * One row: the figure, its value, its goal and budget (test/budgets.json) and, where there is
 * one, its anchor: `value` over a native or peer figure measured in the same run.
 */
function row(figure: string, value: string, key?: string, anchor?: { measured: number; anchor: number; what: string }, goal?: string) {
  const b: Budget | undefined = key ? budgets[key] : undefined;
  const a = anchor ? `x${fmt(anchor.measured / anchor.anchor, 2)} of ${anchor.what} (${num(anchor.anchor)})` : '';
  rows.push({ figure, value, goal: b ? num(goalOf(b)) : goal ?? '', budget: b ? num(b.max) : '', anchor: a, key });
}
function step(what: string) { process.stderr.write(`bench: ${what}...\n`); }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// --only PART[,PART...]: just those parts (default all), e.g. npm run bench -- --only energy.
export const PARTS = ['wasm3', 'module', 'backlog', 'allocation', 'backfill', 'live', 'log', 'board', 'rv32', 'node', 'fleet', 'chaos', 'energy'] as const;
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt < 0 ? null : new Set((process.argv[onlyAt + 1] ?? '').split(',').filter(Boolean));
for (const p of only ?? []) {
  if (!(PARTS as readonly string[]).includes(p)) {
    process.stderr.write(`bench: --only ${p} is not a part: give one or more of ${PARTS.join(', ')}, comma-separated\n`);
    process.exit(2);
  }
}
if (only && only.size === 0) {
  process.stderr.write(`bench: --only needs parts: one or more of ${PARTS.join(', ')}, comma-separated\n`);
  process.exit(2);
}
const want = (part: (typeof PARTS)[number]) => !only || only.has(part);

let w3: Awaited<ReturnType<typeof wasm3Figures>> | undefined;
let native = 0;
let interpreter = 0;
if (want('wasm3')) {
  step('wasm3 and its native anchor under callgrind (tools/bench/wasm3, half a minute)');
  w3 = await wasm3Figures(budgets.pagesBacklog.records ?? 2000);
  native = await nativeInstructionsPerUplink();
  interpreter = await interpreterTextBytes();
  json.wasm3 = { ...w3, nativeInstructionsPerUplink: native, interpreterTextBytes: interpreter };
}

if (want('module')) {
  step('module and memory (1,000,000 steps)');
  const size = moduleBytes();
  const mem = await memoryFigures(1_000_000);
  row('release .wasm size (bytes)', `${fmt(size)} (${fmt(size / 1024, 1)} KiB)`, 'moduleBytes',
    { measured: size, anchor: interpreter || (interpreter = await interpreterTextBytes()), what: 'wasm3 itself, x86 32-bit .text' });
  row('linear memory at start (64 KiB pages)', fmt(mem.pagesAtStart), 'pagesAtStart');
  row(`linear memory after ${fmt(mem.steps)} steps (pages)`, `${fmt(mem.pagesAfter)} (${fmt(mem.uplinks)} uplinks on the way)`, 'pagesAfterSteps');
  json.module = { bytes: size, ...mem };
}

if (want('backlog')) {
  step('a 2,000-record backlog refused, then drained through 16 KiB batches (Node)');
  const bl = await backlogFigures(budgets.pagesBacklog.records ?? 2000);
  row(`backlog of ${fmt(bl.backlog)}: linear memory, most during outage and drain / after (pages)`, `${bl.pagesPeak} / ${bl.pagesAfter}`, 'pagesBacklog',
    { measured: bl.pagesPeak, anchor: bl.pagesAtStart, what: 'no backlog' });
  row('backlog: batches / uplinks in the largest / its body bytes / lost / duplicates', `${bl.batches} / ${bl.batchUplinksMax} / ${fmt(bl.batchBodyBytesMax)} / ${bl.lost} / ${bl.duplicates}`);
  json.backlog = bl;
}

if (want('allocation')) {
  step('what one call allocates (allocation tracing build)');
  const alloc = await allocationFigures();
  row(`largest allocation by one call (bytes; ${alloc.maxCallWhere})`, fmt(alloc.maxCallBytes), 'allocationPerCallBytes',
    { measured: alloc.maxCallBytes, anchor: 8192, what: 'the collector\'s reserve' });
  const steps = Object.values(alloc.scenarios).reduce((n, s) => n + s.steps, 0);
  const collections = Object.values(alloc.scenarios).reduce((n, s) => n + s.collections, 0);
  row('collections per step / live heap after a collection, most (bytes) / heap start', `${fmt(collections / steps, 3)} / ${fmt(Math.max(...Object.values(alloc.scenarios).map((s) => s.liveBytesMax)))} / ${fmt(alloc.heapBase)}`);
  for (const [name, s] of Object.entries(alloc.scenarios)) {
    if (s.pages > 1) row(`known limit: ${name} (pages)`, `${s.pages} (live ${fmt(s.liveBytesMax)} B, one call ${fmt(s.maxCallBytes)} B)`);
  }
  json.allocation = alloc;
}

if (want('backfill')) {
  step('backfill after a 24 h outage at 60 s');
  const bf = await backfillFigures(24, 60, 100);
  row('24 h outage at 60 s: uplinks backfilled / requests / ideal', `${fmt(bf.uplinksBackfilled)} / ${bf.backfillRequests} / ${bf.idealRequests}`);
  row('backfill: requests per 1,000 uplinks (ideal 10)', fmt(bf.requestsPer1000, 1), 'backfillRequestsPer1000');
  row('backfill: body bytes per 1,000 uplinks / their own JSON', `${fmt(bf.bodyBytesPer1000)} / ${fmt(bf.ownJsonBytesPer1000)}`);
  row('backfill: body bytes over the uplinks\' own JSON (ratio)', fmt(bf.bodyOverOwn, 3), 'backfillBodyOverOwnJson');
  row('backfill: connections opened per 1,000 uplinks', fmt(bf.connectionsPer1000, 1), 'backfillConnectionsPer1000');
  json.backfill = bf;
}

if (want('live')) {
  step('live uplinks, 48 h');
  const live = await liveFigures();
  row('live: connections opened per 1,000 uplinks (60 s keep-alive)', fmt(live.connectionsPer1000), 'liveConnectionsPer1000');
  json.live = live;
}

if (want('log')) {
  step('flash log');
  const lg = await logFigures();
  row(`flash per position record (${lg.payloadBytes}-byte payload)`, `${fmt(lg.flashBytesPerRecord, 1)} bytes (overhead ${fmt(lg.overheadBytesPerRecord, 1)})`, 'flashBytesPerRecord');
  row('position records per 64 KiB sector / per 4 KiB sector', `${fmt(lg.recordsPer64KiBSector)} / ${fmt(lg.recordsPer4KiBSector)}`);
  json.log = lg;
}

if (w3) {
  row('wasm3: instructions per acked uplink, steady state (callgrind, simulated platform)', fmt(w3.instructionsPerAckedUplink), 'wasm3InstructionsPerUplink',
    { measured: w3.instructionsPerAckedUplink, anchor: native, what: 'the same work in C' });
  row('wasm3: start-up, once (parse, compile every function, agent_start; instructions)', fmt(w3.startupInstructions));
  const d = w3.drainLazy;
  row(`wasm3: heap peak during the ${fmt(d.backlog)}-record drain, 32-bit, lazy compile (bytes)`, fmt(d.heapPeakBytes), 'wasm3HeapPeakBytes32',
    { measured: d.heapPeakBytes, anchor: w3.drainEager.heapPeakBytes, what: 'eager compile' });
  row('wasm3: drain linear memory (bytes) / batches / largest batch / lost / out of order', `${fmt(d.linearMemoryBytes)} / ${d.batches} / ${d.batchUplinksMax} uplinks, ${fmt(d.batchBodyBytesMax)} B / ${d.lost} / ${d.outOfOrder}`, 'wasm3DrainLinearMemoryBytes');
  const fit = esp32Fit(w3);
  row('ESP32 without PSRAM: heap needed / left by Wi-Fi and TLS (bytes)', `${fmt(fit.needBytes)} / ${fmt(fit.availableBytes)}: ${fit.fits ? 'fits' : `does not fit, ${fmt(-fit.marginBytes)} short`}`);
  json.esp32 = { ...fit, sources: ESP_IDF };
}

if (want('board')) {
  step('the Linux board under valgrind (boards/linux/measure.sh, about a minute)');
  try {
    const w = await boardFigures();
    row('wasm3: heap peak, 64-bit board (bytes)', fmt(w.board.wasm3HeapPeakBytes));
    row('wasm3: instructions per acked uplink (board, libcurl + loopback)', fmt(w.board.instructionsPerAckedUplink));
    row('wasm3: value stack peak / native stack peak 32-bit no tail calls (bytes)', `${fmt(w.board.wasmStackPeakBytes)} / ${fmt(w.sim.nativeStackPeakNoTailCalls32Bytes)}`);
    row('wasm3: memcheck over trap restarts (definitely lost bytes, errors)', `${w.board.memcheck.definitelyLostBytes}, ${w.board.memcheck.errors} (${w.board.memcheck.traps} traps)`);
    json.board = w;
  } catch (e) {
    row('board figures', `not measured: ${(e as Error).message.split('\n')[0]}`);
  }
}

if (want('rv32')) {
  step('RV32 (rv32imc) bare-metal under qemu-system-riscv32 (boards/riscv/run.sh)');
  try {
    const r = await rv32Figures();
    row('RV32: code size, wasm3 / glue (bytes in the linked image)', `${fmt(r.codeBytes.wasm3)} / ${fmt(r.codeBytes.glue)}`, 'rv32CodeBytes');
    row('RV32: instructions per acked uplink, eager / lazy (minstret, 24 h)', `${fmt(r.eager.instructionsPerAckedUplink)} / ${fmt(r.lazy.instructionsPerAckedUplink)}`, 'rv32InstructionsPerUplink');
    row('RV32: instructions per boot, eager / lazy (restart on a used heap: eager / lazy)', `${fmt(r.eager.bootInstructions)} / ${fmt(r.lazy.bootInstructions)} (${fmt(r.eager.rebootInstructions)} / ${fmt(r.lazy.rebootInstructions)})`, 'rv32BootInstructions');
    row('RV32: wasm3 heap peak, eager / lazy (bytes)', `${fmt(r.eager.heapPeakBytes)} / ${fmt(r.lazy.heapPeakBytes)}`, 'rv32HeapPeakBytes');
    row('RV32: native stack peak, eager / lazy (bytes)', `${fmt(r.eager.nativeStackPeakBytes)} / ${fmt(r.lazy.nativeStackPeakBytes)}`, 'rv32NativeStackPeakBytes');
    json.rv32 = r;
  } catch (e) {
    row('RV32 figures', `not measured: ${(e as Error).message.split('\n')[0]}`);
  }
}

if (want('node')) {
  step('the module in Node under callgrind (two durations, the difference)');
  try {
    // callgrind prints its total on stderr, the script its count on stdout: read both.
    const totals = [2, 12].map((h) => {
      const res = execFileSync('bash', ['-c', `valgrind --tool=callgrind --callgrind-out-file=/dev/null node --import tsx tools/bench/node-uplinks.ts ${h} 2>&1`], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const refs = Number(/I\s+refs:\s+([\d,]+)/.exec(res)![1].replace(/,/g, ''));
      const acked = JSON.parse(/\{"hours".*\}/.exec(res)![0]).acked as number;
      return { refs, acked };
    });
    const perUplink = (totals[1].refs - totals[0].refs) / (totals[1].acked - totals[0].acked);
    row('Node: instructions per acked uplink (module + JS host + in-process cloud)', fmt(perUplink), undefined,
      { measured: perUplink, anchor: native, what: 'the same work in C' });
    json.node = { instructionsPerAckedUplink: perUplink, runs: totals };
  } catch (e) {
    row('Node instructions per uplink', `not measured: ${(e as Error).message.split('\n')[0]}`);
  }
}

if (want('fleet')) {
  // BENCH_REPEATS=1 for a quicker, noisier look.
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  step(`fleet throughput, 1,000 devices x 24 h: ${repeats} runs in process, 1 over sockets (several minutes)`);
  const tp = await fleetThroughput({ devices: 1000, hours: 24, repeats });
  for (const t of tp.rows) row(`fleet ${fmt(tp.devices)} x ${tp.hours} h: device-hours per second, ${t.label} (median of ${t.runs.length})`, `${fmt(t.median)} (x${fmt(t.median / tp.baseline, 2)} of ${tp.baselineLabel})`);
  json.fleet = tp;
}

if (want('chaos')) {
  // The chaos simulator (issue 10): the same profile as the CI slice, a tenth of its size.
  const chaosDays = Number(process.env.BENCH_CHAOS_DEVICE_DAYS ?? 1_000);
  step(`chaos: ${fmt(chaosDays)} device-days against the chaos cloud (a minute or two)`);
  const ch = await chaosFigures({ deviceDays: chaosDays });
  row(`chaos (${ch.profile} profile, seed ${ch.seed}): device-days / per second (${ch.workers} workers)`, `${fmt(ch.simulatedDeviceDays)} / ${fmt(ch.deviceDaysPerSecond, 1)}`);
  row('chaos: violations of any invariant', fmt(ch.violations));
  row('chaos: worst requests without a verified ack in one hour, any device', `${fmt(ch.worstRequestsPerHour)} (contract: 60)`, undefined,
    { measured: ch.worstRequestsPerHour, anchor: 60, what: 'the contract\'s budget' });
  row('chaos: worst recovery after honesty / devices never recovered', `${fmt(ch.worstRecoveryMs / 60_000, 1)} min / ${ch.neverRecovered}`);
  json.chaos = ch;
}

if (want('energy')) {
  step('energy: the issue-14 profile charged by the model per radio, and its TLS handshakes on real TLS');
  const en = await energyFigures();
  for (const [radio, r] of Object.entries(en.radios)) {
    row(`energy, ${radio}: mAh per day (position every ${en.profile.uplinkIntervalS} s, health every ${en.profile.heartbeatS} s, moving half the time)`,
      `${fmt(r.reuse.mAhPerDay, 2)} (GNSS ${fmt(r.reuse.perDay.gnss, 2)}, TLS ${fmt(r.reuse.perDay.tlsFull + r.reuse.perDay.tlsResumed, 2)}, radio ${fmt(r.reuse.perDay.association + r.reuse.perDay.radioWake + r.reuse.perDay.radioTail + r.reuse.perDay.transfer, 2)}, sleep ${fmt(r.reuse.perDay.sleep, 2)})`,
      undefined, { measured: r.reuse.mAhPerDay, anchor: r.none.mAhPerDay, what: 'no connection or session reuse' }, `at most ${fmt(r.reuse.batteryMah / en.goalDays, 1)}`);
    row(`energy, ${radio}: days on ${fmt(r.reuse.batteryMah)} mAh`, fmt(r.reuse.daysOnBattery, 1), undefined,
      { measured: r.reuse.daysOnBattery, anchor: r.none.daysOnBattery, what: 'no connection or session reuse' }, `at least ${en.goalDays}`);
    // sendIntervalS (issue 14 item 1) against the same run with each uplink sent at once.
    const at0 = 'the same with sendIntervalS 0';
    const perK = (n: number, c: { uplinks: number }) => (n * 1000) / c.uplinks;
    const fullK = perK(r.reuse.counts.tlsFull, r.reuse), fullK0 = perK(r.atOnce.counts.tlsFull, r.atOnce);
    row(`energy, ${radio}, sendIntervalS ${en.profile.sendIntervalS}: full / resumed TLS handshakes per 1,000 uplinks`,
      `${fmt(fullK, 1)} / ${fmt(perK(r.reuse.counts.tlsResumed, r.reuse), 1)} (sendIntervalS 0: ${fmt(fullK0, 1)} / ${fmt(perK(r.atOnce.counts.tlsResumed, r.atOnce), 1)})`,
      undefined, { measured: fullK, anchor: fullK0, what: at0 }, 'at most 50');
    const connK = perK(r.reuse.counts.connections, r.reuse), connK0 = perK(r.atOnce.counts.connections, r.atOnce);
    row(`energy, ${radio}, sendIntervalS ${en.profile.sendIntervalS}: connections per 1,000 uplinks`, fmt(connK, 1), undefined, { measured: connK, anchor: connK0, what: at0 });
    row(`energy, ${radio}, sendIntervalS ${en.profile.sendIntervalS}: days on ${fmt(r.reuse.batteryMah)} mAh`, fmt(r.reuse.daysOnBattery, 1), undefined,
      { measured: r.reuse.daysOnBattery, anchor: r.atOnce.daysOnBattery, what: at0 }, `at least ${en.goalDays}`);
  }
  const per1000 = (n: number, t = en.tls) => fmt((n * 1000) / t.uplinks, 1);
  row('real TLS (fake cloud on loopback, server counts): full / resumed handshakes per 1,000 uplinks', `${per1000(en.tls.measured.full)} / ${per1000(en.tls.measured.resumed)} (model: ${per1000(en.tls.model.full)} / ${per1000(en.tls.model.resumed)}; ${fmt(en.tls.uplinks)} uplinks)`);
  const t0 = en.tlsAtOnce;
  row('real TLS, the same with sendIntervalS 0: full / resumed handshakes per 1,000 uplinks', `${per1000(t0.measured.full, t0)} / ${per1000(t0.measured.resumed, t0)} (model: ${per1000(t0.model.full, t0)} / ${per1000(t0.model.resumed, t0)}; ${fmt(t0.uplinks)} uplinks)`);
  json.energy = en;
}

const cols = ['figure', 'value', 'goal', 'budget', 'anchor'] as const;
const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => r[c].length))])) as Record<(typeof cols)[number], number>;
const line = (cells: Record<(typeof cols)[number], string>) => cols.map((c) => cells[c].padEnd(width[c])).join('  ').trimEnd();
console.log(`\ntrackagent bench: ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, node ${process.version}\n`);
console.log(line({ figure: 'figure', value: 'value', goal: 'goal', budget: 'budget', anchor: 'anchor' }));
console.log(line({ figure: '-'.repeat(width.figure), value: '-'.repeat(width.value), goal: '-'.repeat(width.goal), budget: '-'.repeat(width.budget), anchor: '-'.repeat(width.anchor) }));
for (const r of rows) console.log(line(r));
fs.mkdirSync('build', { recursive: true });
json.table = rows;
const out = only ? `build/bench-${[...only].join('-')}.json` : 'build/bench.json';
fs.writeFileSync(out, JSON.stringify(json, null, 2));
console.log(`\nwritten: ${out}`);
