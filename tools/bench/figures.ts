// The deterministic figures of `npm run bench`, one function each, shared with the budget
// check (test/budgets.test.ts): module size, linear memory, HTTP requests, body bytes and
// connections per 1,000 backfilled uplinks, flash per record. Same build, same figures.
import fs from 'node:fs';
import { FakeCloud } from '../../host-sim/cloud/fake-cloud.ts';
import { STAT, type DeviceHost } from '../../host-sim/device-host.ts';
import { SIM_START_UTC, Scheduler } from '../../host-sim/scheduler.ts';
import type { NorFlash } from '../../host-sim/hal/flash.ts';
import { MemoryTransport, type HttpRequest, type HttpResult, type HttpTransport } from '../../host-sim/hal/http.ts';
import { FixedPoint, type MotionSource } from '../../host-sim/hal/gnss.ts';
import { Rng } from '../../host-sim/hal/random.ts';
import { DEFAULT_WASM, loadModule, simDevice } from '../../host-sim/sim-device.ts';
import type { EnergyMeter } from '../../host-sim/hal/energy.ts';

export const RELEASE_WASM = DEFAULT_WASM;
const T0 = SIM_START_UTC;
const HOUR = 3_600_000;

export function moduleBytes(path = RELEASE_WASM): number {
  return fs.statSync(path).size;
}

/**
 * A transport wrapper that counts the connections a device would open: a new one whenever
 * the previous exchange is older than the server's keep-alive idle timeout (virtual time),
 * or the last one failed. What matters on a battery: each is a TLS handshake.
 */
export class KeepAliveMeter implements HttpTransport {
  connectionsOpened = 0;
  private lastEnd = -Infinity;
  private alive = false;
  /** Every request body sent, with its endpoint path. */
  readonly sent: { path: string; bytes: number; body: Uint8Array; status: number }[] = [];

  constructor(private inner: HttpTransport, private now: () => number, private idleTimeoutMs: number) {}

  async request(req: HttpRequest): Promise<HttpResult> {
    const t = this.now();
    if (!this.alive || t - this.lastEnd > this.idleTimeoutMs) this.connectionsOpened++;
    const r = await this.inner.request(req);
    this.alive = r.status > 0;
    this.lastEnd = this.now();
    this.sent.push({ path: new URL(req.url).pathname, bytes: req.body.length, body: req.body, status: r.status });
    return r;
  }

  close() { this.inner.close(); }
}

export interface World {
  sched: Scheduler;
  cloud: FakeCloud;
  device: DeviceHost;
  meter: KeepAliveMeter;
  flash: NorFlash;
  deviceId: string;
}

/** One device against an in-process cloud, with the given remote settings. */
export function world(settings: Record<string, number>, opts: { idleTimeoutMs?: number; seed?: number; wasm?: string; energy?: EnergyMeter; route?: MotionSource } = {}): World {
  const sched = new Scheduler(T0);
  const cloud = new FakeCloud({ now: () => sched.utcNow(), baseUrl: 'https://cloud.bench' });
  const deviceId = 'bench-1';
  const d = cloud.createDevice({ tenantId: 't1', deviceId, settings: { type: 'tracker', ...settings } });
  const meter = new KeepAliveMeter(new MemoryTransport(cloud), () => sched.now, opts.idleTimeoutMs ?? 60_000);
  const device = simDevice({
    module: loadModule(opts.wasm ?? RELEASE_WASM),
    identity: { tenantId: 't1', deviceId, environment: 'https://cloud.bench', apiKey: d.apiKey, resetSecret: d.resetSecret },
    flash: { sectorSize: 4096, sectorCount: 64, progSize: 4 },
    http: meter,
    gnss: { route: opts.route ?? new FixedPoint(47.3769, 8.5417), options: { timeoutRate: 0, fixMinMs: 1_000, fixMaxMs: 1_000 } },
    rng: new Rng(opts.seed ?? 1),
    board: { dev: false, firmware: 'bench', allowHosts: ['cloud.bench'] },
    scheduler: sched,
    energy: opts.energy,
  });
  const flash = device.hal.flash;
  if (sched.boot(device) !== 0) throw new Error('bench device did not start');
  return { sched, cloud, device, meter, flash, deviceId };
}

export interface BackfillFigures {
  outageHours: number;
  intervalS: number;
  batchSize: number;
  uplinksBackfilled: number;
  backfillRequests: number;
  idealRequests: number;
  bodyBytes: number;
  /** The uplinks' own JSON, as sent alone to /uplinks. */
  ownJsonBytes: number;
  bodyOverOwn: number;
  requestsPer1000: number;
  bodyBytesPer1000: number;
  idealRequestsPer1000: number;
  ownJsonBytesPer1000: number;
  connectionsPer1000: number;
  lost: number;
}

/**
 * An outage of `outageHours` at one position every `intervalS` (moving and still alike), then
 * the cloud comes back: how the backlog drains. Counts only what the backfill carried.
 */
export async function backfillFigures(outageHours = 24, intervalS = 60, batchSize = 100): Promise<BackfillFigures> {
  // Each uplink sent at once (sendIntervalS 0): the drain is measured, and it ends when the log is empty.
  const w = world({ uplinkIntervalS: intervalS, movingIntervalS: intervalS, heartbeatS: 604800, backfillBatchSize: batchSize, sendIntervalS: 0 });
  const outageEnd = outageHours * HOUR;
  w.cloud.faults = (ctx) => (ctx.endpoint !== 'operator' && w.sched.now < outageEnd ? { kind: 'drop' } : null);
  await w.sched.runUntil(outageEnd);
  const before = w.meter.sent.length;
  const connectionsBefore = w.meter.connectionsOpened;
  // Back online: run until the backlog is gone (the first retry may be up to an hour away).
  for (let h = 0; h < 6 && w.device.stat(STAT.buffered) > 1; h++) await w.sched.runUntil(outageEnd + (h + 1) * HOUR);
  const after = w.meter.sent.slice(before).filter((s) => s.status >= 200 && s.status < 300);
  const backfills = after.filter((s) => s.path.endsWith('/uplinks/backfill'));
  let uplinks = 0;
  let own = 0;
  for (const b of backfills) {
    const entries = JSON.parse(new TextDecoder().decode(b.body)).uplinks as unknown[];
    uplinks += entries.length;
    for (const e of entries) own += Buffer.byteLength(JSON.stringify(e));
  }
  const bodyBytes = backfills.reduce((n, b) => n + b.bytes, 0);
  const stored = new Set(w.cloud.uplinksOf(w.deviceId).map((u) => u.id));
  const lastId = w.device.stat(STAT.lastId);
  let lost = 0;
  for (let id = 1; id <= lastId; id++) if (!stored.has(id)) lost++;
  lost -= w.device.stat(STAT.buffered);
  const per = (x: number) => Math.round((x * 1000) / uplinks);
  return {
    outageHours, intervalS, batchSize,
    uplinksBackfilled: uplinks,
    backfillRequests: backfills.length,
    idealRequests: Math.ceil(uplinks / batchSize),
    bodyBytes, ownJsonBytes: own, bodyOverOwn: bodyBytes / own,
    requestsPer1000: (backfills.length * 1000) / uplinks,
    bodyBytesPer1000: per(bodyBytes),
    idealRequestsPer1000: Math.ceil(1000 / batchSize),
    ownJsonBytesPer1000: per(own),
    connectionsPer1000: ((w.meter.connectionsOpened - connectionsBefore) * 1000) / uplinks,
    lost,
  };
}

export interface LiveFigures {
  uplinks: number;
  requests: number;
  connectionsPer1000: number;
  pagesAfter: number;
}

/** Normal operation, cloud always up: connections opened per 1,000 uplinks sent live. */
export async function liveFigures(hours = 48, idleTimeoutMs = 60_000): Promise<LiveFigures> {
  const w = world({}, { idleTimeoutMs });
  await w.sched.runUntil(hours * HOUR);
  const uplinks = w.cloud.uplinksOf(w.deviceId).length;
  return { uplinks, requests: w.meter.sent.length, connectionsPer1000: (w.meter.connectionsOpened * 1000) / uplinks, pagesAfter: w.device.memoryPages() };
}

export interface MemoryFigures {
  pagesAtStart: number;
  steps: number;
  pagesAfter: number;
  uplinks: number;
}

/**
 * Linear memory of the module at start and after `steps` calls of agent_step with real work
 * in between (positions recorded, uplinks sent, settings answered), on an in-process cloud
 * that answers everything. A step is one agent_step call.
 */
export async function memoryFigures(steps = 1_000_000): Promise<MemoryFigures> {
  const w = world({ uplinkIntervalS: 10, movingIntervalS: 10, heartbeatS: 600 });
  const pagesAtStart = w.device.memoryPages();
  let count = 0;
  const step = w.device.step.bind(w.device);
  w.device.step = (now: number) => { count++; step(now); };
  let t = 0;
  while (count < steps) {
    t += HOUR;
    await w.sched.runUntil(t);
    // The in-process cloud answers synchronously: give the event loop a turn now and then.
    if (t % (100 * HOUR) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return { pagesAtStart, steps: count, pagesAfter: w.device.memoryPages(), uplinks: w.cloud.uplinksOf(w.deviceId).length };
}

export interface LogFigures {
  payloadBytes: number;
  records: number;
  flashBytesPerRecord: number;
  overheadBytesPerRecord: number;
  recordsPer64KiBSector: number;
  recordsPer4KiBSector: number;
}

/**
 * Flash per recorded uplink, measured through the release module: positions recorded during
 * an outage (nothing acknowledged, so every programmed byte is a record or a sector header).
 */
export async function logFigures(): Promise<LogFigures> {
  const w = world({ uplinkIntervalS: 10, movingIntervalS: 10, heartbeatS: 604800 });
  w.cloud.faults = (ctx) => (ctx.endpoint !== 'operator' ? { kind: 'drop' } : null);
  const bytesBefore = w.flash.bytesProgrammed;
  await w.sched.runUntil(2 * HOUR); // about 700 positions: well within the 64 x 4 KiB partition
  const records = w.device.stat(STAT.recorded) - 1; // the health uplink at boot is not a position
  const perRecord = (w.flash.bytesProgrammed - bytesBefore - 43 - 16) / records; // minus that health record
  const payload = 26; // a position record (assembly/uplink.ts)
  return {
    payloadBytes: payload,
    records,
    flashBytesPerRecord: Math.round(perRecord * 10) / 10,
    overheadBytesPerRecord: Math.round((perRecord - payload) * 10) / 10,
    recordsPer64KiBSector: Math.floor((65536 - 16) / Math.ceil(perRecord)),
    recordsPer4KiBSector: Math.floor((4096 - 16) / Math.ceil(perRecord)),
  };
}

export interface BacklogFigures {
  records: number;
  /** Uplinks buffered when the cloud came back. */
  backlog: number;
  /** Uplinks the accepted batches carried: the backlog and what was recorded until the drain. */
  drained: number;
  pagesAtStart: number;
  /** The most linear memory seen after any export call, outage and drain. */
  pagesPeak: number;
  pagesAfter: number;
  batches: number;
  batchBodyBytesMax: number;
  batchUplinksMax: number;
  refusedBatches: number;
  buffered: number;
  lost: number;
  duplicates: number;
}

// The settings of a backlog run: a position every 10 s, a batch size the 16 KiB cap binds
// (500 uplinks never fit), no health uplink or connect to get in the way, and each uplink sent
// at once (sendIntervalS 0): the drain is measured, and it ends when the log is empty.
export const BACKLOG_SETTINGS = { uplinkIntervalS: 10, movingIntervalS: 10, heartbeatS: 604800, backfillBatchSize: 500, sendIntervalS: 0 };

/**
 * A cloud that refuses every uplink (503, Retry-After: 60) until `records` are buffered, then
 * accepts: the backlog drains through 16 KiB batches. Linear memory is read after every
 * export call, so a peak inside the outage or the drain is seen.
 */
export async function backlogFigures(records = 2000, wasm = RELEASE_WASM): Promise<BacklogFigures> {
  const w = world(BACKLOG_SETTINGS, { wasm });
  const d = w.device;
  const pagesAtStart = d.memoryPages();
  let pagesPeak = pagesAtStart;
  const watch = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    const r = f(...a);
    pagesPeak = Math.max(pagesPeak, d.memoryPages());
    return r;
  };
  d.step = watch(d.step.bind(d));
  let refusing = true;
  w.cloud.faults = (ctx) => (refusing && (ctx.endpoint === 'uplink' || ctx.endpoint === 'backfill')
    ? { kind: 'status', status: 503, retryAfter: { seconds: 60 } } : null);
  const step = 10 * 60_000;
  let t = 0;
  while (d.stat(STAT.buffered) < records) {
    if (t > 48 * HOUR) throw new Error(`backlog: only ${d.stat(STAT.buffered)} of ${records} uplinks buffered after 48 h`);
    t += step;
    await w.sched.runUntil(t);
  }
  const backlog = d.stat(STAT.buffered);
  const before = w.meter.sent.length;
  refusing = false;
  // Drained: the backlog is gone; what is still buffered is at most the few recorded since.
  const drainEnd = t + 24 * HOUR;
  while (d.stat(STAT.buffered) > 2 && t < drainEnd) {
    t += step;
    await w.sched.runUntil(t);
  }
  const sent = w.meter.sent.slice(before).filter((s) => s.path.endsWith('/uplinks/backfill'));
  const accepted = sent.filter((s) => s.status === 200);
  const items = (s: { body: Uint8Array }) => (JSON.parse(new TextDecoder().decode(s.body)).uplinks as unknown[]).length;
  const stored = new Set(w.cloud.uplinksOf(w.deviceId).map((u) => u.id));
  const lastId = d.stat(STAT.lastId);
  let missing = 0;
  for (let id = 1; id <= lastId; id++) if (!stored.has(id)) missing++;
  return {
    records, backlog, pagesAtStart, pagesPeak, pagesAfter: d.memoryPages(),
    batches: accepted.length,
    drained: accepted.reduce((n, s) => n + items(s), 0),
    batchBodyBytesMax: Math.max(0, ...accepted.map((s) => s.bytes)),
    batchUplinksMax: Math.max(0, ...accepted.map(items)),
    refusedBatches: w.meter.sent.slice(0, before).filter((s) => s.path.endsWith('/uplinks/backfill')).length,
    buffered: d.stat(STAT.buffered),
    lost: missing - d.stat(STAT.buffered),
    duplicates: w.cloud.duplicatesOf(w.deviceId),
  };
}
