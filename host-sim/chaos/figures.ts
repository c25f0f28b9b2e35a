// The chaos figures for `npm run bench`: one seeded run, no shrinking, the numbers the README
// shows (device-days per second, violations, worst requests in one hour, worst recovery time).
import os from 'node:os';
import { runChaos } from './run.ts';
import type { Invariant } from './checker.ts';

export interface ChaosFigures {
  seed: number;
  profile: string;
  deviceDays: number;
  simulatedDeviceDays: number;
  devices: number;
  workers: number;
  wallSeconds: number;
  deviceDaysPerSecond: number;
  violations: number;
  byInvariant: Record<Invariant, number>;
  /** Requests without a verified acknowledgement in the worst sliding hour of any device. */
  worstRequestsPerHour: number;
  /** Worst time from honesty until everything recorded before it was delivered (devices that got there). */
  worstRecoveryMs: number;
  /** Devices that never delivered everything recorded before honesty. */
  neverRecovered: number;
}

export const BENCH_SEED = 20261123;

export async function chaosFigures(o: { deviceDays?: number; seed?: number; workers?: number; profile?: string; module?: WebAssembly.Module } = {}): Promise<ChaosFigures> {
  const r = await runChaos({
    seed: o.seed ?? BENCH_SEED,
    deviceDays: o.deviceDays ?? 1_000,
    workers: o.workers ?? Math.min(2, os.availableParallelism()),
    profile: o.profile ?? 'ci',
    module: o.module,
    shrink: false,
  });
  return {
    seed: r.seed, profile: r.profile, deviceDays: r.deviceDays, simulatedDeviceDays: r.simulatedDeviceDays, devices: r.devices,
    workers: r.workers, wallSeconds: r.wallSeconds, deviceDaysPerSecond: r.deviceDaysPerSecond, violations: r.violations,
    byInvariant: r.byInvariant, worstRequestsPerHour: r.worstRequestsPerHour?.value ?? 0,
    worstRecoveryMs: r.worstRecovery?.ms ?? 0,
    neverRecovered: r.neverRecovered,
  };
}
