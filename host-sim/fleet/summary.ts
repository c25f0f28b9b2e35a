// What a fleet run did, seen from the cloud's side: per device, which uplinks it recorded
// and which the cloud has (lost = recorded, not buffered, not dropped by a full log, and not
// in the cloud); duplicates; requests by endpoint and status; and the delivery invariants
// checked on the cloud's request log: no request before a Retry-After, no retry closer than
// the back-off floor. Built per shard (one cloud), merged across shards, printed as a table.
import type { FakeCloud, RequestLogEntry, StoredUplink } from '../cloud/fake-cloud.ts';
import type { DeviceStore } from '../cloud/devices.ts';
import { STAT, type DeviceHost } from '../device-host.ts';
import { FAULT_LABELS, type FaultCounts, type Window } from './profiles.ts';

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
}

export interface Violation { deviceId: string; t: number; rule: string; gapMs: number; neededMs: number }

export interface Series {
  /** Simulation ms of each sample. */
  t: number[];
  total: number[];
  max: number[];
  lines: { deviceId: string; values: number[] }[];
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
}

export interface Archive { [deviceId: string]: number[] }

/** Everything of one shard, read from its cloud and its devices at the end of the run. */
export function summarizeShard(o: {
  cloud: FakeCloud;
  boards: { index: number; deviceId: string; host: DeviceHost; warnings: number; errors: number }[];
  archive: Archive;
  deleted: Set<string>;
  durationMs: number;
  utcStart: number;
  faults: FaultCounts;
  series: Series;
  trackDevices: number;
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
  for (const r of cloud.requests) {
    const e = (byEndpointStatus[r.endpoint] ??= {});
    e[r.status] = (e[r.status] ?? 0) + 1;
    if (!isDevice.has(r.endpoint) || r.deviceId === undefined) continue;
    deviceRequests++;
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
  const every = Math.max(1, Math.floor(o.boards.length / Math.max(1, o.trackDevices)));
  o.boards.forEach((b, k) => {
    const h = b.host;
    const stat = (w: number) => Math.max(0, h.stat(w));
    const stored = storedUplinks(cloud, b.deviceId);
    const ids = new Set<number>(o.archive[b.deviceId] ?? []);
    let duplicatesStored = 0;
    for (let i = 0; i < stored.length; i++) {
      if (i > 0 && stored[i].id === stored[i - 1].id) duplicatesStored++;
      ids.add(stored[i].id);
    }
    const lastId = stat(STAT.lastId);
    const buffered = stat(STAT.buffered);
    const dropped = stat(STAT.dropped);
    let missing = 0;
    for (let id = 1; id <= lastId - buffered; id++) if (!ids.has(id)) missing++;
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
    });
    if (k % every === 0 && tracks.length < o.trackDevices) {
      const pts: [number, number][] = [];
      for (const u of stored) {
        const d = u.data as { latitude?: unknown; longitude?: unknown } | null;
        if (u.topic === 'position' && typeof d?.latitude === 'number' && typeof d.longitude === 'number') pts.push([d.latitude, d.longitude]);
      }
      if (pts.length > 0) tracks.push({ deviceId: b.deviceId, points: thin(pts, 400) });
    }
  });
  return {
    devices, byEndpointStatus, perMinute, bytesSent, bytesReceived, deviceRequests,
    retryAfterChecked, backoffChecked, retryAfterViolations, backoffViolations, violations, violationCount,
    faults: { ...o.faults }, series: o.series, tracks,
  };
}

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
  const out: ShardSummary = {
    devices: [], byEndpointStatus: {}, perMinute: structuredClone(parts[0].perMinute), bytesSent: 0, bytesReceived: 0, deviceRequests: 0,
    retryAfterChecked: 0, backoffChecked: 0, retryAfterViolations: 0, backoffViolations: 0, violations: [], violationCount: 0, faults: {},
    series: { t: [...parts[0].series.t], total: parts[0].series.total.map(() => 0), max: parts[0].series.max.map(() => 0), lines: [] },
    tracks: [],
  };
  for (const g of STATUS_GROUPS) out.perMinute[g].fill(0);
  for (const p of parts) {
    out.devices.push(...p.devices);
    for (const [ep, m] of Object.entries(p.byEndpointStatus)) {
      const e = (out.byEndpointStatus[ep] ??= {});
      for (const [s, n] of Object.entries(m)) e[s] = (e[s] ?? 0) + n;
    }
    for (const g of STATUS_GROUPS) p.perMinute[g].forEach((n, i) => (out.perMinute[g][i] += n));
    out.bytesSent += p.bytesSent;
    out.bytesReceived += p.bytesReceived;
    out.deviceRequests += p.deviceRequests;
    out.retryAfterChecked += p.retryAfterChecked;
    out.backoffChecked += p.backoffChecked;
    out.retryAfterViolations += p.retryAfterViolations;
    out.backoffViolations += p.backoffViolations;
    out.violationCount += p.violationCount;
    out.violations.push(...p.violations);
    for (const [k, n] of Object.entries(p.faults)) out.faults[k] = (out.faults[k] ?? 0) + n;
    p.series.total.forEach((n, i) => { if (i < out.series.total.length) out.series.total[i] += n; });
    p.series.max.forEach((n, i) => { if (i < out.series.max.length) out.series.max[i] = Math.max(out.series.max[i], n); });
    out.series.lines.push(...p.series.lines);
    out.tracks.push(...p.tracks);
  }
  out.devices.sort((a, b) => a.index - b.index);
  out.violations = out.violations.slice(0, 50);
  out.series.lines = out.series.lines.slice(0, 8);
  out.tracks = out.tracks.slice(0, 20);
  return out;
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
  const faultRows = Object.entries(s.faults).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  out.push('');
  if (faultRows.length === 0) out.push('faults injected: none');
  else out.push(table([['faults injected', 'count'], ...faultRows.map(([k, n]) => [FAULT_LABELS[k] ?? k, fmt(n)])], ['l', 'r']));
  if (info.outage) out.push(`outage window: ${hhmm(info.outage.start)} to ${hhmm(info.outage.end)} (virtual)`);
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
  };
}
