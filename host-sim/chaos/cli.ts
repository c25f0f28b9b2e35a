// The chaos simulator, command line (manual: host-sim/chaos/README.md).
//
//   npm run chaos -- --seed N --device-days D [--workers K] [--profile default] [--json]
//       [--no-shrink] [--shrink-budget RUNS] [--violations LINES] [--wasm build/trackagent.wasm]
//   npm run chaos -- --seed N --device-days D --device I [--length-h H] [--keep r3,c1|none] [--trace]
//   npm run chaos -- --board PATH [--seed N] [--board-seconds S]   (the Linux board over real HTTP, real time)
//
// Exit 0 when every invariant held, 1 on any violation, 2 on a usage error.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_WASM, loadModule } from '../sim-device.ts';
import { DEFAULT_BOARD, runBoardSlice } from './board.ts';
import { violationLine, formatReport, formatTrace } from './report.ts';
import { layout, resolveProfile, runAndCheck, runChaos } from './run.ts';

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}: see host-sim/chaos/README.md\n`);
  process.exit(2);
}

function num(name: string, v: string | undefined, min: number, integer = true): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) usage(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, not ${v}`);
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      seed: { type: 'string' },
      'device-days': { type: 'string' },
      workers: { type: 'string' },
      profile: { type: 'string' },
      device: { type: 'string' },
      'length-h': { type: 'string' },
      keep: { type: 'string' },
      trace: { type: 'boolean' },
      board: { type: 'string' },
      'board-seconds': { type: 'string' },
      json: { type: 'boolean' },
      'no-shrink': { type: 'boolean' },
      'shrink-budget': { type: 'string' },
      violations: { type: 'string' },
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

const seed = num('seed', args.seed, 0) ?? 1;
if (seed > 0xffffffff) usage('--seed must fit in 32 bits');

if (args.board !== undefined) {
  const seconds = num('board-seconds', args['board-seconds'], 10) ?? 120;
  let r;
  try {
    r = await runBoardSlice({ binary: args.board || DEFAULT_BOARD, wasm: args.wasm, seed, faultSeconds: seconds, drainSeconds: Math.max(10, Math.round(seconds / 5)) });
  } catch (e) {
    usage((e as Error).message);
  }
  const f = r.result.figures;
  const lines = [
    ...r.result.violations.map(violationLine),
    '',
    `board slice: ${r.segments} power-ons (exits ${Object.entries(r.exitCodes).map(([c, n]) => `${c} x${n}`).join(', ')}), ${f.requests} requests, ${f.recorded} recorded, ${r.trace.traps.length} traps, ${r.trace.kvDamage.length} store damages`,
    `violations ${Object.values(r.result.counts).reduce((a, b) => a + b, 0)}: ${Object.entries(r.result.counts).map(([k, n]) => `${k} ${n}`).join(', ')} (delivery, drops, density and recovery are judged by the in-process run only)`,
    `worst requests in one hour ${f.worstRequestsPerHour}`,
  ];
  process.stdout.write(args.json ? `${JSON.stringify({ counts: r.result.counts, figures: f, violations: r.result.violations, segments: r.segments, exitCodes: r.exitCodes }, null, 2)}\n` : `${lines.join('\n')}\n`);
  process.exit(r.result.violations.length === 0 ? 0 : 1);
}
const deviceDays = num('device-days', args['device-days'], 0, false);
if (deviceDays === undefined || deviceDays <= 0) usage('--device-days D is required (a positive number)');
const workers = num('workers', args.workers, 1) ?? 1;
const lengthH = num('length-h', args['length-h'], 0, false);
const only = args.device?.split(',').map((s) => num('device', s.trim(), 0)!);
const keep = args.keep === undefined ? null : args.keep === 'none' ? [] : args.keep.split(',').map((s) => s.trim()).filter(Boolean);
let profile;
let module: WebAssembly.Module;
try {
  profile = resolveProfile(args.profile);
  module = loadModule(args.wasm ?? DEFAULT_WASM);
} catch (e) {
  usage((e as Error).message);
}

if (args.trace) {
  if (!only) usage('--trace needs --device I');
  const { devices, lengthMs } = layout(deviceDays, profile);
  let failed = false;
  for (const index of only) {
    if (index >= devices) usage(`--device ${index}: this run has devices 0..${devices - 1}`);
    const r = await runAndCheck({ module, seed, index, fullLengthMs: lengthMs, profile, lengthMs: lengthH === undefined ? undefined : lengthH * 3_600_000, keep }, true);
    process.stdout.write(`${formatTrace(r.trace!, r.fired, r.summary)}\n`);
    if (r.summary.violations.length > 0) failed = true;
  }
  process.exit(failed ? 1 : 0);
}

let lastProgress = 0;
let report;
try {
  report = await runChaos({
    seed, deviceDays, workers, profile, module, only, keep,
    lengthMs: lengthH === undefined ? undefined : lengthH * 3_600_000,
    shrink: !args['no-shrink'],
    shrinkBudget: num('shrink-budget', args['shrink-budget'], 1),
    onProgress: (done, total) => {
      const t = performance.now();
      if (!process.stderr.isTTY || (t - lastProgress < 500 && done < total)) return;
      lastProgress = t;
      process.stderr.write(`\rchaos: ${done}/${total} devices`);
      if (done === total) process.stderr.write('\n');
    },
  });
} catch (e) {
  usage((e as Error).message);
}
if (args.json) process.stdout.write(`${JSON.stringify(report, (_k, v) => (v === Infinity ? 'Infinity' : v), 2)}\n`);
else process.stdout.write(`${formatReport(report, num('violations', args.violations, 0) ?? 20)}\n`);
process.exit(report.violations === 0 ? 0 : 1);
