// A seeded chaos run over many devices: each device's world (world.ts) run to its end and its
// trace checked (checker.ts), spread over worker threads when asked; the figures and the
// violations gathered; the first failing device of each broken invariant shrunk (shrink.ts).
// `runChaos` is the API (the CLI, the CI slice and the benchmark call it).
import { Worker } from 'node:worker_threads';
import { loadModule, DEFAULT_WASM } from '../sim-device.ts';
import { checkTrace, INVARIANT_NAMES, LIMITS, type DeviceFigures, type Invariant, type Violation } from './checker.ts';
import { shrinkRun } from './shrink.ts';
import { PROFILES, planDevice, type ChaosProfile, type DevicePlan } from './schedule.ts';
import { runDevice, type FiredEvent } from './world.ts';
import type { DeviceTrace } from './trace.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export interface ChaosOptions {
  seed: number;
  deviceDays: number;
  workers?: number;
  /** Profile name (schedule.ts PROFILES) or a profile. */
  profile?: string | ChaosProfile;
  module?: WebAssembly.Module;
  wasm?: string;
  /** Run only these device indices (a replay); default all. */
  only?: number[];
  /** Nominal length of each device's run, overriding the profile's share (a replay). */
  lengthMs?: number;
  /** Active fault events (a replay); default all. */
  keep?: string[] | null;
  /** Shrink the first failing device of each broken invariant (default true; at most `shrinkMax`). */
  shrink?: boolean;
  shrinkMax?: number;
  shrinkBudget?: number;
  /** Called after each device with the devices done so far. */
  onProgress?: (done: number, total: number) => void;
  /** Keep the traces of the devices run (replays of a few devices only). */
  keepTraces?: boolean;
}

/** What one device's run came to, as it travels from a worker. */
export interface DeviceSummary {
  index: number;
  deviceId: string;
  simulatedMs: number;
  nominalMs: number;
  aborted?: string;
  counts: Record<Invariant, number>;
  violations: Violation[];
  figures: DeviceFigures;
  boots: number;
  cuts: number;
  injectedTraps: number;
  kvDamage: number;
  firedEvents: number;
  honestAt: number;
  digest: number;
  wallMs: number;
}

export interface ShrinkReport {
  invariant: Invariant;
  index: number;
  deviceId: string;
  reproducedAlone: boolean;
  fullLengthMs: number;
  lengthMs: number;
  minimal: boolean;
  tests: number;
  events: FiredEvent[];
  violation: Violation | null;
  replay: string;
}

export interface ChaosReport {
  seed: number;
  profile: string;
  deviceDays: number;
  devices: number;
  daysPerDevice: number;
  workers: number;
  /** Device-days actually simulated (runs stopped early count to where they stopped). */
  simulatedDeviceDays: number;
  /** Wall time of the device runs (the shrinking after them is shrinkSeconds). */
  wallSeconds: number;
  deviceDaysPerSecond: number;
  shrinkSeconds: number;
  violations: number;
  byInvariant: Record<Invariant, number>;
  devicesFailing: number;
  worstRequestsPerHour: { value: number; deviceId: string } | null;
  /** Worst time from honesty to delivery of everything recorded before it (devices that got there). */
  worstRecovery: { ms: number; deviceId: string } | null;
  /** Devices that never delivered everything recorded before honesty (runs stopped early aside). */
  neverRecovered: number;
  totals: {
    requests: number; uplinkSends: number; recorded: number; delivered: number; dropped: number; verifiedAcks: number;
    boots: number; cuts: number; injectedTraps: number; kvDamage: number; firedEvents: number; aborted: number;
  };
  /** A sample of the violations (up to 20 per device and invariant, 50 per invariant here). */
  sample: Violation[];
  shrunk: ShrinkReport[];
  /** One number over every device's trace: same seed, same digest. */
  digest: string;
  traces?: DeviceTrace[];
}

export function resolveProfile(p: string | ChaosProfile | undefined): ChaosProfile {
  if (p === undefined) return PROFILES.default;
  if (typeof p !== 'string') return p;
  const found = PROFILES[p];
  if (!found) throw new Error(`no chaos profile '${p}': use one of ${Object.keys(PROFILES).join(', ')}`);
  return found;
}

/** How a run of D device-days is laid out: devices and each one's length. */
export function layout(deviceDays: number, profile: ChaosProfile): { devices: number; lengthMs: number } {
  if (!(deviceDays > 0)) throw new Error(`--device-days must be positive, not ${deviceDays}`);
  const devices = Math.max(1, Math.ceil(deviceDays / profile.daysPerDevice));
  return { devices, lengthMs: Math.round((deviceDays / devices) * DAY) };
}

/** FNV-1a over the parts of a trace that say what happened. */
export function traceDigest(t: DeviceTrace): number {
  let h = 0x811c9dc5;
  const text = (s: string) => { for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193); };
  const num = (n: number | undefined) => { h = Math.imul(h ^ ((n ?? -7) | 0), 0x01000193); h = Math.imul(h ^ Math.floor((n ?? 0) / 4294967296), 0x01000193); };
  for (const r of t.requests) { num(r.at); text(r.url); num(r.status); num(r.handledStatus); text(r.body); text(r.answerBody); }
  for (const r of t.records) { text(r.key); num(r.at); num(r.complete ? 1 : 0); num(r.erasedAt); num(r.payloadHash); }
  for (const l of t.logs) { num(l.at); text(l.line); }
  return h >>> 0;
}

export interface DeviceTask {
  module: WebAssembly.Module;
  seed: number;
  index: number;
  fullLengthMs: number;
  profile: ChaosProfile;
  lengthMs?: number;
  keep?: string[] | null;
}

/** Runs and checks one device. */
export async function runAndCheck(task: DeviceTask, keepTrace = false): Promise<{ summary: DeviceSummary; trace?: DeviceTrace; fired: FiredEvent[] }> {
  const plan: DevicePlan = planDevice(task.seed, task.index, task.fullLengthMs, task.profile);
  const run = await runDevice({ module: task.module, plan, profile: task.profile, lengthMs: task.lengthMs, mask: task.keep ? new Set(task.keep) : null });
  const t = run.trace;
  const c = checkTrace(t, LIMITS);
  const summary: DeviceSummary = {
    index: task.index, deviceId: t.deviceId,
    simulatedMs: t.aborted ? t.aborted.at : t.endAt - task.profile.drainMs,
    nominalMs: t.recordUntil,
    ...(t.aborted ? { aborted: t.aborted.reason } : {}),
    counts: c.counts, violations: c.violations, figures: c.figures,
    boots: run.boots, cuts: run.cuts, injectedTraps: run.injectedTraps, kvDamage: t.kvDamage.length,
    firedEvents: run.fired.length, honestAt: t.honestAt, digest: traceDigest(t), wallMs: run.wallMs,
  };
  return { summary, trace: keepTrace ? t : undefined, fired: run.fired };
}

/** Runs devices in this thread. */
async function runHere(tasks: DeviceTask[], onDevice: (s: DeviceSummary, t?: DeviceTrace) => void, keepTraces: boolean): Promise<void> {
  for (const task of tasks) {
    const r = await runAndCheck(task, keepTraces);
    onDevice(r.summary, r.trace);
    await new Promise<void>((resolve) => setImmediate(resolve)); // let signals and progress through
  }
}

/** Runs devices over worker threads, round-robin. */
async function runWorkers(tasks: DeviceTask[], workers: number, onDevice: (s: DeviceSummary) => void): Promise<void> {
  const shards: DeviceTask[][] = Array.from({ length: workers }, () => []);
  tasks.forEach((t, i) => shards[i % workers].push(t));
  const module = tasks[0].module;
  await Promise.all(shards.map((shard, k) => new Promise<void>((resolve, reject) => {
    if (shard.length === 0) { resolve(); return; }
    const w = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { module, tasks: shard.map(({ module: _m, ...rest }) => rest) },
    });
    let settled = false;
    w.on('message', (m: { type: string; summary?: DeviceSummary; message?: string }) => {
      if (m.type === 'device') onDevice(m.summary!);
      else if (m.type === 'done') { settled = true; resolve(); }
      else if (m.type === 'error') { settled = true; reject(new Error(m.message)); }
    });
    w.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
    w.on('exit', (code) => { if (!settled) { settled = true; reject(new Error(`chaos worker ${k} exited with code ${code}`)); } });
  })));
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = performance.now();
  const profile = resolveProfile(o.profile);
  const module = o.module ?? loadModule(o.wasm ?? DEFAULT_WASM);
  const { devices, lengthMs: fullLengthMs } = layout(o.deviceDays, profile);
  const indices = o.only ?? Array.from({ length: devices }, (_, i) => i);
  for (const i of indices) if (!Number.isInteger(i) || i < 0 || i >= devices) throw new Error(`--device ${i}: this run has devices 0..${devices - 1}`);
  if (o.lengthMs !== undefined && !(o.lengthMs > 0 && o.lengthMs <= fullLengthMs)) {
    throw new Error(`--length-h must be within 0..${fullLengthMs / HOUR} (the device's full length in this run)`);
  }
  const tasks: DeviceTask[] = indices.map((index) => ({ module, seed: o.seed >>> 0, index, fullLengthMs, profile, lengthMs: o.lengthMs, keep: o.keep ?? null }));
  const workers = Math.max(1, Math.min(Math.floor(o.workers ?? 1), tasks.length));

  const summaries: DeviceSummary[] = [];
  const traces: DeviceTrace[] = [];
  const onDevice = (s: DeviceSummary, t?: DeviceTrace) => {
    summaries.push(s);
    if (t) traces.push(t);
    o.onProgress?.(summaries.length, tasks.length);
  };
  if (workers === 1 || o.keepTraces) await runHere(tasks, onDevice, o.keepTraces ?? false);
  else await runWorkers(tasks, workers, onDevice);
  summaries.sort((a, b) => a.index - b.index);
  traces.sort((a, b) => a.index - b.index);

  const report = summarize(o, profile, devices, fullLengthMs, workers, summaries);
  report.wallSeconds = (performance.now() - started) / 1000;
  report.deviceDaysPerSecond = report.wallSeconds > 0 ? report.simulatedDeviceDays / report.wallSeconds : 0;
  if (o.keepTraces) report.traces = traces;
  const shrinkStarted = performance.now();
  if (o.shrink ?? true) {
    const broken = INVARIANT_NAMES.filter((k) => report.byInvariant[k] > 0);
    for (const inv of broken.slice(0, o.shrinkMax ?? broken.length)) {
      const first = summaries.find((s) => s.counts[inv] > 0)!;
      report.shrunk.push(await shrinkDevice({ module, seed: o.seed >>> 0, index: first.index, fullLengthMs, profile }, inv, o, o.shrinkBudget));
    }
  }
  report.shrinkSeconds = (performance.now() - shrinkStarted) / 1000;
  return report;
}

function summarize(o: ChaosOptions, profile: ChaosProfile, devices: number, fullLengthMs: number, workers: number, summaries: DeviceSummary[]): ChaosReport {
  const byInvariant = Object.fromEntries(INVARIANT_NAMES.map((k) => [k, 0])) as Record<Invariant, number>;
  const totals = { requests: 0, uplinkSends: 0, recorded: 0, delivered: 0, dropped: 0, verifiedAcks: 0, boots: 0, cuts: 0, injectedTraps: 0, kvDamage: 0, firedEvents: 0, aborted: 0 };
  const sample: Violation[] = [];
  const perInvariantSample = new Map<Invariant, number>();
  let simulatedMs = 0;
  let failing = 0;
  let worstHour: ChaosReport['worstRequestsPerHour'] = null;
  let worstRecovery: ChaosReport['worstRecovery'] = null;
  let neverRecovered = 0;
  let digest = 0x811c9dc5;
  for (const s of summaries) {
    simulatedMs += s.simulatedMs;
    let any = false;
    for (const k of INVARIANT_NAMES) { byInvariant[k] += s.counts[k]; if (s.counts[k] > 0) any = true; }
    if (any) failing++;
    for (const v of s.violations) {
      const n = perInvariantSample.get(v.invariant) ?? 0;
      if (n < 50) { sample.push(v); perInvariantSample.set(v.invariant, n + 1); }
    }
    const f = s.figures;
    totals.requests += f.requests; totals.uplinkSends += f.uplinkSends; totals.recorded += f.recorded; totals.delivered += f.delivered;
    totals.dropped += f.dropped; totals.verifiedAcks += f.verifiedAcks;
    totals.boots += s.boots; totals.cuts += s.cuts; totals.injectedTraps += s.injectedTraps; totals.kvDamage += s.kvDamage;
    totals.firedEvents += s.firedEvents; if (s.aborted) totals.aborted++;
    if (!worstHour || f.worstRequestsPerHour > worstHour.value) worstHour = { value: f.worstRequestsPerHour, deviceId: s.deviceId };
    if (f.recoveryMs !== null) {
      if (!Number.isFinite(f.recoveryMs)) neverRecovered++;
      else if (!worstRecovery || f.recoveryMs > worstRecovery.ms) worstRecovery = { ms: f.recoveryMs, deviceId: s.deviceId };
    }
    digest = Math.imul(digest ^ s.digest, 0x01000193) >>> 0;
  }
  const violations = INVARIANT_NAMES.reduce((a, k) => a + byInvariant[k], 0);
  const simulatedDeviceDays = simulatedMs / DAY;
  return {
    seed: o.seed >>> 0, profile: profile.name, deviceDays: o.deviceDays, devices, daysPerDevice: fullLengthMs / DAY, workers,
    simulatedDeviceDays, wallSeconds: 0, deviceDaysPerSecond: 0, shrinkSeconds: 0, violations, byInvariant, devicesFailing: failing,
    worstRequestsPerHour: worstHour, worstRecovery, neverRecovered, totals, sample, shrunk: [], digest: digest.toString(16).padStart(8, '0'),
  };
}

async function shrinkDevice(base: Omit<DeviceTask, 'lengthMs' | 'keep'>, invariant: Invariant, o: ChaosOptions, budget = 150): Promise<ShrinkReport> {
  const run = (lengthMs: number, keep: string[] | null) => runAndCheck({ ...base, lengthMs, keep });
  const shrunk = await shrinkRun<string>({
    fullLengthMs: base.fullLengthMs,
    fails: async (lengthMs, keep) => (await run(lengthMs, keep)).summary.counts[invariant] > 0,
    firedAt: async (lengthMs) => [...new Set((await run(lengthMs, null)).fired.map((e) => e.id))],
    budget,
  });
  const final = await run(shrunk.lengthMs, shrunk.reproducedAlone ? shrunk.events : null);
  const keepSet = new Set(shrunk.events);
  const events = final.fired.filter((e) => keepSet.has(e.id));
  const violation = final.summary.violations.find((v) => v.invariant === invariant) ?? null;
  const keepArg = shrunk.events.length === 0 ? 'none' : shrunk.events.join(',');
  const replay = `npm run chaos -- --seed ${base.seed} --device-days ${o.deviceDays}${base.profile.name !== 'default' ? ` --profile ${base.profile.name}` : ''} --device ${base.index} --length-h ${+(shrunk.lengthMs / HOUR).toFixed(3)} --keep ${keepArg} --trace`;
  return {
    invariant, index: base.index, deviceId: final.summary.deviceId, reproducedAlone: shrunk.reproducedAlone,
    fullLengthMs: base.fullLengthMs, lengthMs: shrunk.lengthMs, minimal: shrunk.minimal, tests: shrunk.tests + 1, events, violation, replay,
  };
}
