// What a fleet run did, seen from the cloud's side: per device, which uplinks it recorded
// and which the cloud has (lost = recorded, not buffered, not dropped by a full log, and not
// in the cloud); duplicates; requests by endpoint and status; and the delivery invariants
// checked on the cloud's request log: no request before a Retry-After, no retry closer than
// the back-off floor. Built per shard (one cloud), merged across shards, printed as a table.
import type { FakeCloud, RequestLogEntry, StoredUplink } from '../cloud/fake-cloud.ts';
import type { DeviceStore } from '../cloud/devices.ts';
import { STAT, type DeviceHost } from '../device-host.ts';
import { FAULT_LABELS, type FaultCounts, type Window } from './profiles.ts';
import { ENERGY_PARTS, type EnergyBreakdown, type EnergyReport, type RadioKind } from '../hal/energy.ts';

export const DEVICE_ENDPOINTS = ['connect', 'reset', 'uplink', 'backfill'] as const;
export const STATUS_GROUPS = ['2xx', '409', '401', '403/404', '429', '5xx', 'other 4xx', 'no answer'] as const;
export type StatusGroup = (typeof STATUS_GROUPS)[number];

export function statusGroup(s: number): StatusGroup {
  if (s >= 200 && s < 300) return '2xx';
  if (s === 409) return '409';
  if (s === 401) return '401';
  if (s === 403 || s === 404) return '403/404';
  if (s === 429) return '429';
  if (s >= 500) return '5xx';
  if (s === 0) return 'no answer';
  return 'other 4xx';
}

/** The agent's back-off floors (assembly/backoff.ts): after such an answer, no request sooner. */
export function backoffFloorMs(status: number): number {
  if (status >= 200 && status < 300) return 0; // success
  if (status === 401 || status === 409 || status === 413) return 0; // reset at once / duplicate = ack / halve the batch
  if (status === 403) return 60_000; // FORBIDDEN
  if (status === 404) return 3_600_000; // LONG
  return 1_000; // TRANSIENT: 429, 5xx, no answer, anything else
}

export interface DeviceOutcome {
  index: number;
  deviceId: string;
  recorded: number;
  acked: number;
  buffered: number;
  dropped: number;
  lastId: number;
  keyResets: number;
  boots: number;
  traps: number;
  requests: number;
  connections: number;
  delivered: number;
  /** Ids below the buffered ones that the cloud lacks, less the ones a full log dropped. */
  lost: number;
  duplicatesStored: number;
  duplicatesRejected: number;
  deleted: boolean;
  warnings: number;
  errors: number;
  /** Most uplinks buffered at any sample, and when (simulation ms). */
  peakBuffered: number;
  peakAtMs: number;
  /** Simulation ms of the last uplink the cloud stored, null when none. */
  lastDeliveredMs: number | null;
  /** The device's requests by HTTP status ("0": no answer). */
  requestsByStatus: Record<string, number>;
  /** Faults injected on this device's requests, and what the operator did to it, by kind. */
  faults: FaultCounts;
  /** What the operator did to this device, in order. */
  operator: { t: number; kind: string }[];
  /** Module warnings and errors by kind (numbers folded to #), and the first lines verbatim. */
  logKinds: Record<string, number>;
  logLines: LogLine[];
  /** What the energy model charged this device (hal/energy.ts); absent when none was charged. */
  energy?: EnergyReport;
}

/** One module log line of a device: simulation ms, level (0 error, 1 warning), text. */
export interface LogLine { t: number; level: number; line: string }

/** An operator action that was carried out. */
export interface OperatorAct { deviceId: string; t: number; kind: string }

/** A board as a shard keeps it for the summary. */
export interface ShardBoard {
  index: number;
  deviceId: string;
  host: DeviceHost;
  warnings: number;
  errors: number;
  logLines: LogLine[];
  logKinds: Record<string, number>;
  /** Buffered uplinks at each sample of the run (Series.t). */
  buffered: number[];
}

/** What the report draws for one device: its track, and per sample its buffered and delivered uplinks. */
export interface DeviceDetail {
  track: [number, number][];
  buffered: number[];
  /** Uplinks the cloud stored between the previous sample and this one, sent live or by backfill. */
  live: number[];
  backfill: number[];
}

/** A log line as a kind: numbers folded, so that "retry in 4 s" and "retry in 9 s" count together. */
export function logKind(line: string): string {
  const k = line.replace(/\d+(\.\d+)?/g, '#').replace(/\s+/g, ' ').trim();
  return k.length > 120 ? `${k.slice(0, 117)}...` : k;
}

export interface Violation { deviceId: string; t: number; rule: string; gapMs: number; neededMs: number }

export interface Series {
  /** Simulation ms of each sample. */
  t: number[];
  total: number[];
  max: number[];
  lines: { deviceId: string; values: number[] }[];
  /** Uplinks the whole fleet delivered between the previous sample and this one: live, backfill. */
  live?: number[];
  backfill?: number[];
}

export interface ShardSummary {
  devices: DeviceOutcome[];
  byEndpointStatus: Record<string, Record<string, number>>;
  perMinute: Record<StatusGroup, number[]>;
  bytesSent: number;
  bytesReceived: number;
  deviceRequests: number;
  retryAfterChecked: number;
  backoffChecked: number;
  retryAfterViolations: number;
  backoffViolations: number;
  /** The first few violations, as examples. */
  violations: Violation[];
  violationCount: number;
  faults: FaultCounts;
  series: Series;
  tracks: { deviceId: string; points: [number, number][] }[];
  /** Per device id: what the report's device view draws. */
  detail: Record<string, DeviceDetail>;
  /** Simulation ms the run reached when stopped early (Ctrl-C); absent when it ran to the end. */
  stoppedAtMs?: number;
}

/** Points kept per device track in the detail (the map thins them further for large fleets). */
const DETAIL_TRACK_POINTS = 240;

export interface Archive { [deviceId: string]: number[] }

/** Everything of one shard, read from its cloud and its devices at the end of the run. */
export function summarizeShard(o: {
  cloud: FakeCloud;
  boards: ShardBoard[];
  archive: Archive;
  deleted: Set<string>;
  durationMs: number;
  utcStart: number;
  faults: FaultCounts;
  faultsByDevice?: Record<string, FaultCounts>;
  operatorActs?: OperatorAct[];
  /** Uplinks of devices the operator deleted, as the cloud had them just before. */
  archivedUplinks?: Record<string, StoredUplink[]>;
  series: Series;
  trackDevices: number;
  stoppedAtMs?: number;
}): ShardSummary {
  const { cloud } = o;
  const bins = Math.max(1, Math.ceil(o.durationMs / 60_000));
  const perMinute = Object.fromEntries(STATUS_GROUPS.map((g) => [g, new Array<number>(bins).fill(0)])) as Record<StatusGroup, number[]>;
  const byEndpointStatus: Record<string, Record<string, number>> = {};
  let bytesSent = 0, bytesReceived = 0, deviceRequests = 0, retryAfterChecked = 0, backoffChecked = 0, violationCount = 0;
  let retryAfterViolations = 0, backoffViolations = 0;
  const violations: Violation[] = [];
  const last = new Map<string, RequestLogEntry>();
  const isDevice = new Set<string>(DEVICE_ENDPOINTS);
  // Per device: requests by status, and which endpoint each uplink request came in on, by arrival
  // time (an uplink's receivedAt is its request's arrival): live or backfill.
  const statusOf = new Map<string, Record<string, number>>();
  const viaAt = new Map<string, Map<number, string>>();
  for (const r of cloud.requests) {
    const e = (byEndpointStatus[r.endpoint] ??= {});
    e[r.status] = (e[r.status] ?? 0) + 1;
    if (!isDevice.has(r.endpoint) || r.deviceId === undefined) continue;
    deviceRequests++;
    let st = statusOf.get(r.deviceId);
    if (!st) statusOf.set(r.deviceId, (st = {}));
    st[r.status] = (st[r.status] ?? 0) + 1;
    if (r.endpoint === 'uplink' || r.endpoint === 'backfill') {
      let v = viaAt.get(r.deviceId);
      if (!v) viaAt.set(r.deviceId, (v = new Map()));
      v.set(r.t, r.endpoint);
    }
    bytesSent += r.bytesIn;
    bytesReceived += r.bytesOut;
    const bin = Math.min(bins - 1, Math.max(0, Math.floor((r.t - o.utcStart) / 60_000)));
    perMinute[statusGroup(r.status)][bin]++;
    const prev = last.get(r.deviceId);
    last.set(r.deviceId, r);
    if (!prev) continue;
    const gap = r.t - prev.t;
    const fail = (rule: string, needed: number) => {
      violationCount++;
      if (violations.length < 50) violations.push({ deviceId: r.deviceId!, t: r.t - o.utcStart, rule, gapMs: gap, neededMs: needed });
    };
    if (prev.retryAfterS !== undefined) {
      retryAfterChecked++;
      if (gap < prev.retryAfterS * 1000) {
        retryAfterViolations++;
        fail(`request before the Retry-After of ${prev.retryAfterS} s`, prev.retryAfterS * 1000);
      }
    }
    const floor = backoffFloorMs(prev.status);
    if (floor > 0) {
      backoffChecked++;
      if (gap < floor) {
        backoffViolations++;
        fail(`retry after HTTP ${prev.status || 'no answer'} sooner than the back-off floor`, floor);
      }
    }
  }

  const devices: DeviceOutcome[] = [];
  const tracks: ShardSummary['tracks'] = [];
  const detail: Record<string, DeviceDetail> = {};
  const times = o.series.t;
  const binOf = (ms: number) => {
    // The first sample at or after ms (samples are sorted); past the last one, the last bin.
    let lo = 0, hi = times.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (times[mid] >= ms) hi = mid; else lo = mid + 1; }
    return lo;
  };
  const fleetLive = times.map(() => 0);
  const fleetBackfill = times.map(() => 0);
  const actsOf = new Map<string, OperatorAct[]>();
  for (const a of o.operatorActs ?? []) { const l = actsOf.get(a.deviceId) ?? []; l.push(a); actsOf.set(a.deviceId, l); }
  const every = Math.max(1, Math.floor(o.boards.length / Math.max(1, o.trackDevices)));
  o.boards.forEach((b, k) => {
    const h = b.host;
    const stat = (w: number) => Math.max(0, h.stat(w));
    const kept = o.archivedUplinks?.[b.deviceId];
    const stored = kept ? [...kept, ...storedUplinks(cloud, b.deviceId)].sort((x, y) => x.id - y.id) : storedUplinks(cloud, b.deviceId);
    // Uplinks are named by (epoch, id) where the cloud keeps epochs: a duplicate is the same
    // pair twice, and the ids checked for losses are those of the device's current epoch (the
    // one of its latest uplink); without epochs, all ids are one sequence.
    const epochOf = (u: StoredUplink) => (u as { epoch?: unknown }).epoch;
    let latest: StoredUplink | undefined;
    for (const u of stored) if (!latest || u.receivedAt > latest.receivedAt) latest = u;
    const current = latest === undefined ? undefined : epochOf(latest);
    const ids = new Set<number>(o.archive[b.deviceId] ?? []);
    const names = new Set<string>();
    let duplicatesStored = 0;
    for (const u of stored) {
      const name = `${String(epochOf(u))}:${u.id}`;
      if (names.has(name)) duplicatesStored++;
      names.add(name);
      if (epochOf(u) === current) ids.add(u.id);
    }
    const lastId = stat(STAT.lastId);
    const buffered = stat(STAT.buffered);
    const dropped = stat(STAT.dropped);
    let missing = 0;
    for (let id = 1; id <= lastId - buffered; id++) if (!ids.has(id)) missing++;

    // Over time: delivered per sample interval (live or backfill), buffered at each sample.
    const live = times.map(() => 0);
    const backfill = times.map(() => 0);
    const via = viaAt.get(b.deviceId);
    let lastDelivered = -Infinity;
    const pts: [number, number][] = [];
    for (const u of stored) {
      const at = Date.parse(u.receivedAt);
      if (Number.isFinite(at)) {
        const i = binOf(at - o.utcStart);
        if (via?.get(at) === 'backfill') { backfill[i]++; fleetBackfill[i]++; } else { live[i]++; fleetLive[i]++; }
        if (at - o.utcStart > lastDelivered) lastDelivered = at - o.utcStart;
      }
      const d = u.data as { latitude?: unknown; longitude?: unknown } | null;
      if (u.topic === 'position' && typeof d?.latitude === 'number' && typeof d.longitude === 'number') pts.push([d.latitude, d.longitude]);
    }
    let peakBuffered = 0, peakAtMs = 0;
    b.buffered.forEach((n, i) => { if (n > peakBuffered) { peakBuffered = n; peakAtMs = times[i] ?? 0; } });
    const faults: FaultCounts = { ...(o.faultsByDevice?.[b.deviceId] ?? {}) };
    const acts = actsOf.get(b.deviceId) ?? [];
    for (const a of acts) faults[a.kind] = (faults[a.kind] ?? 0) + 1;
    devices.push({
      index: b.index,
      deviceId: b.deviceId,
      recorded: stat(STAT.recorded),
      acked: stat(STAT.acked),
      buffered,
      dropped,
      lastId,
      keyResets: stat(STAT.resets),
      boots: stat(STAT.boots),
      traps: stat(STAT.traps),
      requests: stat(STAT.requests),
      connections: h.hal.http.connectionsOpened,
      delivered: ids.size,
      lost: Math.max(0, missing - dropped),
      duplicatesStored,
      duplicatesRejected: cloud.duplicatesOf(b.deviceId),
      deleted: o.deleted.has(b.deviceId),
      warnings: b.warnings,
      errors: b.errors,
      peakBuffered,
      peakAtMs,
      lastDeliveredMs: Number.isFinite(lastDelivered) ? lastDelivered : null,
      requestsByStatus: statusOf.get(b.deviceId) ?? {},
      faults,
      operator: acts.map((a) => ({ t: a.t, kind: a.kind })),
      logKinds: b.logKinds,
      logLines: b.logLines,
      ...(h.hal.energy ? { energy: h.hal.energy.report(o.durationMs, stat(STAT.acked)) } : {}),
    });
    const track = thin(pts, DETAIL_TRACK_POINTS).map(([la, lo]) => [round5(la), round5(lo)] as [number, number]);
    detail[b.deviceId] = { track, buffered: b.buffered, live, backfill };
    if (k % every === 0 && tracks.length < o.trackDevices && pts.length > 0) tracks.push({ deviceId: b.deviceId, points: thin(pts, 400) });
  });
  return {
    devices, byEndpointStatus, perMinute, bytesSent, bytesReceived, deviceRequests,
    retryAfterChecked, backoffChecked, retryAfterViolations, backoffViolations, violations, violationCount,
    faults: { ...o.faults }, series: { ...o.series, live: fleetLive, backfill: fleetBackfill }, tracks, detail,
    ...(o.stoppedAtMs === undefined ? {} : { stoppedAtMs: o.stoppedAtMs }),
  };
}

/** Degrees to five decimals (about a metre): the report carries every device's track. */
const round5 = (x: number) => Math.round(x * 1e5) / 1e5;

/**
 * The uplinks the cloud stores for a device, ordered by id, without the copies uplinksOf
 * makes (a thousand devices hold most of a million uplinks). Read only.
 */
function storedUplinks(cloud: FakeCloud, deviceId: string): StoredUplink[] {
  const d = (cloud['devices'] as DeviceStore).byId(deviceId);
  return d ? [...d.uplinks.values()].sort((a, b) => a.id - b.id) : [];
}

function thin<T>(a: T[], max: number): T[] {
  if (a.length <= max) return a;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(a[Math.floor((i * (a.length - 1)) / (max - 1))]);
  return out;
}

/** One summary of several shards (each with its own cloud, devices disjoint). */
export function mergeSummaries(parts: ShardSummary[]): ShardSummary {
  if (parts.length === 1) return parts[0];
  // Shards stopped early (Ctrl-C) may have reached different times: the longest one sets the axes.
  const end = (p: ShardSummary) => p.series.t[p.series.t.length - 1] ?? 0;
  const longest = parts.reduce((a, p) => (end(p) > end(a) ? p : a), parts[0]);
  const minutes = Math.max(...parts.map((p) => p.perMinute['2xx'].length));
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const n = longest.series.t.length;
  const out: ShardSummary = {
    devices: [], byEndpointStatus: {}, perMinute: Object.fromEntries(STATUS_GROUPS.map((g) => [g, zeros(minutes)])) as Record<StatusGroup, number[]>,
    bytesSent: 0, bytesReceived: 0, deviceRequests: 0,
    retryAfterChecked: 0, backoffChecked: 0, retryAfterViolations: 0, backoffViolations: 0, violations: [], violationCount: 0, faults: {},
    series: { t: [...longest.series.t], total: zeros(n), max: zeros(n), lines: [], live: zeros(n), backfill: zeros(n) },
    tracks: [], detail: {},
  };
  const stops = parts.map((p) => p.stoppedAtMs).filter((x): x is number => x !== undefined);
  if (stops.length > 0) out.stoppedAtMs = Math.max(...stops);
  const add = (into: number[], from: number[] | undefined) => from?.forEach((v, i) => { if (i < into.length) into[i] += v; });
  for (const p of parts) {
    out.devices.push(...p.devices);
    for (const [ep, m] of Object.entries(p.byEndpointStatus)) {
      const e = (out.byEndpointStatus[ep] ??= {});
      for (const [s, c] of Object.entries(m)) e[s] = (e[s] ?? 0) + c;
    }
    for (const g of STATUS_GROUPS) add(out.perMinute[g], p.perMinute[g]);
    out.bytesSent += p.bytesSent;
    out.bytesReceived += p.bytesReceived;
    out.deviceRequests += p.deviceRequests;
    out.retryAfterChecked += p.retryAfterChecked;
    out.backoffChecked += p.backoffChecked;
    out.retryAfterViolations += p.retryAfterViolations;
    out.backoffViolations += p.backoffViolations;
    out.violationCount += p.violationCount;
    out.violations.push(...p.violations);
    for (const [k, c] of Object.entries(p.faults)) out.faults[k] = (out.faults[k] ?? 0) + c;
    add(out.series.total, p.series.total);
    add(out.series.live!, p.series.live);
    add(out.series.backfill!, p.series.backfill);
    p.series.max.forEach((v, i) => { if (i < out.series.max.length) out.series.max[i] = Math.max(out.series.max[i], v); });
    out.series.lines.push(...p.series.lines);
    out.tracks.push(...p.tracks);
    Object.assign(out.detail, p.detail);
  }
  out.devices.sort((a, b) => a.index - b.index);
  out.violations = out.violations.slice(0, 50);
  out.series.lines = out.series.lines.slice(0, 8);
  out.tracks = out.tracks.slice(0, 20);
  return out;
}

/** Devices that most need a look first: anything lost, dropped, then the most still buffered. */
export function worstDevices(s: ShardSummary, count: number): DeviceOutcome[] {
  const score = (d: DeviceOutcome) => [d.lost, d.duplicatesStored, d.dropped, d.buffered, d.peakBuffered, d.errors, d.warnings];
  return [...s.devices].sort((a, b) => {
    const x = score(a), y = score(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return y[i] - x[i];
    return a.index - b.index;
  }).slice(0, count);
}

/** Why a device looks the way it does at the end, in one line built from what happened to it. */
export function explainDevice(d: DeviceOutcome): string {
  const out: string[] = [];
  if (d.lost > 0) out.push(`${d.lost} uplink(s) LOST`);
  if (d.duplicatesStored > 0) out.push(`${d.duplicatesStored} duplicate(s) stored`);
  for (const a of d.operator) {
    if (a.kind === 'delete') out.push(`deleted by the operator at ${hhmm(a.t)}: the cloud answers 404 since, the device keeps its data`);
    else if (a.kind === 'disable') out.push(`disabled by the operator at ${hhmm(a.t)} (403s)`);
    else if (a.kind === 'enable') out.push(`re-enabled at ${hhmm(a.t)}`);
    else if (a.kind === 'revoke') out.push(`key revoked at ${hhmm(a.t)}`);
  }
  if (d.keyResets > 0) out.push(`${d.keyResets} key reset(s)`);
  if (d.dropped > 0) out.push(`${d.dropped} dropped by a full log`);
  if (d.traps > 0) out.push(`${d.traps} trap(s) recovered`);
  const total = Object.values(d.requestsByStatus).reduce((a, b) => a + b, 0);
  const failed = Object.entries(d.requestsByStatus).filter(([st]) => !(Number(st) >= 200 && Number(st) < 300) && st !== '409');
  const failedCount = failed.reduce((a, [, c]) => a + c, 0);
  if (total > 0 && failedCount > 0) {
    const top = failed.sort((a, b) => b[1] - a[1]).slice(0, 3).map(([st, c]) => `${st === '0' ? 'no answer' : st} x${c}`);
    out.push(`${Math.round((100 * failedCount) / total)} % of ${total} requests failed (${top.join(', ')})`);
  }
  const last = d.lastDeliveredMs !== null ? `, last delivery at ${hhmm(d.lastDeliveredMs)}` : d.delivered === 0 ? ', nothing delivered' : '';
  if (d.buffered > 0) out.push(`${d.buffered} still buffered at the end${last}`);
  if (d.peakBuffered > d.buffered && d.peakBuffered > 1) out.push(`peak ${d.peakBuffered} buffered at ${hhmm(d.peakAtMs)}`);
  if (d.warnings + d.errors > 0) out.push(`${d.warnings} warning(s), ${d.errors} error(s) in its log`);
  return out.length > 0 ? out.join('; ') : 'nothing to report: every uplink delivered as recorded';
}

/** Log kinds of the whole fleet, most frequent first. */
export function fleetLogKinds(s: ShardSummary, count: number): [string, number][] {
  const all: Record<string, number> = {};
  for (const d of s.devices) for (const [k, c] of Object.entries(d.logKinds ?? {})) all[k] = (all[k] ?? 0) + c;
  return Object.entries(all).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, count);
}

// ---- totals and the table ------------------------------------------------------------------

export interface Totals {
  devices: number;
  recorded: number;
  delivered: number;
  buffered: number;
  droppedFull: number;
  lost: number;
  duplicatesDelivered: number;
  duplicatesRejected: number;
  keyResets: number;
  boots: number;
  traps: number;
  connections: number;
  deleted: number;
  warnings: number;
  errors: number;
}

export function totals(s: ShardSummary): Totals {
  const t: Totals = { devices: s.devices.length, recorded: 0, delivered: 0, buffered: 0, droppedFull: 0, lost: 0, duplicatesDelivered: 0, duplicatesRejected: 0, keyResets: 0, boots: 0, traps: 0, connections: 0, deleted: 0, warnings: 0, errors: 0 };
  for (const d of s.devices) {
    t.recorded += d.recorded;
    t.delivered += d.delivered;
    t.buffered += d.buffered;
    t.droppedFull += d.dropped;
    t.lost += d.lost;
    t.duplicatesDelivered += d.duplicatesStored;
    t.duplicatesRejected += d.duplicatesRejected;
    t.keyResets += d.keyResets;
    t.boots += d.boots;
    t.traps += d.traps;
    t.connections += d.connections;
    t.deleted += d.deleted ? 1 : 0;
    t.warnings += d.warnings;
    t.errors += d.errors;
  }
  return t;
}

/** The fleet's energy: the mean device's mAh per day and its breakdown, and days on battery. */
export interface FleetEnergy {
  radio: RadioKind;
  batteryMah: number;
  devices: number;
  mAhPerDay: number;
  perDay: EnergyBreakdown;
  /** The battery over the mean device's mAh per day. */
  daysOnBattery: number;
  /** The device that empties its battery first. */
  worstDays: number;
  worstDeviceId: string;
  tlsFull: number;
  tlsResumed: number;
  connections: number;
  associations: number;
}

export function fleetEnergy(s: ShardSummary): FleetEnergy | null {
  const ds = s.devices.filter((d) => d.energy);
  if (ds.length === 0) return null;
  const perDay = Object.fromEntries(ENERGY_PARTS.map((k) => [k, ds.reduce((n, d) => n + d.energy!.perDay[k], 0) / ds.length])) as EnergyBreakdown;
  const mAhPerDay = ds.reduce((n, d) => n + d.energy!.mAhPerDay, 0) / ds.length;
  const worst = ds.reduce((a, d) => (d.energy!.daysOnBattery < a.energy!.daysOnBattery ? d : a), ds[0]);
  const e0 = ds[0].energy!;
  const sum = (f: (e: EnergyReport) => number) => ds.reduce((n, d) => n + f(d.energy!), 0);
  return {
    radio: e0.radio, batteryMah: e0.batteryMah, devices: ds.length, mAhPerDay, perDay,
    daysOnBattery: mAhPerDay > 0 ? e0.batteryMah / mAhPerDay : Infinity,
    worstDays: worst.energy!.daysOnBattery, worstDeviceId: worst.deviceId,
    tlsFull: sum((e) => e.counts.tlsFull), tlsResumed: sum((e) => e.counts.tlsResumed),
    connections: sum((e) => e.counts.connections), associations: sum((e) => e.counts.associations),
  };
}

/** Labels of the energy parts, for the summary and the report. */
export const ENERGY_LABELS: Record<(typeof ENERGY_PARTS)[number], string> = {
  association: 'radio association / attach', radioWake: 'radio wakes from PSM', tlsFull: 'full TLS handshakes',
  tlsResumed: 'resumed TLS handshakes', transfer: 'bytes each way', radioTail: 'radio tail after exchanges',
  gnss: 'GNSS on-time', cpu: 'CPU awake (module)', sleep: 'sleep',
};

export interface RunInfo {
  devices: number;
  hours: number;
  seed: number;
  transport: string;
  faults: string;
  workers: number;
  wallSeconds: number;
  outage: Window | null;
  track: string | null;
  radio?: RadioKind;
  batteryMah?: number;
}

const fmt = (n: number) => n.toLocaleString('en-US');
function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function table(rows: string[][], align: ('l' | 'r')[]): string {
  const w = align.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (align[c] === 'r' ? cell.padStart(w[c]) : cell.padEnd(w[c]))).join('  ').trimEnd()).join('\n');
}

/** The summary as text for a terminal. */
export function formatSummary(s: ShardSummary, info: RunInfo): string {
  const t = totals(s);
  const dh = info.devices * info.hours;
  const out: string[] = [];
  out.push(`Fleet: ${fmt(info.devices)} devices x ${info.hours} h virtual (seed ${info.seed}, transport ${info.transport}${info.workers > 1 ? `, ${info.workers} workers` : ''}, faults ${info.faults || 'none'}${info.track ? `, track ${info.track}` : ''})`);
  if (s.stoppedAtMs !== undefined) out.push(`STOPPED EARLY (Ctrl-C) at ${hhmm(s.stoppedAtMs)} of ${hhmm(info.hours * 3_600_000)} virtual: the figures cover the run so far`);
  out.push(`Wall time ${info.wallSeconds.toFixed(1)} s: ${fmt(Math.round(dh / Math.max(1e-9, info.wallSeconds)))} device-hours per second`);
  out.push('');
  const ok = (b: boolean) => (b ? 'ok' : 'FAILED');
  out.push(table([
    ['uplinks recorded', fmt(t.recorded), ''],
    ['delivered (stored by the cloud)', fmt(t.delivered), ''],
    ['still buffered on devices', fmt(t.buffered), ''],
    ['dropped by a full log', fmt(t.droppedFull), ''],
    ['lost', fmt(t.lost), ok(t.lost === 0)],
    ['duplicates delivered', fmt(t.duplicatesDelivered), ok(t.duplicatesDelivered === 0)],
    ['duplicates rejected by the cloud (409)', fmt(t.duplicatesRejected), ''],
    ['requests before a Retry-After', `${fmt(s.retryAfterViolations)} of ${fmt(s.retryAfterChecked)}`, ok(s.retryAfterViolations === 0)],
    ['retries sooner than the back-off floor', `${fmt(s.backoffViolations)} of ${fmt(s.backoffChecked)}`, ok(s.backoffViolations === 0)],
    ['key resets', fmt(t.keyResets), ''],
    ['boots / traps recovered', `${fmt(t.boots)} / ${fmt(t.traps)}`, ''],
    ['devices deleted by the operator', fmt(t.deleted), ''],
    ['connections opened', fmt(t.connections), ''],
    ['bytes sent / received (bodies)', `${bytes(s.bytesSent)} / ${bytes(s.bytesReceived)}`, ''],
    ['module log warnings / errors', `${fmt(t.warnings)} / ${fmt(t.errors)}`, ''],
  ], ['l', 'r', 'l']));
  out.push('');
  // Requests by endpoint and status.
  const statuses = [...new Set(Object.values(s.byEndpointStatus).flatMap((m) => Object.keys(m)))].sort((a, b) => Number(a) - Number(b));
  const eps = Object.keys(s.byEndpointStatus).sort((a, b) => order(a) - order(b));
  const rows: string[][] = [['requests', ...statuses.map((x) => (x === '0' ? 'none' : x)), 'total']];
  for (const ep of eps) {
    const m = s.byEndpointStatus[ep];
    rows.push([ep, ...statuses.map((x) => (m[x] ? fmt(m[x]) : '-')), fmt(Object.values(m).reduce((a, b) => a + b, 0))]);
  }
  out.push(table(rows, ['l', ...statuses.map(() => 'r' as const), 'r']));
  if (statuses.includes('0')) out.push('(status "none": the cloud sent no answer: connection dropped or left hanging)');
  const en = fleetEnergy(s);
  if (en) {
    out.push('');
    out.push(table([
      [`energy (model, --radio ${en.radio}), mean device`, 'mAh/day', 'share'],
      ...ENERGY_PARTS.filter((k) => en.perDay[k] > 0).map((k) => [ENERGY_LABELS[k], en.perDay[k].toFixed(2), `${Math.round((100 * en.perDay[k]) / en.mAhPerDay)} %`]),
      ['total', en.mAhPerDay.toFixed(2), ''],
    ], ['l', 'r', 'r']));
    out.push(`days on a ${fmt(en.batteryMah)} mAh battery: fleet ${en.daysOnBattery.toFixed(1)} (mean device), worst device ${en.worstDays.toFixed(1)} (${en.worstDeviceId}); TLS handshakes full / resumed ${fmt(en.tlsFull)} / ${fmt(en.tlsResumed)}`);
  }
  const faultRows = Object.entries(s.faults).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  out.push('');
  if (faultRows.length === 0) out.push('faults injected: none');
  else out.push(table([['faults injected', 'count'], ...faultRows.map(([k, n]) => [FAULT_LABELS[k] ?? k, fmt(n)])], ['l', 'r']));
  if (info.outage) out.push(`outage window: ${hhmm(info.outage.start)} to ${hhmm(info.outage.end)} (virtual)`);
  const kinds = fleetLogKinds(s, 5);
  if (kinds.length > 0) {
    out.push('');
    out.push(table([['module log warnings and errors, most frequent (fleet --log warn prints them)', 'count'], ...kinds.map(([k, n]) => [k, fmt(n)])], ['l', 'r']));
  }
  const worst = worstDevices(s, 3).filter((d) => d.lost + d.dropped + d.buffered + d.duplicatesStored > 0);
  if (worst.length > 0) {
    out.push('');
    out.push('devices to look at first (the report has every device):');
    for (const d of worst) out.push(`  ${d.deviceId}: ${explainDevice(d)}`);
  }
  if (s.violationCount > 0) {
    out.push('');
    out.push(`invariant violations: ${s.violationCount}, e.g.`);
    for (const v of s.violations.slice(0, 5)) out.push(`  ${v.deviceId} at ${hhmm(v.t)}: ${v.rule} (gap ${v.gapMs} ms, needed ${v.neededMs} ms)`);
  }
  return out.join('\n');
}

function order(ep: string): number {
  const i = ['connect', 'uplink', 'backfill', 'reset', 'operator', 'unknown'].indexOf(ep);
  return i < 0 ? 99 : i;
}

/** Virtual time since the start as hours:minutes (hours run past 24: `36:30`). */
export function hhmm(ms: number): string {
  const m = Math.floor(ms / 60_000);
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** The run's summary as one JSON object (fleet --json). */
export function summaryJson(s: ShardSummary, info: RunInfo) {
  const t = totals(s);
  return {
    ...info,
    deviceHoursPerSecond: (info.devices * info.hours) / Math.max(1e-9, info.wallSeconds),
    ...t,
    requestsByEndpointStatus: s.byEndpointStatus,
    bytesSent: s.bytesSent,
    bytesReceived: s.bytesReceived,
    retryAfterChecked: s.retryAfterChecked,
    backoffChecked: s.backoffChecked,
    retryAfterViolations: s.retryAfterViolations,
    backoffViolations: s.backoffViolations,
    violations: s.violationCount,
    faultsInjected: s.faults,
    ...(s.stoppedAtMs === undefined ? {} : { stoppedAtHours: s.stoppedAtMs / 3_600_000 }),
    logKinds: Object.fromEntries(fleetLogKinds(s, 20)),
    energy: fleetEnergy(s),
    perDevice: s.devices.map((d) => ({
      deviceId: d.deviceId, recorded: d.recorded, delivered: d.delivered, buffered: d.buffered, lost: d.lost, dropped: d.dropped,
      duplicatesDelivered: d.duplicatesStored, duplicatesRejected: d.duplicatesRejected, peakBuffered: d.peakBuffered,
      lastDeliveredHours: d.lastDeliveredMs === null ? null : d.lastDeliveredMs / 3_600_000,
      keyResets: d.keyResets, boots: d.boots, traps: d.traps, requests: d.requests, connections: d.connections, deleted: d.deleted,
      requestsByStatus: d.requestsByStatus, faults: d.faults, warnings: d.warnings, errors: d.errors, logKinds: d.logKinds,
      why: explainDevice(d),
      ...(d.energy ? { energy: { mAhPerDay: d.energy.mAhPerDay, perDay: d.energy.perDay, daysOnBattery: d.energy.daysOnBattery, counts: d.energy.counts } } : {}),
    })),
  };
}
