// The power-cut proof, command line (manual: tools/proof/README.md).
//
//   node --import tsx tools/proof/run.ts [--models atomic,torn,flaky] [--stride N] [--kv-stride N | --no-kv]
//       [--pairs] [--pair-rotations 0,1,2,-1] [--window 6] [--soak CUTS] [--soak-gap 60] [--soak-outage MIN] [--soak-in-backoff]
//       [--workers N] [--seed S] [--json FILE] [--wasm build/trackagent.wasm]
//   node --import tsx tools/proof/run.ts --seed S --replay MODEL:K[,J]
//
// Exit 0 when every invariant held in every run, 1 on any violation (the first failure is
// printed with the command that replays it), 2 on a usage error.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { FlashModel } from '../../host-sim/hal/flash.ts';
import { DEFAULT_SCENARIO } from './scenario.ts';
import {
  FULL_CONFIG, MODELS, elapsed, fmt, formatFailure, formatTables, loadModule, parseReplay, runProof, runTask, type ProofConfig,
} from './proof.ts';

function usage(message: string): never {
  process.stderr.write(`proof: ${message}: see tools/proof/README.md\n`);
  process.exit(2);
}

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, not ${v}`);
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      models: { type: 'string' },
      stride: { type: 'string' },
      'kv-stride': { type: 'string' },
      'no-kv': { type: 'boolean' },
      pairs: { type: 'boolean' },
      'pair-rotations': { type: 'string' },
      window: { type: 'string' },
      soak: { type: 'string' },
      'soak-gap': { type: 'string' },
      'soak-outage': { type: 'string' },
      'soak-in-backoff': { type: 'boolean' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      replay: { type: 'string' },
      json: { type: 'string' },
      wasm: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (e) {
  usage((e as Error).message);
}

if (args.help) {
  process.stdout.write(fs.readFileSync(new URL('./README.md', import.meta.url), 'utf8'));
  process.exit(0);
}

const seed = int('seed', args.seed, 0) ?? FULL_CONFIG.seed;
const soakOutageMin = int('soak-outage', args['soak-outage'], 1);
const scenarioFlags = [
  soakOutageMin === undefined ? '' : ` --soak-outage ${soakOutageMin}`,
  args['soak-in-backoff'] ? ' --soak-in-backoff' : '',
  args['soak-gap'] === undefined ? '' : ` --soak-gap ${args['soak-gap']}`,
].join('');
const scenario = {
  ...DEFAULT_SCENARIO,
  ...(soakOutageMin === undefined ? {} : { soakOutageMs: soakOutageMin * 60_000 }),
  ...(args['soak-in-backoff'] ? { soakCutInBackoff: true } : {}),
};
let module: WebAssembly.Module;
try {
  module = loadModule(args.wasm);
} catch (e) {
  usage((e as Error).message);
}

if (args.replay !== undefined) {
  let spec;
  try {
    spec = parseReplay(args.replay);
  } catch (e) {
    usage((e as Error).message);
  }
  const r = await runTask(module, { id: 0, part: spec.soak !== undefined ? 'soak' : spec.cuts.length === 0 ? 'baseline' : 'sweep', seed, scenario, verbose: true, soakGapMax: int('soak-gap', args['soak-gap'], 1) ?? FULL_CONFIG.soakGapMax, ...spec });
  const c = r.counts;
  console.log(`replay ${r.replay} (seed ${seed}): ${r.cutsFired} cuts fired, ${fmt(c.recorded)} uplinks recorded, ${fmt(c.delivered)} delivered ` +
    `(${c.uncertainDelivered} of ${c.uncertain} uncertain), ${c.resent} resent, ${c.lost} lost, ${c.duplicates} duplicates, ${c.boots} boots, ` +
    `${c.resets} resets, ${r.rotations} rotations, ${c.flashOps} flash ops, ${c.kvOps} KV sets, ${(r.virtualMs / 3_600_000).toFixed(1)} h virtual, ${elapsed(r.wallMs)}`);
  for (const e of r.cutEvents ?? []) console.log(`  cut: op ${e.op} (flash ${e.flashOp}, kv ${e.kvOp}) ${e.kind} ${e.target} landed ${e.landed} at ${(e.at / 1000).toFixed(0)} s`);
  if (Object.keys(r.errorLines).length > 0) console.log(`  module error lines: ${JSON.stringify(r.errorLines)}`);
  if (r.violations.length > 0) {
    console.log(formatFailure(r, seed, scenarioFlags));
    process.exit(1);
  }
  console.log('  every invariant held');
  process.exit(0);
}

const models = (args.models?.split(',') ?? MODELS) as FlashModel[];
for (const m of models) if (!MODELS.includes(m)) usage(`--models: ${m} is not one of ${MODELS.join(', ')}`);
const anyPart = args.stride !== undefined || args.pairs || args.soak !== undefined || args['kv-stride'] !== undefined;
const stride = int('stride', args.stride, 1) ?? (anyPart ? null : FULL_CONFIG.stride);
const kvStride = args['no-kv'] ? null : int('kv-stride', args['kv-stride'], 1) ?? stride;
let pairRotations: number[] | null = args.pairs || !anyPart ? FULL_CONFIG.pairRotations : null;
if (args['pair-rotations'] !== undefined) {
  pairRotations = args['pair-rotations'].split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) usage(`--pair-rotations: ${s} is not an integer`);
    return n;
  });
}
const cfg: ProofConfig = {
  ...FULL_CONFIG,
  models,
  stride,
  kvStride,
  pairRotations,
  pairWindow: int('window', args.window, 1) ?? FULL_CONFIG.pairWindow,
  soak: int('soak', args.soak, 0) ?? (anyPart ? 0 : FULL_CONFIG.soak),
  soakGapMax: int('soak-gap', args['soak-gap'], 1) ?? FULL_CONFIG.soakGapMax,
  workers: int('workers', args.workers, 0) ?? FULL_CONFIG.workers,
  seed,
  scenario,
  log: (line) => console.log(line),
};

console.log(`power-cut proof: models ${models.join(', ')}; sweep ${stride === null ? 'off' : `stride ${stride}`}; kv ${kvStride === null ? 'off' : `stride ${kvStride}`}; ` +
  `pairs ${pairRotations === null ? 'off' : `rotations ${pairRotations.join(',')} window ±${cfg.pairWindow}`}; soak ${cfg.soak > 0 ? `${fmt(cfg.soak)} cuts per model, gap 1..${cfg.soakGapMax}` : 'off'}; seed ${seed}`);
const report = await runProof(module, cfg);
console.log('');
console.log(formatTables(report));
const totals = report.rows.filter((r) => r.model === 'all' || report.rows.filter((x) => x.part === r.part).length === 1);
const sum = (k: 'runs' | 'cutsTried' | 'recorded' | 'delivered' | 'lost' | 'duplicates' | 'failures') => totals.reduce((n, r) => n + r[k], 0);
console.log(`total: ${fmt(sum('runs'))} runs, ${fmt(sum('cutsTried'))} cuts tried, ${fmt(sum('recorded'))} uplinks recorded, ${fmt(sum('delivered'))} delivered, ` +
  `lost ${fmt(sum('lost'))}, duplicates ${fmt(sum('duplicates'))}, ${fmt(sum('failures'))} failed runs; wall time ${elapsed(report.wallMs)}`);
if (Object.keys(report.errorLines).length > 0) {
  console.log('module error lines (all runs):');
  for (const [k, v] of Object.entries(report.errorLines).sort((a, b) => b[1] - a[1])) console.log(`  ${fmt(v).padStart(8)}  ${k}`);
}
if (args.json) fs.writeFileSync(args.json, JSON.stringify(report, null, 1));
if (!report.ok) {
  console.log('');
  console.log(formatFailure(report.failures[0], seed, scenarioFlags));
  process.exit(1);
}
console.log('every invariant held in every run');
