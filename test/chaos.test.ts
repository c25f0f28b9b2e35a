// The chaos simulator's CI slice (host-sim/chaos/README.md): 10,000 device-days of the release
// module against the chaos cloud with power cuts, traps, store damage and lying GNSS, every
// device checked against every invariant; plus the properties the simulator itself must have
// (same seed, same trace, whatever the worker split; faults that can be masked one by one).
// Every invariant of issue 10 must hold: a violation fails the slice and prints what broke,
// by invariant, with the command that replays it.
import os from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { INVARIANT_NAMES } from '../host-sim/chaos/checker.ts';
import { formatReport, violationLine } from '../host-sim/chaos/report.ts';
import { runAndCheck, runChaos, layout, type ChaosReport } from '../host-sim/chaos/run.ts';
import { planDevice, PROFILES } from '../host-sim/chaos/schedule.ts';
import { shrinkRun } from '../host-sim/chaos/shrink.ts';
import { loadModule } from '../host-sim/sim-device.ts';

const SLICE_SEED = 20261123;
const SLICE_DEVICE_DAYS = 10_000;
const module = loadModule();

describe('chaos simulator: determinism and masking', () => {
  it('repeats a run exactly, whatever the number of worker threads, and a device alone', async () => {
    const one = await runChaos({ seed: 99, deviceDays: 30, profile: 'default', module, workers: 1, shrink: false });
    const two = await runChaos({ seed: 99, deviceDays: 30, profile: 'default', module, workers: 2, shrink: false });
    expect(two.digest).toBe(one.digest);
    expect(two.byInvariant).toEqual(one.byInvariant);
    expect(one.devices).toBe(3);
    const alone = await runChaos({ seed: 99, deviceDays: 30, profile: 'default', module, only: [1], shrink: false });
    const again = await runChaos({ seed: 99, deviceDays: 30, profile: 'default', module, only: [1], shrink: false });
    expect(alone.digest).toBe(again.digest);
    expect(alone.totals.requests).toBeGreaterThan(0);
    // Another seed is another run.
    const other = await runChaos({ seed: 100, deviceDays: 30, profile: 'default', module, workers: 1, shrink: false });
    expect(other.digest).not.toBe(one.digest);
  }, 300_000);

  it('masks fault events one by one, and the shrinker finds the one a failure needs', async () => {
    const profile = PROFILES.default;
    const { lengthMs } = layout(40, profile);
    const task = { module, seed: 7, index: 2, fullLengthMs: lengthMs, profile };
    const all = await runAndCheck(task);
    const cut = all.fired.find((e) => e.id.startsWith('c'));
    expect(cut, 'the schedule has a power cut at a step in 10 days').toBeDefined();
    // Without any fault event, none fires; with one, only that one.
    expect((await runAndCheck({ ...task, keep: [] })).fired).toEqual([]);
    const onlyCut = await runAndCheck({ ...task, keep: [cut!.id] });
    expect(onlyCut.fired.map((e) => e.id)).toEqual([cut!.id]);
    expect(onlyCut.summary.cuts).toBe(1);
    // "Fails" when that cut happened: the shrinker must come down to it alone, an hour after it.
    const shrunk = await shrinkRun<string>({
      fullLengthMs: lengthMs,
      fails: async (len, keep) => (await runAndCheck({ ...task, lengthMs: len, keep })).fired.some((e) => e.id === cut!.id),
      firedAt: async (len) => [...new Set((await runAndCheck({ ...task, lengthMs: len })).fired.map((e) => e.id))],
      budget: 200,
    });
    expect(shrunk.events).toEqual([cut!.id]);
    expect(shrunk.lengthMs).toBe(Math.ceil((cut!.at + 1) / 3_600_000) * 3_600_000);
    expect(shrunk.minimal).toBe(true);
    expect(planDevice(7, 2, lengthMs, profile).timeEvents.some((e) => e.id === cut!.id && e.at === cut!.at)).toBe(true);
  }, 300_000);
});

describe('chaos simulator: the CI slice', () => {
  let report: ChaosReport;
  beforeAll(async () => {
    report = await runChaos({
      seed: SLICE_SEED, deviceDays: SLICE_DEVICE_DAYS, profile: 'ci', module,
      workers: Math.min(2, os.availableParallelism()), shrinkMax: 1, shrinkBudget: 40,
    });
    console.log(`chaos CI slice\n${formatReport(report, 3)}`);
  }, 1_800_000);

  it('covers 10,000 device-days with every class of fault', () => {
    expect(report.deviceDays).toBeGreaterThanOrEqual(SLICE_DEVICE_DAYS);
    expect(report.devices * report.daysPerDevice).toBeGreaterThanOrEqual(SLICE_DEVICE_DAYS);
    const t = report.totals;
    expect(t.requests).toBeGreaterThan(report.devices * 10);
    expect(t.recorded).toBeGreaterThan(report.devices * 10);
    expect(t.cuts).toBeGreaterThan(report.devices);
    expect(t.injectedTraps).toBeGreaterThan(report.devices / 2);
    expect(t.kvDamage).toBeGreaterThan(0);
    expect(t.firedEvents).toBeGreaterThan(t.requests / 10);
  });

  it('holds every invariant: 0 violations', () => {
    const broken = INVARIANT_NAMES.filter((k) => report.byInvariant[k] > 0).map((k) => `${k} ${report.byInvariant[k]}`);
    const first = INVARIANT_NAMES.map((k) => report.sample.find((v) => v.invariant === k)).filter((v) => v !== undefined).map(violationLine);
    expect(report.violations, `violations by invariant: ${broken.join(', ')}\n${first.join('\n')}`).toBe(0);
  });
});
