// The agent under wasm3 and its native anchor, measured: tools/bench/wasm3/wasm3_bench.c on
// the glue's simulated platform, and tools/bench/native/uplink_native.c. Instructions are
// counted by callgrind (x86-64) and always taken as the difference of two runs of different
// lengths, so start-up (process, parse, compile, agent_start) cancels out; start-up is
// measured on its own as a run of zero hours.
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RELEASE_WASM } from './figures.ts';

const run = promisify(execFile);
const BIG = { encoding: 'utf8' as const, maxBuffer: 16 << 20 };
const NATIVE_BIN = 'build/bench/uplink_native';

export interface SteadyRun { hours: number; instructions: number; uplinksAcked: number; wasm3: string }

export interface Wasm3Figures {
  wasm3: string;
  /** Steady state: (instructions at 48 h - at 24 h) / (uplinks acked at 48 h - at 24 h). */
  instructionsPerAckedUplink: number;
  /** A run of zero hours: process start, parse, compile every function (eager), agent_start, teardown. */
  startupInstructions: number;
  runs: SteadyRun[];
  /** The 2,000-record backlog drained through 16 KiB batches, as a 32-bit program (the ESP32's pointer size). */
  drainLazy: DrainRun;
  drainEager: DrainRun;
}

export interface DrainRun {
  status: string;
  backlog: number;
  batches: number;
  batchUplinksMax: number;
  batchBodyBytesMax: number;
  lost: number;
  outOfOrder: number;
  linearMemoryBytes: number;
  heapPeakOutageBytes: number;
  heapPeakBytes: number;
  wasmStackPeakBytes: number;
}

async function harness(m32: boolean): Promise<string> {
  const { stdout } = await run('bash', ['tools/bench/wasm3/build.sh', ...(m32 ? ['--m32'] : [])], BIG);
  return stdout.trim().split('\n').pop()!;
}

/** callgrind's total of one run, and the run's own JSON line. */
async function callgrind(cmd: string[]): Promise<{ instructions: number; out: Record<string, any> }> {
  const { stdout, stderr } = await run('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', ...cmd], BIG);
  const refs = /I\s+refs:\s+([\d,]+)/.exec(stderr);
  if (!refs) throw new Error(`callgrind printed no total for ${cmd.join(' ')}`);
  return { instructions: Number(refs[1].replace(/,/g, '')), out: JSON.parse(stdout.trim().split('\n').pop()!) };
}

export async function wasm3Figures(records = 2000): Promise<Wasm3Figures> {
  const native = await harness(false);
  const runs: SteadyRun[] = [];
  for (const hours of [0, 24, 48]) {
    const r = await callgrind([native, 'steady', RELEASE_WASM, String(hours)]);
    if (r.out.status !== 'ok') throw new Error(`wasm3_bench steady ${hours} h: ${r.out.status}`);
    runs.push({ hours, instructions: r.instructions, uplinksAcked: r.out.uplinksAcked, wasm3: r.out.wasm3 });
  }
  const m32 = await harness(true);
  const drain = async (lazy: boolean): Promise<DrainRun> => {
    const args = [m32, 'drain', RELEASE_WASM, String(records), ...(lazy ? ['lazy'] : [])];
    // Exit status 1 is a drain that lost, reordered or stalled: the figures still say which.
    const out = await run(args[0], args.slice(1), BIG).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    const line = out.stdout.trim().split('\n').pop();
    if (!line) throw new Error('wasm3_bench drain printed nothing');
    return JSON.parse(line) as DrainRun;
  };
  const drainLazy = await drain(true);
  const drainEager = await drain(false);
  const [, day, twoDays] = runs;
  return {
    wasm3: runs[0].wasm3,
    instructionsPerAckedUplink: Math.round((twoDays.instructions - day.instructions) / (twoDays.uplinksAcked - day.uplinksAcked)),
    startupInstructions: runs[0].instructions,
    runs, drainLazy, drainEager,
  };
}

/** Instructions per acknowledged uplink of the same work in C (gcc -O2), start-up cancelled out. */
export async function nativeInstructionsPerUplink(): Promise<number> {
  fs.mkdirSync('build/bench', { recursive: true });
  await run('gcc', ['-O2', '-std=c99', '-Wall', '-Wextra', '-Werror', 'tools/bench/native/uplink_native.c', '-o', NATIVE_BIN], BIG);
  const [a, b] = [1000, 11000];
  const ra = await callgrind([NATIVE_BIN, String(a)]);
  const rb = await callgrind([NATIVE_BIN, String(b)]);
  return (rb.instructions - ra.instructions) / (b - a);
}

/**
 * The peer the module's size is held against: wasm3 itself, as the boards build it (its .text,
 * 32-bit x86, -O2), the other part of what an over-the-air agent costs in flash.
 */
export async function interpreterTextBytes(): Promise<number> {
  const bin = await harness(true);
  const dir = bin.replace(/\/wasm3_bench$/, '/w3');
  const objects = fs.readdirSync(dir).filter((f) => f.endsWith('.o')).map((f) => `${dir}/${f}`);
  const { stdout } = await run('size', ['-t', ...objects], BIG);
  const total = stdout.trim().split('\n').pop()!.trim().split(/\s+/);
  return Number(total[0]);
}
