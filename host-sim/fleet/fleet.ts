// The fleet runner: N simulated trackers running the release module against the built-in fake
// cloud, in virtual time, under a fault profile; a summary from the cloud's side at the end.
//
// Over sockets (default) there is one cloud on a loopback port and every device talks HTTP to
// it. In process (--transport memory), requests go straight into the cloud; a large fleet is
// then split across worker threads of this process, each running a shard of the devices with
// its own in-process cloud (devices share nothing but the cloud, and the compiled module is
// shared by all threads); the shards' summaries are merged.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FakeCloud } from '../cloud/fake-cloud.ts';
import type { KeyPurpose } from '../cloud/keys.ts';
import { DEFAULT_WASM, loadModule } from '../sim-device.ts';
import { DEFAULT_BATTERY_MAH, DEFAULT_RADIO, type RadioKind } from '../hal/energy.ts';
import { readGpx, type TrackPoint } from './motion.ts';
import { outageWindow, parseFaults, type FaultSpec, type Window } from './profiles.ts';
import { runShard, UTC_START, type ShardOptions } from './shard.ts';
import { mergeSummaries, type RunInfo, type ShardSummary } from './summary.ts';

export interface FleetOptions {
  devices: number;
  hours: number;
  seed: number;
  transport: 'socket' | 'memory';
  /** Fault profile text, e.g. `flaky+outage`. */
  faults: string;
  /** A GPX file the devices follow (else a random walk each). */
  trackFile?: string | null;
  /** Worker threads for --transport memory; 'auto' (default) uses them for large fleets. */
  workers?: number | 'auto';
  /** Keep the cloud's state in this folder (one cloud: no workers). */
  stateDir?: string | null;
  wasm?: string;
  module?: WebAssembly.Module;
  tenantId?: string;
  realTimeoutCapMs?: number;
  /** Fraction done (0-1) as the run goes. */
  onProgress?: (fraction: number) => void;
  makeSecret?: (purpose: KeyPurpose) => string;
  /** Every module log line, with the simulation ms it was written at. */
  log?: (deviceId: string, level: number, line: string, now: number) => void;
  /** The energy model's radio and battery (default wifi, 2,000 mAh). */
  radio?: RadioKind;
  batteryMah?: number;
  /** Aborted: the run stops at its next slice and is summarised as far as it got (Ctrl-C). */
  stop?: AbortSignal;
}

export interface FleetResult {
  summary: ShardSummary;
  info: RunInfo;
  /** The cloud of a single-shard run (tests read its request log). */
  cloud?: FakeCloud;
  /** Uplink ids of deleted devices, kept by the operator before deleting (single shard). */
  archive?: Record<string, number[]>;
  url?: string;
  stateFile?: string;
  stateLoaded?: boolean;
}

export function autoWorkers(o: Pick<FleetOptions, 'devices' | 'transport' | 'stateDir' | 'log' | 'makeSecret'>): number {
  if (o.transport !== 'memory' || o.stateDir || o.log || o.makeSecret || o.devices < 200) return 1;
  return Math.max(1, Math.min(os.availableParallelism(), 4, Math.ceil(o.devices / 100)));
}

export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  const spec: FaultSpec = parseFaults(o.faults);
  const track: TrackPoint[] | null = o.trackFile ? readGpx(o.trackFile) : null;
  const module = o.module ?? loadModule(o.wasm ?? DEFAULT_WASM);
  const durationMs = Math.round(o.hours * 3_600_000);
  let workers = o.workers === undefined || o.workers === 'auto' ? autoWorkers(o) : Math.max(1, Math.floor(o.workers));
  if (o.transport !== 'memory' || o.stateDir) workers = 1;
  workers = Math.min(workers, Math.max(1, o.devices));
  const base: Omit<ShardOptions, 'module' | 'indices'> = {
    fleetSize: o.devices, seed: o.seed, durationMs, utcStart: UTC_START, faults: spec, track,
    transport: o.transport, tenantId: o.tenantId, realTimeoutCapMs: o.realTimeoutCapMs,
    radio: o.radio ?? DEFAULT_RADIO, batteryMah: o.batteryMah ?? DEFAULT_BATTERY_MAH,
  };
  const started = performance.now();
  const info = (): RunInfo => ({
    devices: o.devices, hours: o.hours, seed: o.seed, transport: o.transport, faults: o.faults, workers,
    radio: base.radio!, batteryMah: base.batteryMah!,
    wallSeconds: (performance.now() - started) / 1000, outage: outageWindow(spec, durationMs), track: o.trackFile ?? null,
  });

  if (workers === 1) {
    const run = await runShard({
      ...base,
      module,
      indices: Array.from({ length: o.devices }, (_, i) => i),
      stateDir: o.stateDir ?? undefined,
      onProgress: o.onProgress && ((now) => o.onProgress!(now / durationMs)),
      makeSecret: o.makeSecret,
      log: o.log,
      shouldStop: o.stop && (() => o.stop!.aborted),
    });
    return { summary: run.summary, info: info(), cloud: run.cloud, archive: run.archive, url: run.url, stateFile: run.stateFile, stateLoaded: run.stateLoaded };
  }

  const shards: number[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < o.devices; i++) shards[i % workers].push(i);
  const progress = new Array<number>(workers).fill(0);
  const parts = await Promise.all(shards.map((indices, k) => new Promise<ShardSummary>((resolve, reject) => {
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...base, module, indices } });
    let settled = false;
    const stop = () => w.postMessage({ type: 'stop' });
    if (o.stop?.aborted) stop();
    else o.stop?.addEventListener('abort', stop, { once: true });
    w.on('message', (m: { type: string; now?: number; summary?: ShardSummary; message?: string }) => {
      if (m.type === 'progress') {
        progress[k] = m.now! / durationMs;
        o.onProgress?.(progress.reduce((a, b) => a + b, 0) / workers);
      } else if (m.type === 'done') {
        settled = true;
        o.stop?.removeEventListener('abort', stop);
        progress[k] = 1;
        resolve(m.summary!);
      } else if (m.type === 'error') {
        settled = true;
        reject(new Error(m.message));
      }
    });
    w.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
    w.on('exit', (code) => { if (!settled) { settled = true; reject(new Error(`fleet worker ${k} exited with code ${code}`)); } });
  })));
  o.onProgress?.(1);
  return { summary: mergeSummaries(parts), info: info() };
}
