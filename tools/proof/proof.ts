// The power-cut proof as a library: plans the runs (baseline, every-operation sweep, KV sweep,
// pairs across key-rotation commits, soak), spreads them over worker threads, sums them per
// part and keeps the first failure with what replays it. run.ts is its command line; the CI
// slice (test/proof.test.ts) calls runProof with a bounded configuration.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FlashModel } from '../../host-sim/hal/flash.ts';
import { World, type CutEvent, type CutPoint, type Violation, type WorldCounts } from './world.ts';
import { DEFAULT_SCENARIO, runScenario, type ScenarioOptions } from './scenario.ts';

export { loadModule } from '../../host-sim/sim-device.ts';
export const MODELS: FlashModel[] = ['atomic', 'torn', 'flaky'];

export type PartName = 'baseline' | 'sweep' | 'kv' | 'pairs' | 'soak';

/** One run: a fresh world, a cut plan, the scenario to its end, the invariants. */
export interface TaskSpec {
  id: number;
  part: PartName;
  model: FlashModel;
  seed: number;
  cuts: CutPoint[];
  /** Soak: cuts to make, every random 1..soakGapMax operations. */
  soak?: number;
  soakGapMax?: number;
  scenario: ScenarioOptions;
  /** Keep the world's details (cut events, log tail) even when the run passes. */
  verbose?: boolean;
}

export interface TaskResult {
  id: number;
  part: PartName;
  model: FlashModel;
  replay: string;
  counts: WorldCounts;
  /** Cuts that fired (a plan's cut that never fires is a violation). */
  cutsFired: number;
  kvCuts: number;
  rotations: number;
  outages: number;
  virtualMs: number;
  wallMs: number;
  violations: Violation[];
  errorLines: Record<string, number>;
  /** Baseline: where each `cred` commit happened. */
  credCommits?: { op: number; flashOp: number; kvOp: number; at: number }[];
  /** Failures and verbose runs: the cuts, the last log lines. */
  cutEvents?: CutEvent[];
  logTail?: string[];
  /** A JS exception ended the run (a bug of the host or of the proof, or a hot loop). */
  crashed?: string;
}

// ---- one run (in a worker or here) ------------------------------------------------------------

export async function runTask(module: WebAssembly.Module, t: TaskSpec): Promise<TaskResult> {
  const wall = performance.now();
  const world = new World({ model: t.model, seed: t.seed, module, cuts: t.cuts, noteCredCommits: t.part === 'baseline' });
  const scenario: ScenarioOptions = t.soak !== undefined ? { ...t.scenario, soakCuts: t.soak, soakGapMax: t.soakGapMax, soakSeed: t.seed } : t.scenario;
  const base = { id: t.id, part: t.part, model: t.model, replay: replayOf(t) };
  try {
    const r = await runScenario(world, scenario);
    const failed = r.violations.length > 0;
    return {
      ...base,
      counts: r.counts,
      cutsFired: r.cuts.length,
      kvCuts: r.cuts.filter((c) => c.kind === 'kv').length,
      rotations: r.rotations,
      outages: r.outages,
      virtualMs: r.virtualMs,
      wallMs: performance.now() - wall,
      violations: r.violations.slice(0, 10),
      errorLines: r.errorLines,
      credCommits: t.part === 'baseline' ? r.credCommits : undefined,
      cutEvents: failed || t.verbose ? r.cuts.slice(0, t.verbose ? 50 : 10) : undefined,
      logTail: failed || t.verbose ? world.findings.logTail() : undefined,
    };
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const counts = world.verify();
    return {
      ...base,
      counts,
      cutsFired: world.plan.cuts.length,
      kvCuts: world.plan.cuts.filter((c) => c.kind === 'kv').length,
      rotations: 0,
      outages: 0,
      virtualMs: world.sched.now,
      wallMs: performance.now() - wall,
      violations: [{ what: 'crash', detail: message, at: world.sched.now }, ...world.findings.violations.slice(0, 9)],
      errorLines: Object.fromEntries(world.findings.errorLines),
      cutEvents: world.plan.cuts.slice(0, 10),
      logTail: world.findings.logTail(),
      crashed: e instanceof Error ? e.stack ?? message : message,
    };
  }
}

// ---- replay strings ---------------------------------------------------------------------------

/** `model:k` (flash op k), `model:op12,op17` (unified ops), `model:kv5+` / `kv5-` (KV set lands / not), `model:soak500`. */
export function replayOf(t: Pick<TaskSpec, 'model' | 'cuts' | 'soak'>): string {
  if (t.soak !== undefined) return `${t.model}:soak${t.soak}`;
  if (t.cuts.length === 0) return `${t.model}:none`;
  return `${t.model}:` + t.cuts.map((c) => c.space === 'flash' ? String(c.index) : c.space === 'op' ? `op${c.index}` : `kv${c.index}${c.kvLands === undefined ? '' : c.kvLands ? '+' : '-'}`).join(',');
}

export function parseReplay(text: string): Pick<TaskSpec, 'model' | 'cuts' | 'soak'> {
  const colon = text.indexOf(':');
  const model = (colon < 0 ? text : text.slice(0, colon)) as FlashModel;
  if (!MODELS.includes(model)) throw new Error(`--replay ${text}: model must be one of ${MODELS.join(', ')}`);
  const rest = colon < 0 ? 'none' : text.slice(colon + 1);
  if (rest === 'none') return { model, cuts: [] };
  const soak = /^soak(\d+)$/.exec(rest);
  if (soak) return { model, cuts: [], soak: Number(soak[1]) };
  const cuts: CutPoint[] = rest.split(',').map((p) => {
    let m = /^(?:f|flash)?(\d+)$/.exec(p);
    if (m) return { space: 'flash', index: Number(m[1]) };
    m = /^op(\d+)$/.exec(p);
    if (m) return { space: 'op', index: Number(m[1]) };
    m = /^kv(\d+)([+-]?)$/.exec(p);
    if (m) return { space: 'kv', index: Number(m[1]), kvLands: m[2] === '' ? undefined : m[2] === '+' };
    throw new Error(`--replay ${text}: cut point ${p} is not N, opN, kvN+, kvN- or soakN`);
  });
  return { model, cuts };
}

// ---- the pool ---------------------------------------------------------------------------------

/** Runs tasks on `workers` threads (0: in this thread), calling onResult as each finishes. */
export async function runPool(module: WebAssembly.Module, tasks: TaskSpec[], workers: number, onResult: (r: TaskResult) => void): Promise<void> {
  if (tasks.length === 0) return;
  if (workers <= 0) {
    for (const t of tasks) {
      onResult(await runTask(module, t));
      await new Promise((resolve) => setImmediate(resolve)); // let the event loop breathe between runs
    }
    return;
  }
  let next = 0;
  const n = Math.min(workers, tasks.length);
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { module } });
    let current: TaskSpec | undefined;
    let finished = false;
    const feed = () => {
      current = tasks[next++];
      if (current === undefined) {
        finished = true;
        void w.terminate();
        resolve();
        return;
      }
      w.postMessage(current);
    };
    w.on('message', (m: { type: 'ready' } | { type: 'result'; result: TaskResult }) => {
      if (m.type === 'result') onResult(m.result);
      feed();
    });
    w.on('error', (e) => { if (!finished) { finished = true; reject(e); } });
    w.on('exit', (code) => { if (!finished) { finished = true; reject(new Error(`proof worker exited with code ${code} during ${current ? replayOf(current) : 'start-up'}`)); } });
  })));
}

// ---- the plan ---------------------------------------------------------------------------------

export interface ProofConfig {
  models: FlashModel[];
  /** Sweep: cut at every stride-th flash operation (1: every one), always the first and last few. */
  stride: number | null;
  /** KV sweep: every kvStride-th KV set, landing and not (null: skip). */
  kvStride: number | null;
  /** Pairs across these rotations' cred commits (index into the baseline's commits; negative from the end). */
  pairRotations: number[] | null;
  pairWindow: number;
  /** Soak: cuts per model (0: skip). */
  soak: number;
  soakGapMax: number;
  workers: number;
  seed: number;
  scenario: ScenarioOptions;
  /** Progress lines (a line every 10 % of a part). */
  log?: (line: string) => void;
}

export const FULL_CONFIG: ProofConfig = {
  models: MODELS,
  stride: 1,
  kvStride: 1,
  pairRotations: [0, 1, 2, -1],
  pairWindow: 6,
  soak: 10_000,
  soakGapMax: 60,
  workers: Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8)),
  seed: 1,
  scenario: DEFAULT_SCENARIO,
};

export interface PartRow {
  part: PartName;
  model: FlashModel | 'all';
  runs: number;
  cutsTried: number;
  kvCuts: number;
  recorded: number;
  delivered: number;
  uncertainDelivered: number;
  resent: number;
  lost: number;
  duplicates: number;
  failures: number;
  boots: number;
  identityChecks: number;
  wallMs: number;
}

export interface Baseline {
  flashOps: number;
  kvOps: number;
  ops: number;
  recorded: number;
  rotations: number;
  resets: number;
  outages: number;
  backfillRequests: number;
  virtualMs: number;
  credCommits: { op: number; flashOp: number; kvOp: number; at: number }[];
}

export interface ProofReport {
  seed: number;
  baseline: Baseline;
  rows: PartRow[];
  failures: TaskResult[];
  errorLines: Record<string, number>;
  wallMs: number;
  ok: boolean;
}

function emptyRow(part: PartName, model: FlashModel | 'all'): PartRow {
  return { part, model, runs: 0, cutsTried: 0, kvCuts: 0, recorded: 0, delivered: 0, uncertainDelivered: 0, resent: 0, lost: 0, duplicates: 0, failures: 0, boots: 0, identityChecks: 0, wallMs: 0 };
}

function addTo(row: PartRow, r: TaskResult): void {
  row.runs++;
  row.cutsTried += r.cutsFired;
  row.kvCuts += r.kvCuts;
  row.recorded += r.counts.recorded;
  row.delivered += r.counts.delivered;
  row.uncertainDelivered += r.counts.uncertainDelivered;
  row.resent += r.counts.resent;
  row.lost += r.counts.lost;
  row.duplicates += r.counts.duplicates;
  row.boots += r.counts.boots;
  row.identityChecks += r.counts.identityChecks;
  row.wallMs += r.wallMs;
  if (r.violations.length > 0) row.failures++;
}

/** Flash-op indices of a sweep: every stride-th, and always the first and last five. */
export function sweepPoints(total: number, stride: number): number[] {
  const ks = new Set<number>();
  for (let k = 1; k <= total; k += stride) ks.add(k);
  for (let k = 1; k <= Math.min(5, total); k++) ks.add(k);
  for (let k = Math.max(1, total - 4); k <= total; k++) ks.add(k);
  return [...ks].sort((a, b) => a - b);
}

/** Every pair i < j of unified operation indices within ±window of `center`. */
export function pairPoints(center: number, window: number, maxOp: number): [number, number][] {
  const lo = Math.max(1, center - window);
  const hi = Math.min(maxOp, center + window);
  const out: [number, number][] = [];
  for (let i = lo; i <= hi; i++) for (let j = i + 1; j <= hi; j++) out.push([i, j]);
  return out;
}

export async function runBaseline(module: WebAssembly.Module, seed: number, scenario: ScenarioOptions): Promise<{ baseline: Baseline; result: TaskResult }> {
  const r = await runTask(module, { id: 0, part: 'baseline', model: 'atomic', seed, cuts: [], scenario });
  const c = r.counts;
  return {
    result: r,
    baseline: {
      flashOps: c.flashOps,
      kvOps: c.kvOps,
      ops: c.flashOps + c.kvOps,
      recorded: c.recorded,
      rotations: r.rotations,
      resets: c.resets,
      outages: r.outages,
      backfillRequests: c.backfillRequests,
      virtualMs: r.virtualMs,
      credCommits: r.credCommits ?? [],
    },
  };
}

/** The whole proof (or a slice of it): baseline, then every part over the worker pool. */
export async function runProof(module: WebAssembly.Module, cfg: ProofConfig): Promise<ProofReport> {
  const wall = performance.now();
  const log = cfg.log ?? (() => {});
  const { baseline, result: base } = await runBaseline(module, cfg.seed, cfg.scenario);
  const failures: TaskResult[] = [];
  const errorLines: Record<string, number> = {};
  const note = (r: TaskResult) => {
    if (r.violations.length > 0 && failures.length < 20) failures.push(r);
    for (const [k, v] of Object.entries(r.errorLines)) errorLines[k] = (errorLines[k] ?? 0) + v;
  };
  note(base);
  log(`baseline (seed ${cfg.seed}): ${fmt(baseline.flashOps)} flash operations, ${fmt(baseline.kvOps)} KV sets, ` +
    `${fmt(baseline.recorded)} uplinks, ${baseline.rotations} rotations (${baseline.credCommits.length} cred commits), ` +
    `${baseline.outages} outages (${baseline.backfillRequests} backfill requests), ${(baseline.virtualMs / 3_600_000).toFixed(1)} h virtual` +
    (base.violations.length > 0 ? `; FAILED: ${base.violations[0].what}: ${base.violations[0].detail}` : ''));

  // The plan.
  const tasks: TaskSpec[] = [];
  let id = 1;
  const add = (part: PartName, model: FlashModel, cuts: CutPoint[], extra: Partial<TaskSpec> = {}) =>
    tasks.push({ id: id++, part, model, seed: cfg.seed, cuts, scenario: cfg.scenario, ...extra });
  // Soaks first: the longest runs, so that they overlap the rest.
  if (cfg.soak > 0) for (const m of cfg.models) add('soak', m, [], { soak: cfg.soak, soakGapMax: cfg.soakGapMax });
  if (cfg.stride !== null) {
    const ks = sweepPoints(baseline.flashOps, cfg.stride);
    for (const m of cfg.models) for (const k of ks) add('sweep', m, [{ space: 'flash', index: k }]);
  }
  if (cfg.kvStride !== null) {
    // A KV cut does not depend on the flash model: one model, both outcomes.
    for (let k = 1; k <= baseline.kvOps; k += cfg.kvStride) {
      add('kv', 'atomic', [{ space: 'kv', index: k, kvLands: false }]);
      add('kv', 'atomic', [{ space: 'kv', index: k, kvLands: true }]);
    }
  }
  if (cfg.pairRotations !== null && baseline.credCommits.length > 0) {
    const n = baseline.credCommits.length;
    const chosen = [...new Set(cfg.pairRotations.map((r) => (r < 0 ? n + r : r)).filter((r) => r >= 0 && r < n))];
    for (const m of cfg.models) {
      for (const r of chosen) {
        for (const [i, j] of pairPoints(baseline.credCommits[r].op, cfg.pairWindow, baseline.ops)) {
          add('pairs', m, [{ space: 'op', index: i }, { space: 'op', index: j }]);
        }
      }
    }
  }

  // Progress: a line every 10 % of each part.
  const totals = new Map<PartName, number>();
  for (const t of tasks) totals.set(t.part, (totals.get(t.part) ?? 0) + 1);
  const done = new Map<PartName, number>();
  const partFailures = new Map<PartName, number>();
  const rows = new Map<string, PartRow>();
  for (const t of tasks) {
    if (!rows.has(`${t.part}/${t.model}`)) rows.set(`${t.part}/${t.model}`, emptyRow(t.part, t.model));
  }
  const partCount = [...totals.keys()];
  log(`plan: ${partCount.map((p) => `${p} ${fmt(totals.get(p)!)} runs`).join(', ')} on ${cfg.workers} worker${cfg.workers === 1 ? '' : 's'}`);
  await runPool(module, tasks, cfg.workers, (r) => {
    addTo(rows.get(`${r.part}/${r.model}`)!, r);
    note(r);
    if (r.violations.length > 0) {
      partFailures.set(r.part, (partFailures.get(r.part) ?? 0) + 1);
      if ((partFailures.get(r.part) ?? 0) <= 3) log(`  FAILED ${r.part} ${r.replay}: ${r.violations[0].what}: ${r.violations[0].detail}`);
    }
    const total = totals.get(r.part)!;
    const before = done.get(r.part) ?? 0;
    done.set(r.part, before + 1);
    const step = (x: number) => Math.floor((x * 10) / total);
    if (step(before + 1) > step(before)) {
      log(`${r.part}: ${step(before + 1) * 10}% (${fmt(before + 1)}/${fmt(total)} runs, ${partFailures.get(r.part) ?? 0} failed, ${elapsed(performance.now() - wall)})`);
    }
  });

  const ordered: PartRow[] = [];
  for (const part of ['sweep', 'kv', 'pairs', 'soak'] as PartName[]) {
    const mine = [...rows.values()].filter((r) => r.part === part);
    if (mine.length === 0) continue;
    ordered.push(...mine);
    if (mine.length > 1) {
      const all = emptyRow(part, 'all');
      for (const r of mine) for (const k of Object.keys(all) as (keyof PartRow)[]) if (typeof all[k] === 'number') (all[k] as number) += r[k] as number;
      ordered.push(all);
    }
  }
  const ok = failures.length === 0;
  return { seed: cfg.seed, baseline, rows: ordered, failures, errorLines, wallMs: performance.now() - wall, ok };
}

// ---- printing ---------------------------------------------------------------------------------

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function elapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const COLUMNS: [string, (r: PartRow) => string][] = [
  ['model', (r) => r.model],
  ['runs', (r) => fmt(r.runs)],
  ['cuts tried', (r) => fmt(r.cutsTried)],
  ['(kv)', (r) => fmt(r.kvCuts)],
  ['uplinks recorded', (r) => fmt(r.recorded)],
  ['delivered', (r) => fmt(r.delivered)],
  ['uncertain delivered', (r) => fmt(r.uncertainDelivered)],
  ['resent', (r) => fmt(r.resent)],
  ['lost', (r) => fmt(r.lost)],
  ['duplicates', (r) => fmt(r.duplicates)],
  ['failures', (r) => fmt(r.failures)],
  ['boots', (r) => fmt(r.boots)],
  ['identity checks', (r) => fmt(r.identityChecks)],
  ['cpu', (r) => elapsed(r.wallMs)],
];

const PART_TITLES: Record<PartName, string> = {
  baseline: 'baseline',
  sweep: 'sweep: a cut at every flash program and erase',
  kv: 'kv: a cut at every KV set, landing and not',
  pairs: 'pairs: two cuts across key-rotation commits',
  soak: 'soak: a cut every random 1..N operations',
};

/** One table per part. */
export function formatTables(report: ProofReport): string {
  const out: string[] = [];
  for (const part of ['sweep', 'kv', 'pairs', 'soak'] as PartName[]) {
    const rows = report.rows.filter((r) => r.part === part);
    if (rows.length === 0) continue;
    const cells = [COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, f]) => f(r)))];
    const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
    out.push(PART_TITLES[part]);
    cells.forEach((c, n) => {
      out.push('  ' + c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  '));
      if (n === 0) out.push('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
    });
    out.push('');
  }
  return out.join('\n');
}

export function formatFailure(r: TaskResult, seed: number, flags = ''): string {
  const lines = [`first failure: ${r.part} ${r.replay} (seed ${seed}); replay: node --import tsx tools/proof/run.ts --seed ${seed} --replay ${r.replay}${flags}`];
  for (const v of r.violations) lines.push(`  ${v.what} at ${(v.at / 1000).toFixed(0)} s: ${v.detail}`);
  if (r.cutEvents?.length) {
    lines.push('  cuts:');
    for (const c of r.cutEvents) lines.push(`    op ${c.op} (flash ${c.flashOp}, kv ${c.kvOp}) ${c.kind} ${c.target} landed ${c.landed} at ${(c.at / 1000).toFixed(0)} s`);
  }
  if (r.crashed) lines.push(`  ${r.crashed.split('\n').slice(0, 6).join('\n  ')}`);
  if (r.logTail?.length) {
    lines.push('  last module log lines:');
    for (const l of r.logTail.slice(-15)) lines.push(`    ${l}`);
  }
  return lines.join('\n');
}
