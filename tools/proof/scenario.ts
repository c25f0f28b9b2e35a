// The scripted scenario of the power-cut proof, deterministic from a seed, over one World:
// an uplink every 10 s (settings from the cloud), the operator revoking the device's apiKey
// every few minutes (401 -> reset -> a new key and environment: a key rotation), outage
// windows in which the cloud drops every request (the backlog then drains through
// /uplinks/backfill), and power cuts where the world's plan says. After each cut the board
// powers on 1 s later, a new instance boots (pending answers of the dead one are lost) and
// the scenario goes on. At the end the cloud heals and the device drains its log; then the
// world checks the invariants against the cloud.
import { PowerCut } from '../../host-sim/hal/flash.ts';
import { STAT } from '../../host-sim/device-host.ts';
import { Rng } from '../../host-sim/hal/random.ts';
import { mixSeed } from '../../host-sim/hal/random.ts';
import { DEVICE_ID, type CredCommit, type CutEvent, type CutPoint, type Violation, type World, type WorldCounts } from './world.ts';

const MIN = 60_000;

export interface ScenarioOptions {
  /** Uplinks recorded before the scenario may end. */
  minUplinks: number;
  /** Key rotations (operator revocations followed by a reset) before it may end. */
  rotations: number;
  /** Outage windows, each followed by a backfill. */
  backfills: number;
  /** The operator revokes the live apiKey this long after the previous revocation. */
  rotateEveryMs: number;
  /** Outage i runs from outageFirstMs + i * outagePeriodMs for outageMs. */
  outageFirstMs: number;
  outagePeriodMs: number;
  outageMs: number;
  /** Longest the final drain may take (virtual ms). */
  drainMs: number;
  /** Soak: cut every random 1..soakGapMax operations until this many cuts, scenario repeated as needed. */
  soakCuts?: number;
  soakGapMax?: number;
  soakSeed?: number;
  /** Soak: outage length (shorter than the sweep's; see README, "the soak and back-off"). */
  soakOutageMs?: number;
  /** Soak: cut during back-off waits too (reproduces the starvation of README, "the soak and back-off"). */
  soakCutInBackoff?: boolean;
  /** Called with the cuts so far, every so often (soak progress). */
  onProgress?: (cuts: number) => void;
}

export const DEFAULT_SCENARIO: ScenarioOptions = {
  minUplinks: 2000,
  rotations: 50,
  backfills: 10,
  rotateEveryMs: 5 * MIN,
  outageFirstMs: 20 * MIN,
  outagePeriodMs: 34 * MIN,
  outageMs: 12 * MIN,
  drainMs: 2 * 60 * MIN,
  soakOutageMs: 4 * MIN,
};

export interface RunResult {
  counts: WorldCounts;
  violations: Violation[];
  cuts: CutEvent[];
  /** Cuts planned that never fired (each one is also a violation). */
  unfired: number;
  rotations: number;
  outages: number;
  virtualMs: number;
  wallMs: number;
  credCommits: CredCommit[];
  errorLines: Record<string, number>;
  logTail: string[];
}

/** Aborts a run that cannot go on (the agent did not start). */
class RunAbort extends Error {}

export async function runScenario(world: World, opts: ScenarioOptions = DEFAULT_SCENARIO): Promise<RunResult> {
  const wall = performance.now();
  const s = world.sched;
  const soak = opts.soakCuts !== undefined;
  const soakRng = new Rng(mixSeed(opts.soakSeed ?? world.seed, 0x50a4));
  const gapMax = opts.soakGapMax ?? 60;
  let healed = false;
  let rotations = 0;
  let nextRotateAt = opts.rotateEveryMs;
  const outageMs = soak ? opts.soakOutageMs ?? opts.outageMs : opts.outageMs;

  const outageIndex = (t: number): number => Math.floor((t - opts.outageFirstMs) / opts.outagePeriodMs);
  const inOutage = (t: number): boolean => {
    if (healed || t < opts.outageFirstMs) return false;
    const i = outageIndex(t);
    if (!soak && i >= opts.backfills) return false;
    return t - (opts.outageFirstMs + i * opts.outagePeriodMs) < outageMs;
  };
  const outagesEnded = (t: number): number => {
    if (t < opts.outageFirstMs + outageMs) return 0;
    const n = Math.floor((t - opts.outageFirstMs - outageMs) / opts.outagePeriodMs) + 1;
    return soak ? n : Math.min(n, opts.backfills);
  };
  world.faults = () => (inOutage(s.now) ? 'drop' : null);
  s.onTick = (now) => {
    if (healed || now < nextRotateAt) return;
    const key = world.cloud.apiKeyOf(DEVICE_ID);
    // Only a key the device has moved to since the last revocation: one rotation each.
    if (key !== undefined && world.cloud.revokeKey(key)) {
      rotations++;
      nextRotateAt = now + opts.rotateEveryMs;
    }
  };

  const planSoakCut = () => {
    if (soak && world.plan.cuts.length + world.plan.pendingCuts < opts.soakCuts!) {
      world.plan.planCut({ space: 'op', index: world.plan.ops + soakRng.int(1, gapMax), deferInBackoff: opts.soakCutInBackoff ? undefined : gapMax });
    }
  };

  /** Power back 1 s after a cut, a new instance; a cut during the boot itself goes round again. */
  const recover = () => {
    for (;;) {
      world.flash.powerOn();
      world.checkIdentity(`after cut ${world.plan.cuts.length}`);
      s.now += 1_000;
      planSoakCut();
      if (soak && opts.onProgress && world.plan.cuts.length % 100 === 0) opts.onProgress(world.plan.cuts.length);
      try {
        const rc = s.boot(world.device);
        if (rc !== 0) throw new RunAbort(`agent_start returned ${rc}`);
        return;
      } catch (e) {
        if (!(e instanceof PowerCut)) throw e;
      }
    }
  };

  const advance = async (until: number) => {
    while (s.now < until) {
      try {
        await s.runUntil(until);
      } catch (e) {
        if (!(e instanceof PowerCut)) throw e;
        recover();
      }
    }
  };

  let aborted = false;
  try {
    planSoakCut();
    try {
      if (s.boot(world.device) !== 0) throw new RunAbort('first boot failed');
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
      recover();
    }
    // The scenario proper.
    const chunk = MIN;
    for (;;) {
      await advance(s.now + chunk);
      const done = soak
        ? world.plan.cuts.length >= opts.soakCuts!
        : world.ledger.recordedCount >= opts.minUplinks && rotations >= opts.rotations && world.exchanges.resetsServed >= opts.rotations &&
          outagesEnded(s.now) >= opts.backfills;
      if (done) break;
      if (!soak && s.now > 48 * 60 * MIN) {
        world.findings.violation('scenario', `not done after 48 h of virtual time: ${world.ledger.recordedCount} uplinks, ${rotations} rotations`);
        break;
      }
    }
    // The end: the cloud heals, no more rotations; the device drains its log.
    healed = true;
    const drainEnd = s.now + opts.drainMs;
    for (;;) {
      if (world.device.started && world.device.stat(STAT.buffered) === 0 && world.plan.pendingCuts === 0) break;
      if (s.now >= drainEnd) {
        world.findings.violation('drain', `${world.device.stat(STAT.buffered)} uplinks still buffered ${Math.round(opts.drainMs / MIN)} min after the cloud healed` +
          (world.plan.pendingCuts > 0 ? `; ${world.plan.pendingCuts} planned cuts never fired` : ''));
        break;
      }
      await advance(s.now + 10_000);
    }
  } catch (e) {
    if (!(e instanceof RunAbort)) throw e;
    aborted = true;
    world.findings.violation('start', e.message);
  } finally {
    s.onTick = null;
  }
  const unfired = world.plan.pendingCuts;
  if (unfired > 0 && !aborted) world.findings.violation('cut plan', `${unfired} planned cut(s) never fired: a cut that never fires proves nothing`);
  const counts = world.verify();
  return {
    counts,
    violations: world.findings.violations,
    cuts: world.plan.cuts,
    unfired,
    rotations,
    outages: outagesEnded(s.now),
    virtualMs: s.now,
    wallMs: performance.now() - wall,
    credCommits: world.plan.credCommits,
    errorLines: Object.fromEntries(world.findings.errorLines),
    logTail: world.findings.violations.length > 0 ? world.findings.logTail() : [],
  };
}

export type { CutPoint };
