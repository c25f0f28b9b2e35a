// What one call into the module allocates, measured: the figure the collector's reserve
// (HEAP_RESERVE in assembly/entry.ts) must cover. A call returns with a collection when the
// heap's largest free block is under the reserve, so the next call starts with at least that
// much free; a call that allocates more could grow linear memory past its one page.
//
// The module is built once more with AssemblyScript's allocation tracing (ASC_RTRACE: the
// allocator reports every block it hands out, resizes and frees) and run through scenarios
// that allocate the most: a backlog drained through 16 KiB batches, live operation on the
// factory settings, live operation with a connect every 10 minutes and a key reset every 8
// hours, refusals carrying error bodies and the longest Retry-After the host passes, and
// connect answers crowded with 32 long member names.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { world, backlogFigures, RELEASE_WASM } from './figures.ts';
import { STAT } from '../../host-sim/device-host.ts';

export const RTRACE_WASM = 'build/bench/trackagent.rtrace.wasm';
const HOUR = 3_600_000;
const BLOCK_OVERHEAD = 4; // TLSF's block header on wasm32 (rt/common.ts)
const EXPORTS = ['agent_start', 'agent_step', 'on_http_response', 'on_gnss_fix'];

export interface ScenarioAllocation {
  steps: number;
  collections: number;
  /** The most one call other than agent_start allocated, net of what it freed, at any moment. */
  maxCallBytes: number;
  maxCallExport: string;
  /** Managed bytes alive after a collection, at most (the collector's own count). */
  liveBytesMax: number;
  /** Linear memory at the end, pages. */
  pages: number;
}

export interface AllocationFigures {
  scenarios: Record<string, ScenarioAllocation>;
  /** Over every scenario but the crowded answers (reported apart: it grows memory today). */
  maxCallBytes: number;
  maxCallWhere: string;
  /** agent_start, on a heap that holds nothing yet. */
  agentStartBytes: number;
  /** Where the heap starts: static data and the request body (the receive buffer shares it) below it. */
  heapBase: number;
}

/** Builds the tracing variant of the release module when it is missing or older than the module. */
export function buildTracingModule(): string {
  const fresh = fs.existsSync(RTRACE_WASM) && fs.statSync(RTRACE_WASM).mtimeMs >= fs.statSync(RELEASE_WASM).mtimeMs;
  if (!fresh) {
    fs.mkdirSync('build/bench', { recursive: true });
    execFileSync('npx', ['asc', '--config', path.resolve('asconfig.json'), '--target', 'release', '--use', 'ASC_RTRACE=1', '-o', RTRACE_WASM], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return RTRACE_WASM;
}

/** The allocator's reports, summed per call. */
class Tracer {
  memory: WebAssembly.Memory | null = null;
  heapBase = 0;
  agentStartBytes = 0;
  current: ScenarioAllocation = Tracer.empty();
  private sizes = new Map<number, number>();
  private used = 0;
  private callPeak = 0;

  static empty(): ScenarioAllocation {
    return { steps: 0, collections: 0, maxCallBytes: 0, maxCallExport: '', liveBytesMax: 0, pages: 1 };
  }

  private size(block: number): number {
    return (new Uint32Array(this.memory!.buffer, block, 1)[0] & ~3) + BLOCK_OVERHEAD;
  }
  private add(delta: number) {
    this.used += delta;
    if (this.used > this.callPeak) this.callPeak = this.used;
  }

  readonly imports = {
    oninit: (heapBase: number) => { this.heapBase = heapBase; },
    onalloc: (block: number) => {
      if (!this.memory) return; // the module's own start, before the host has its memory
      const n = this.size(block);
      this.sizes.set(block, n);
      this.add(n);
    },
    onresize: (block: number) => {
      const old = this.sizes.get(block);
      if (old === undefined || !this.memory) return;
      const n = this.size(block);
      this.sizes.set(block, n);
      this.add(n - old);
    },
    onmove: () => {}, // reported as an alloc of the new block and a free of the old one
    onfree: (block: number) => {
      const old = this.sizes.get(block);
      if (old === undefined) return;
      this.sizes.delete(block);
      this.add(-old);
    },
    onvisit: () => true,
    oncollect: (total: number) => {
      this.current.collections++;
      this.current.liveBytesMax = Math.max(this.current.liveBytesMax, total);
    },
    onstore: (ptr: number) => ptr,
  };

  wrap<F extends (...a: never[]) => unknown>(name: string, f: F): F {
    return ((...a: never[]) => {
      if (name === 'agent_step') this.current.steps++;
      const base = this.used;
      this.callPeak = this.used;
      try {
        return f(...a);
      } finally {
        const bytes = this.callPeak - base;
        if (name === 'agent_start') this.agentStartBytes = Math.max(this.agentStartBytes, bytes);
        else if (bytes > this.current.maxCallBytes) {
          this.current.maxCallBytes = bytes;
          this.current.maxCallExport = name;
        }
      }
    }) as F;
  }
}

/**
 * Runs `body` with every WebAssembly instance made meanwhile given the tracer's imports and
 * its exports wrapped (the device host makes a new instance at boot and after a trap).
 */
async function traced(tracer: Tracer, body: () => Promise<void>): Promise<void> {
  const Instance = WebAssembly.Instance;
  const patched = function (module: WebAssembly.Module, imports: WebAssembly.Imports) {
    tracer.memory = null;
    const inst = new Instance(module, { ...imports, rtrace: tracer.imports });
    const ex = inst.exports as Record<string, unknown>;
    tracer.memory = ex.memory as WebAssembly.Memory;
    const wrapped: Record<string, unknown> = { ...ex };
    for (const name of EXPORTS) wrapped[name] = tracer.wrap(name, ex[name] as (...a: never[]) => unknown);
    return { exports: wrapped };
  };
  (WebAssembly as { Instance: unknown }).Instance = patched;
  try {
    await body();
  } finally {
    (WebAssembly as { Instance: unknown }).Instance = Instance;
  }
}

/** A connect answer that fills most of the 4 KiB receive buffer with 32 members of long names. */
export function crowdedConnectBody(): string {
  const members: string[] = ['"settings":{"type":"tracker","heartbeatS":600}'];
  for (let i = 1; i < 32; i++) members.push(`"${'n'.repeat(100)}${i}":"${'v'.repeat(14)}"`);
  return `{${members.join(',')}}`;
}

const LIVE = { uplinkIntervalS: 60, movingIntervalS: 60, heartbeatS: 600 };

export async function allocationFigures(): Promise<AllocationFigures> {
  const wasm = buildTracingModule();
  const t = new Tracer();
  const scenarios: Record<string, ScenarioAllocation> = {};
  const run = async (name: string, body: () => Promise<number>) => {
    t.current = Tracer.empty();
    t.current.pages = await body();
    scenarios[name] = t.current;
  };
  await traced(t, async () => {
    await run('backlog of 2,000 drained', async () => {
      const b = await backlogFigures(2000, wasm);
      if (b.lost !== 0) throw new Error(`allocation probe: the traced drain lost ${b.lost} uplinks`);
      return b.pagesPeak;
    });
    await run('live, factory settings, 72 h', async () => {
      const w = world({}, { wasm });
      await w.sched.runUntil(72 * HOUR);
      return w.device.memoryPages();
    });
    await run('live, connect every 10 min, key reset every 8 h, 72 h', async () => {
      const w = world(LIVE, { wasm });
      let nextReset = 8 * HOUR;
      w.cloud.faults = (ctx) => {
        if (ctx.endpoint !== 'connect' || w.sched.now < nextReset) return null;
        nextReset += 8 * HOUR;
        return { kind: 'status', status: 401 };
      };
      await w.sched.runUntil(72 * HOUR);
      if (w.device.stat(STAT.resets) < 8) throw new Error('allocation probe: the key was not reset every 8 hours');
      return w.device.memoryPages();
    });
    await run('refusals with error bodies and a 2,000-character Retry-After, 1 h', async () => {
      const w = world(LIVE, { wasm });
      const retryAfter = '9'.repeat(2000);
      w.cloud.faults = (ctx) => (ctx.endpoint === 'uplink' || ctx.endpoint === 'backfill') && w.sched.now < HOUR
        ? { kind: 'status', status: 503, headers: { 'retry-after': retryAfter }, body: 'x'.repeat(2000) }
        : null;
      await w.sched.runUntil(3 * HOUR);
      return w.device.memoryPages();
    });
    await run('connect answers crowded with 32 long names, 4 h', async () => {
      const w = world(LIVE, { wasm });
      const crowded = crowdedConnectBody();
      w.cloud.faults = (ctx) => (ctx.endpoint === 'connect' ? { kind: 'body', status: 200, body: crowded } : null);
      await w.sched.runUntil(4 * HOUR);
      return w.device.memoryPages();
    });
  });
  let maxCallBytes = 0;
  let maxCallWhere = '';
  for (const [name, s] of Object.entries(scenarios)) {
    if (name.startsWith('connect answers crowded')) continue;
    if (s.maxCallBytes > maxCallBytes) { maxCallBytes = s.maxCallBytes; maxCallWhere = `${s.maxCallExport}, ${name}`; }
  }
  return { scenarios, maxCallBytes, maxCallWhere, agentStartBytes: t.agentStartBytes, heapBase: t.heapBase };
}
