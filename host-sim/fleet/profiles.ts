// Fault profiles for the fleet: what the fake cloud does to the devices' requests (a FaultHook
// built from the actions of cloud/faults.ts) and what its operator does to them in virtual
// time (revoke a key, disable and re-enable a device, delete one).
//
// A profile is a `+`-separated list of parts: named profiles and single faults, each with an
// optional `:value`, e.g. `flaky`, `flaky+outage`, `none+429:0.2`, `5xx:0.1+revoke:0.5`.
// Later parts override earlier ones. Decisions are seeded per device, so a run repeats exactly
// whatever order requests of different devices arrive in.
import type { FaultAction, FaultContext, FaultHook } from '../cloud/faults.ts';
import { Rng } from '../hal/random.ts';
import { deviceSeed } from './board.ts';

/** Faults drawn per request, with their probability. */
export const REQUEST_FAULTS = {
  drop: 'connection dropped before handling',
  lost: 'answer lost after handling',
  timeout: 'no answer (timeout)',
  '5xx': 'HTTP 5xx',
  '429': 'HTTP 429 with Retry-After',
  truncated: 'truncated body',
  nonjson: 'non-JSON body',
  empty: 'empty body',
  huge: 'huge body',
  slow: 'slow answer',
} as const;
export type RequestFault = keyof typeof REQUEST_FAULTS;
/** In a stable order ("429" would come first as an object key). */
export const REQUEST_FAULT_NAMES: RequestFault[] = ['drop', 'lost', 'timeout', '5xx', '429', 'truncated', 'nonjson', 'empty', 'huge', 'slow'];

/** Things that happen once, at a time of the run. */
export const EVENT_FAULTS = {
  outage: 'outage window (hours, default 20 % of the run, at most 3)',
  revoke: 'operator revokes device keys (fraction of devices, default 0.05)',
  disable: 'operator disables devices, re-enables them later (fraction, default 0.05)',
  delete: 'operator deletes devices (count, default 1)',
} as const;
export type EventFault = keyof typeof EVENT_FAULTS;

const FLAKY: Partial<Record<RequestFault, number>> = {
  drop: 0.01, lost: 0.005, timeout: 0.004, '5xx': 0.02, '429': 0.01,
  truncated: 0.004, nonjson: 0.004, empty: 0.004, huge: 0.002, slow: 0.02,
};

export const PROFILES: Record<string, { about: string; parts: string }> = {
  none: { about: 'a perfect cloud', parts: '' },
  flaky: { about: 'a few percent of requests dropped, timed out, 5xx, 429, mangled or slow', parts: Object.entries(FLAKY).map(([k, v]) => `${k}:${v}`).join('+') },
  outage: { about: 'the cloud is down for a window of the run (503 with Retry-After, drops, 502 HTML)', parts: 'outage' },
  hostile: {
    about: 'flaky three times over, an outage, keys revoked, devices disabled and re-enabled, one deleted',
    parts: Object.entries(FLAKY).map(([k, v]) => `${k}:${v * 3}`).join('+') + '+outage+revoke+disable+delete',
  },
};

export interface FaultSpec {
  text: string;
  rates: Partial<Record<RequestFault, number>>;
  outageHours?: number;
  revokeFraction?: number;
  disableFraction?: number;
  deleteCount?: number;
}

/** Parses `--faults`; throws an Error whose message says what is wrong and what would do. */
export function parseFaults(text: string): FaultSpec {
  const spec: FaultSpec = { text, rates: {} };
  // Named profiles expand to single faults (a profile's parts are never profiles themselves).
  const apply = (part: string, top: boolean) => {
    if (part === '') return;
    const [name, value, ...extra] = part.split(':');
    const num = value === undefined ? undefined : Number(value);
    if (extra.length > 0 || (value !== undefined && (value.trim() === '' || !Number.isFinite(num) || num! < 0))) {
      throw new Error(`'${part}' is not NAME or NAME:NUMBER`);
    }
    if (top && name in PROFILES && !(value !== undefined && name in EVENT_FAULTS)) {
      if (value !== undefined) throw new Error(`profile '${name}' takes no value`);
      for (const p of PROFILES[name].parts.split('+')) apply(p, false);
      return;
    }
    if (name in REQUEST_FAULTS) {
      const rate = num ?? FLAKY[name as RequestFault]!;
      if (rate > 1) throw new Error(`rate of '${name}' must be between 0 and 1`);
      spec.rates[name as RequestFault] = rate;
      return;
    }
    switch (name as EventFault) {
      case 'outage': spec.outageHours = num; if (num === undefined) spec.outageHours = -1; return;
      case 'revoke': spec.revokeFraction = checkFraction(name, num ?? 0.05); return;
      case 'disable': spec.disableFraction = checkFraction(name, num ?? 0.05); return;
      case 'delete': spec.deleteCount = Math.floor(num ?? 1); return;
    }
    const all = [...new Set([...Object.keys(PROFILES), ...REQUEST_FAULT_NAMES, ...Object.keys(EVENT_FAULTS)])];
    throw new Error(`unknown fault '${name}' (known: ${all.join(', ')})`);
  };
  for (const part of text.split('+')) apply(part.trim(), true);
  const total = Object.values(spec.rates).reduce((a, b) => a + b, 0);
  if (total > 1) throw new Error(`request fault rates add up to ${total.toFixed(3)}, more than 1`);
  return spec;
}

function checkFraction(name: string, v: number): number {
  if (v > 1) throw new Error(`'${name}' takes a fraction of devices between 0 and 1`);
  return v;
}

// ---- operator events ---------------------------------------------------------------------

export type OperatorEventKind = 'revoke' | 'disable' | 'enable' | 'delete';
export interface OperatorEvent { at: number; kind: OperatorEventKind; device: number }

export interface Window { start: number; end: number }

/** The outage window, in simulation ms, or null. */
export function outageWindow(spec: FaultSpec, durationMs: number): Window | null {
  if (spec.outageHours === undefined) return null;
  const len = spec.outageHours >= 0 ? spec.outageHours * 3_600_000 : Math.min(3 * 3_600_000, 0.2 * durationMs);
  const start = Math.round(0.2 * durationMs);
  return { start, end: start + Math.round(len) };
}

/** The operator's actions of the run, in time order (device = index in the fleet). */
export function operatorEvents(spec: FaultSpec, seed: number, devices: number, durationMs: number): OperatorEvent[] {
  const rng = new Rng(deviceSeed(seed, 0x0e, 99));
  const order = Array.from({ length: devices }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  let next = 0;
  const take = (n: number) => order.slice(next, (next = Math.min(order.length, next + n)));
  const count = (f: number) => (f > 0 ? Math.max(1, Math.round(f * devices)) : 0);
  const events: OperatorEvent[] = [];
  if (spec.deleteCount) for (const d of take(spec.deleteCount)) events.push({ at: Math.round(0.65 * durationMs), kind: 'delete', device: d });
  if (spec.revokeFraction) for (const d of take(count(spec.revokeFraction))) events.push({ at: Math.round(0.35 * durationMs), kind: 'revoke', device: d });
  if (spec.disableFraction) {
    const off = Math.round(0.45 * durationMs);
    const on = off + Math.round(Math.min(2 * 3_600_000, 0.15 * durationMs));
    for (const d of take(count(spec.disableFraction))) {
      events.push({ at: off, kind: 'disable', device: d });
      events.push({ at: on, kind: 'enable', device: d });
    }
  }
  return events.sort((a, b) => a.at - b.at || a.device - b.device);
}

// ---- the request hook --------------------------------------------------------------------

/** Counts of injected faults by kind (request faults, outage answers, operator actions). */
export type FaultCounts = Record<string, number>;

export const FAULT_LABELS: Record<string, string> = {
  ...REQUEST_FAULTS,
  '429-seconds': 'HTTP 429, Retry-After in seconds',
  '429-date': 'HTTP 429, Retry-After as a date',
  'outage-503': 'outage: 503 with Retry-After',
  'outage-drop': 'outage: connection dropped',
  'outage-502': 'outage: 502 HTML page',
  revoke: 'operator revoked a device key',
  disable: 'operator disabled a device',
  enable: 'operator re-enabled a device',
  delete: 'operator deleted a device',
};

const DEVICE_ENDPOINTS = new Set(['connect', 'reset', 'uplink', 'backfill']);
const ERROR_HTML = '<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>';
const TRUNCATED = '{"settings":{"type":"tracker","uplinkIntervalS":300,"movingInt';
const HUGE = '{"settings":{"type":"tracker"},"padding":"' + 'x'.repeat(256 * 1024) + '"}';

function hashId(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export interface FaultPlan {
  spec: FaultSpec;
  hook: FaultHook;
  counts: FaultCounts;
  /** The same counts per device id (request faults and outage answers). */
  byDevice: Record<string, FaultCounts>;
  outage: Window | null;
  events: OperatorEvent[];
}

/**
 * The plan of one run: the hook to give the cloud, and the operator events to act out.
 * `utcStart` maps the cloud's clock (ctx.now) to simulation time for the outage window.
 */
export function makeFaultPlan(spec: FaultSpec, o: {
  seed: number;
  devices: number;
  durationMs: number;
  utcStart: number;
  /**
   * Whether the cloud will answer this request with success. A 2xx answer mangled on the way
   * back is only injected then: turning a refusal (say a 404 for a deleted device) into a 200
   * would be the cloud acknowledging data it threw away, not a fault a device must survive.
   */
  willSucceed?: (ctx: FaultContext) => boolean;
}): FaultPlan {
  const counts: FaultCounts = {};
  const byDevice: Record<string, FaultCounts> = {};
  let current = '';
  const bump = (k: string) => {
    counts[k] = (counts[k] ?? 0) + 1;
    const d = (byDevice[current] ??= {});
    d[k] = (d[k] ?? 0) + 1;
  };
  const outage = outageWindow(spec, o.durationMs);
  const rngs = new Map<string, Rng>();
  const rngOf = (id: string) => {
    let r = rngs.get(id);
    if (!r) rngs.set(id, (r = new Rng(deviceSeed(o.seed, hashId(id), 13))));
    return r;
  };
  const kinds = Object.entries(spec.rates).filter(([, p]) => p! > 0) as [RequestFault, number][];

  const hook: FaultHook = (ctx: FaultContext): FaultAction | null => {
    if (!DEVICE_ENDPOINTS.has(ctx.endpoint)) return null;
    current = ctx.deviceId ?? '';
    const rng = rngOf(current);
    const t = ctx.now - o.utcStart;
    if (outage && t >= outage.start && t < outage.end) {
      const u = rng.next();
      if (u < 0.4) {
        bump('outage-503');
        const s = rng.int(30, 300);
        return { kind: 'status', status: 503, retryAfter: rng.chance(0.5) ? { seconds: s } : { date: ctx.now + s * 1000 } };
      }
      if (u < 0.7) { bump('outage-drop'); return { kind: 'drop' }; }
      bump('outage-502');
      return { kind: 'body', status: 502, body: ERROR_HTML, headers: { 'content-type': 'text/html' } };
    }
    if (kinds.length === 0) return null;
    let u = rng.next();
    for (const [kind, p] of kinds) {
      if (u >= p) { u -= p; continue; }
      return action(kind, rng, ctx, bump, o.willSucceed ?? (() => true));
    }
    return null;
  };
  return { spec, hook, counts, byDevice, outage, events: operatorEvents(spec, o.seed, o.devices, o.durationMs) };
}

function action(kind: RequestFault, rng: Rng, ctx: FaultContext, bump: (k: string) => void, willSucceed: (ctx: FaultContext) => boolean): FaultAction {
  const mangled = (body: string, headers?: Record<string, string>): FaultAction =>
    willSucceed(ctx)
      ? { kind: 'body', status: 200, body, headers, afterHandling: true }
      : { kind: 'body', status: 502, body, headers };
  switch (kind) {
    case 'drop':
      bump('drop');
      return { kind: 'drop' };
    case 'lost':
      bump('lost');
      return { kind: 'drop', afterHandling: true };
    case 'timeout':
      bump('timeout');
      return { kind: 'hang', afterHandling: rng.chance(0.5) };
    case '5xx': {
      bump('5xx');
      const status = [500, 502, 503, 504][rng.int(0, 3)];
      return { kind: 'status', status };
    }
    case '429': {
      const s = rng.int(1, 120);
      if (rng.chance(0.5)) { bump('429-seconds'); return { kind: 'status', status: 429, retryAfter: { seconds: s } }; }
      bump('429-date');
      return { kind: 'status', status: 429, retryAfter: { date: ctx.now + s * 1000 } };
    }
    // Mangled 2xx answers are mangled on the way back: the cloud did its work (else an OK
    // for an uplink it never stored would be the cloud losing data, not a fault to survive).
    case 'truncated':
      bump('truncated');
      return mangled(TRUNCATED);
    case 'nonjson':
      bump('nonjson');
      return rng.chance(0.5)
        ? mangled('OK', { 'content-type': 'text/plain' })
        : { kind: 'body', status: 502, body: ERROR_HTML, headers: { 'content-type': 'text/html' } };
    case 'empty':
      bump('empty');
      return rng.chance(0.5) ? mangled('') : { kind: 'body', status: 503, body: '' };
    case 'huge':
      bump('huge');
      return mangled(HUGE);
    case 'slow':
      bump('slow');
      return { kind: 'delay', ms: rng.int(5, 50) }; // real ms: over sockets the virtual clock waits for it
  }
}
