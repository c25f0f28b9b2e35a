// The seeded fault schedule of one device: every fault decision is an indexed event, so that a
// run can be replayed with any subset of them masked (the shrinker's delta debugging).
//
//   r<n>  the answer to the device's n-th request (1-based, over its whole life)
//   g<n>  the n-th GNSS acquisition
//   c<k>  a power cut at a random step;  f<k> a cut inside a flash operation;  v<k> inside a KV set
//   d<cut> store damage at the boot after that cut (dc3, df1, dv2)
//   t<k>  an injected trap
//   o<k>  an outage window (every request dropped, refused or answered 503)
//
// Request, GNSS and damage decisions are drawn from a stream of their own index (never from a
// shared cursor), so masking one leaves every other decision as it was. Time events are drawn
// over the device's full length; a shorter run keeps those that fall inside it.
import { Rng, mixSeed } from '../hal/random.ts';
import { deviceSeed } from '../fleet/board.ts';
import type { FlashModel } from '../hal/flash.ts';
import { drawDecision, type ChaosDecision, type ChaosEndpoint, type DrawContext } from './chaos-cloud.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** What a run looks like: the devices' settings and how often each fault comes. */
export interface ChaosProfile {
  name: string;
  /** Simulated days per device (a run of D device-days has ceil(D / daysPerDevice) devices). */
  daysPerDevice: number;
  /** The honest cloud's settings for every device. */
  settings: Record<string, unknown>;
  /** Before honesty: probability an answer is chaos, and that it carries a Date trick. */
  chaosRate: number;
  dateRate: number;
  /** Per device-day. */
  stepCutsPerDay: number;
  flashCutsPerDay: number;
  kvCutsPerDay: number;
  trapsPerDay: number;
  outagesPerDay: number;
  /** Outage length, ms: log-uniform between these. */
  outageMinMs: number;
  outageMaxMs: number;
  /** Probability that the boot after a cut finds a store entry damaged. */
  damageChance: number;
  /** Power off after a cut, ms: log-uniform between these. */
  offMinMs: number;
  offMaxMs: number;
  /** Share of devices with a 4-sector log (it fills in about a day) instead of 16 sectors. */
  smallFlashShare: number;
  /** GNSS of a device: honest (lies at gnssLieRate), lying (half its fixes lie), or absent. */
  gnssLyingShare: number;
  gnssAbsentShare: number;
  gnssLieRate: number;
  /** Honest drain after the faults stop, before the final check. */
  drainMs: number;
}

/** Positions every 300 s, every fault class, ten days a device. */
const DEFAULT_PROFILE: ChaosProfile = {
    name: 'default',
    daysPerDevice: 10,
    settings: { type: 'tracker', uplinkIntervalS: 300, movingIntervalS: 300, heartbeatS: 3600, backfillBatchSize: 100, gnssTimeoutS: 60, sendIntervalS: 600 },
    chaosRate: 0.6,
    dateRate: 0.4,
    stepCutsPerDay: 1.5,
    flashCutsPerDay: 1,
    kvCutsPerDay: 0.5,
    trapsPerDay: 1,
    outagesPerDay: 0.15,
    outageMinMs: HOUR,
    outageMaxMs: 36 * HOUR,
    damageChance: 0.3,
    offMinMs: 1_000,
    offMaxMs: 30 * 60_000,
    smallFlashShare: 0.25,
    gnssLyingShare: 0.2,
    gnssAbsentShare: 0.1,
    gnssLieRate: 0.05,
    drainMs: 2 * HOUR,
};

export const PROFILES: Record<string, ChaosProfile> = {
  /** Positions every 300 s, every fault class, ten days a device. */
  default: DEFAULT_PROFILE,
  /**
   * The CI slice of npm test: the same faults at the same rates per day, positions every 600 s
   * and twenty days a device, so that 10,000 device-days take a few minutes on two cores.
   */
  ci: {
    ...DEFAULT_PROFILE,
    name: 'ci',
    daysPerDevice: 20,
    settings: { ...DEFAULT_PROFILE.settings, uplinkIntervalS: 600, movingIntervalS: 600 },
  },
};

export type TimeEventKind = 'stepCut' | 'flashCut' | 'kvCut' | 'trap' | 'outage';

export interface TimeEvent {
  id: string;
  kind: TimeEventKind;
  at: number;
  /** Cuts: how long the power stays off. */
  offMs?: number;
  /** flashCut / kvCut: operations that complete before the one interrupted. */
  afterOps?: number;
  /** kvCut: whether the interrupted set lands. */
  lands?: boolean;
  /** outage: its length and what the cloud does meanwhile. */
  durationMs?: number;
  mode?: 'drop' | 'refused' | '503';
}

export type GnssProfile = 'honest' | 'lying' | 'absent';

export interface DevicePlan {
  seed: number;
  index: number;
  deviceId: string;
  fullLengthMs: number;
  honestAtMs: number;
  flashModel: FlashModel;
  flashSectors: number;
  gnss: GnssProfile;
  apiKeyTtlMs: number | undefined;
  /** The keyExpires a "repeated" trick sends on every key of this device. */
  repeatedExpiryOffsetMs: number;
  timeEvents: TimeEvent[];
}

export const FACTORY_HOST = 'cloud.chaos.test';
export const ALLOW_HOSTS = ['cloud-b.chaos.test', 'cloud-c.chaos.test'];
export const TENANT = 'chaos';

export function deviceIdOf(index: number): string {
  return `chaos-${String(index + 1).padStart(5, '0')}`;
}

function logUniform(rng: Rng, lo: number, hi: number): number {
  return Math.round(Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo))));
}

/** Times of a Poisson process of `perDay` events a day over [0, length). */
function poisson(rng: Rng, perDay: number, length: number): number[] {
  const out: number[] = [];
  if (perDay <= 0) return out;
  const mean = DAY / perDay;
  for (let t = -Math.log(1 - rng.next()) * mean; t < length; t += -Math.log(1 - rng.next()) * mean) out.push(Math.floor(t));
  return out;
}

export function planDevice(runSeed: number, index: number, fullLengthMs: number, p: ChaosProfile): DevicePlan {
  const seed = deviceSeed(runSeed, index, 7);
  const rng = new Rng(mixSeed(seed, 0x706c616e));
  const honestAtMs = Math.floor(rng.next() * fullLengthMs);
  const models: FlashModel[] = ['atomic', 'torn', 'flaky'];
  const flashModel = models[rng.int(0, 2)];
  const flashSectors = rng.chance(p.smallFlashShare) ? 4 : 16;
  const g = rng.next();
  const gnss: GnssProfile = g < p.gnssAbsentShare ? 'absent' : g < p.gnssAbsentShare + p.gnssLyingShare ? 'lying' : 'honest';
  const ttl = rng.int(0, 2);
  const apiKeyTtlMs = ttl === 0 ? undefined : ttl === 1 ? 3 * DAY : 30 * DAY;
  const repeatedExpiryOffsetMs = rng.int(1, 72) * HOUR;

  const events: TimeEvent[] = [];
  const ev = (kind: TimeEventKind, prefix: string, perDay: number, fill: (e: TimeEvent, r: Rng) => void) => {
    const r = new Rng(mixSeed(seed, prefix.charCodeAt(0)));
    poisson(r, perDay, fullLengthMs).forEach((at, k) => {
      const e: TimeEvent = { id: `${prefix}${k + 1}`, kind, at };
      fill(e, r);
      events.push(e);
    });
  };
  const off = (r: Rng) => logUniform(r, p.offMinMs, p.offMaxMs);
  ev('stepCut', 'c', p.stepCutsPerDay, (e, r) => { e.offMs = off(r); });
  ev('flashCut', 'f', p.flashCutsPerDay, (e, r) => { e.offMs = off(r); e.afterOps = r.int(0, 40); });
  ev('kvCut', 'v', p.kvCutsPerDay, (e, r) => { e.offMs = off(r); e.afterOps = r.int(0, 6); e.lands = r.chance(0.5); });
  ev('trap', 't', p.trapsPerDay, () => {});
  ev('outage', 'o', p.outagesPerDay, (e, r) => {
    e.durationMs = logUniform(r, p.outageMinMs, p.outageMaxMs);
    e.mode = (['drop', 'refused', '503'] as const)[r.int(0, 2)];
  });
  // Outages are the cloud's doing: none after honesty.
  const timeEvents = events
    .filter((e) => e.kind !== 'outage' || e.at < honestAtMs)
    .map((e) => (e.kind === 'outage' ? { ...e, durationMs: Math.min(e.durationMs!, honestAtMs - e.at) } : e))
    .sort((a, b) => a.at - b.at || a.id.localeCompare(b.id));
  return {
    seed, index, deviceId: deviceIdOf(index), fullLengthMs, honestAtMs, flashModel, flashSectors, gnss,
    apiKeyTtlMs, repeatedExpiryOffsetMs, timeEvents,
  };
}

/** Which events are active: all (null), or only those named. */
export type EventMask = Set<string> | null;

export function active(mask: EventMask, id: string): boolean {
  return mask === null || mask.has(id);
}

/** The answer to the n-th request (before honesty; after it every answer is honest). */
export function requestDecision(plan: DevicePlan, n: number, endpoint: ChaosEndpoint, ctx: DrawContext): ChaosDecision {
  return drawDecision(new Rng(mixSeed(plan.seed, 0x72657175, n)), endpoint, ctx);
}

export type GnssLie = { kind: 'none' } | { kind: 'timeout' } | { kind: 'fix'; lat: number; lon: number; accuracyM: number; what: string };

const LIES: { lat: number; lon: number; accuracyM: number; what: string }[] = [
  { lat: NaN, lon: 8.5, accuracyM: 5, what: 'latitude NaN' },
  { lat: 47.3, lon: NaN, accuracyM: 5, what: 'longitude NaN' },
  { lat: 47.3, lon: 8.5, accuracyM: NaN, what: 'accuracy NaN' },
  { lat: 91, lon: 8.5, accuracyM: 5, what: 'latitude 91' },
  { lat: -1e9, lon: 8.5, accuracyM: 5, what: 'latitude -1e9' },
  { lat: 47.3, lon: 180.5, accuracyM: 5, what: 'longitude 180.5' },
  { lat: 47.3, lon: 1e300, accuracyM: 5, what: 'longitude 1e300' },
  { lat: Infinity, lon: -Infinity, accuracyM: 5, what: 'infinite' },
  { lat: 47.3, lon: 8.5, accuracyM: -3, what: 'negative accuracy' },
  { lat: 47.3, lon: 8.5, accuracyM: Infinity, what: 'infinite accuracy' },
];

/** What the n-th GNSS acquisition does instead of an honest fix. */
export function gnssDecision(plan: DevicePlan, n: number, p: ChaosProfile): GnssLie {
  if (plan.gnss === 'absent') return { kind: 'timeout' };
  const rng = new Rng(mixSeed(plan.seed, 0x676e7373, n));
  const rate = plan.gnss === 'lying' ? 0.5 : p.gnssLieRate;
  if (!rng.chance(rate)) return { kind: 'none' };
  if (rng.chance(0.2)) return { kind: 'timeout' };
  return { kind: 'fix', ...LIES[rng.int(0, LIES.length - 1)] };
}

function hashText(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The store damage at the boot after a cut: draws that pick entries among those present. */
export function damageDecision(plan: DevicePlan, cutId: string, p: ChaosProfile): number[] {
  const rng = new Rng(mixSeed(plan.seed, 0x64616d67, hashText(cutId)));
  if (!rng.chance(p.damageChance)) return [];
  const picks = [rng.u32()];
  if (rng.chance(0.2)) picks.push(rng.u32());
  return picks;
}
