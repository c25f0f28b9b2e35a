// One shard of a fleet run: a fake cloud, the devices it serves, one scheduler. The whole fleet
// is one shard, except for large in-process runs that split the devices across worker threads
// (fleet.ts), each worker a shard with its own cloud; devices never share anything but the
// cloud, so the split changes nothing a device sees.
import { FakeCloud, type FakeCloudOptions } from '../cloud/fake-cloud.ts';
import { startCloudServer, type CloudServer } from '../cloud/server.ts';
import { loadCloud, saveCloud } from '../cloud/persist.ts';
import type { KeyPurpose } from '../cloud/keys.ts';
import type { StoredUplink } from '../cloud/types.ts';
import { Scheduler } from '../scheduler.ts';
import type { DeviceHost } from '../device-host.ts';
import { MemoryKv, provision } from '../hal/kv.ts';
import { MemoryTransport, SocketTransport, type HttpTransport } from '../hal/http.ts';
import { Rng } from '../hal/random.ts';
import { DEFAULT_BATTERY_MAH, DEFAULT_RADIO, type RadioKind } from '../hal/energy.ts';
import { FLEET_FLASH, deviceSeed, makeBoard, makeFlash } from './board.ts';
import type { FlashGeometry } from '../sim-device.ts';
import { routeFor, type TrackPoint } from './motion.ts';
import { makeFaultPlan, type FaultSpec, type OperatorEvent } from './profiles.ts';
import { deleteDevice, deviceExists, httpOperator, memoryOperator, provisionDevice, revokeDeviceKey, setEnabled, type Operator } from './operator.ts';
import { STAT } from '../device-host.ts';
import { logKind, summarizeShard, type Archive, type OperatorAct, type Series, type ShardBoard, type ShardSummary } from './summary.ts';

/** The environment of in-process boards: https, so that they run as production boards. */
export const MEMORY_URL = 'https://cloud.fleet.sim';
export const UTC_START = Date.parse('2026-11-23T00:00:00Z');

export interface ShardOptions {
  module: WebAssembly.Module;
  /** Fleet indices of this shard's devices. */
  indices: number[];
  /** Devices in the whole fleet (routes and operator events are drawn over all of them). */
  fleetSize: number;
  seed: number;
  durationMs: number;
  utcStart?: number;
  faults: FaultSpec;
  track: TrackPoint[] | null;
  transport: 'socket' | 'memory';
  tenantId?: string;
  flash?: FlashGeometry;
  /** Virtual ms between samples of the buffered counts (default: 1/288 of the run, at least 1 min). */
  sampleMs?: number;
  /** Load the cloud from this folder and save it there at the end. */
  stateDir?: string;
  /**
   * Longest real wait for one HTTP answer over sockets, ms (default 150): a request the cloud
   * leaves hanging costs this much wall time (and the module's whole timeout in virtual time),
   * since the virtual clock stands still while a request is in flight.
   */
  realTimeoutCapMs?: number;
  firmware?: string;
  /** Called with the simulation time as it advances (often: throttle in the callee). */
  onProgress?: (now: number) => void;
  /** Makes the cloud's secrets (tests record them for the leak scan). */
  makeSecret?: (purpose: KeyPurpose) => string;
  /** Every module log line (tests scan them for secrets; `fleet --log` prints them). */
  log?: (deviceId: string, level: number, line: string, now: number) => void;
  /** The radio and battery the energy model charges every device for (default wifi, 2,000 mAh). */
  radio?: RadioKind;
  batteryMah?: number;
  /** Asked between slices of the run: true ends it early (Ctrl-C), summarised as far as it got. */
  shouldStop?: () => boolean;
}

/** Virtual time run between two looks at shouldStop and the event loop. */
const SLICE_MS = 15 * 60_000;
/** Module log lines kept per device for the report (their count is always complete). */
const LOG_LINES_KEPT = 30;

export interface ShardRun {
  summary: ShardSummary;
  cloud: FakeCloud;
  url: string;
  boards: { index: number; deviceId: string; host: DeviceHost }[];
  events: OperatorEvent[];
  /** Uplink ids of devices the operator deleted, kept before deleting them. */
  archive: Archive;
  stateFile?: string;
  stateLoaded: boolean;
  /** Simulation ms the run reached when it was stopped early; undefined when it ran to the end. */
  stoppedAtMs?: number;
}

export function deviceIdOf(prefix: string, index: number): string {
  return `${prefix}-${String(index + 1).padStart(4, '0')}`;
}

export async function runShard(o: ShardOptions): Promise<ShardRun> {
  const utcStart = o.utcStart ?? UTC_START;
  const tenant = o.tenantId ?? 'fleet';
  const sched = new Scheduler(utcStart);
  let cloud: FakeCloud;
  const plan = makeFaultPlan(o.faults, {
    seed: o.seed, devices: o.fleetSize, durationMs: o.durationMs, utcStart,
    willSucceed: (ctx) => {
      const d = ctx.deviceId === undefined ? undefined : cloud.device(ctx.deviceId);
      if (!d || !d.isEnabled || d.tenantId !== ctx.tenantId) return false;
      const key = ctx.req.headers['x-api-key'];
      return key !== undefined && key === (ctx.endpoint === 'reset' ? cloud.resetSecretOf(d.deviceId) : cloud.apiKeyOf(d.deviceId));
    },
  });
  const cloudOptions: FakeCloudOptions = { now: () => sched.utcNow(), faults: plan.hook, makeSecret: o.makeSecret };
  let stateLoaded = false;
  if (o.stateDir) ({ cloud, loaded: stateLoaded } = loadCloud(o.stateDir, cloudOptions));
  else cloud = new FakeCloud(cloudOptions);

  let server: CloudServer | null = null;
  let url: string;
  let op: Operator;
  if (o.transport === 'socket') {
    server = await startCloudServer(cloud);
    url = server.url;
    cloud.baseUrl = url;
    op = httpOperator(url, cloud.adminKey);
  } else {
    url = MEMORY_URL;
    cloud.baseUrl = url;
    op = memoryOperator(cloud);
  }

  const transports: HttpTransport[] = [];
  try {
    // Device ids: sim-0001...; a cloud kept from an earlier run gets sim2-0001... and so on.
    let prefix = 'sim';
    for (let k = 2; stateLoaded && (await deviceExists(op, tenant, deviceIdOf(prefix, 0))); k++) prefix = `sim${k}`;

    // Provision through the operator API, a few at a time.
    const ids = o.indices.map((i) => deviceIdOf(prefix, i));
    const secrets: { apiKey: string; resetSecret: string }[] = [];
    for (let k = 0; k < ids.length; k += 32) {
      const batch = ids.slice(k, k + 32).map((id) => provisionDevice(op, tenant, id, `simulated tracker ${id}`));
      secrets.push(...(await Promise.all(batch)));
    }

    const geometry = o.flash ?? FLEET_FLASH;
    const boards = o.indices.map((index, k) => {
      const deviceId = ids[k];
      const kv = new MemoryKv();
      provision(kv, { tenantId: tenant, deviceId, environment: url, ...secrets[k] });
      const http: HttpTransport = o.transport === 'socket'
        ? new SocketTransport({ realTimeoutCapMs: o.realTimeoutCapMs ?? 150 })
        : new MemoryTransport(cloud);
      transports.push(http);
      const b: ShardBoard = { index, deviceId, host: null as unknown as DeviceHost, warnings: 0, errors: 0, logLines: [], logKinds: {}, buffered: [] };
      b.host = makeBoard({
        module: o.module,
        kv,
        flash: makeFlash(geometry),
        http,
        route: routeFor(index, o.fleetSize, deviceSeed(o.seed, index, 1), o.track),
        board: { dev: o.transport === 'socket', firmware: o.firmware ?? '1.0.0-sim' },
        seed: deviceSeed(o.seed, index, 2),
        energy: { radio: o.radio ?? DEFAULT_RADIO, batteryMah: o.batteryMah ?? DEFAULT_BATTERY_MAH },
        simNow: () => sched.now,
        log: (level, line) => {
          if (level <= 1) {
            if (level === 0) b.errors++;
            else b.warnings++;
            const kind = logKind(line);
            b.logKinds[kind] = (b.logKinds[kind] ?? 0) + 1;
            if (b.logLines.length < LOG_LINES_KEPT) b.logLines.push({ t: sched.now, level, line });
          }
          o.log?.(deviceId, level, line, sched.now);
        },
      });
      return b;
    });

    // Sampling for the report: buffered uplinks over time (fleet total, worst device, a few devices).
    const sampleMs = o.sampleMs ?? Math.max(60_000, Math.round(o.durationMs / 288 / 60_000) * 60_000);
    const lineBoards = boards.filter((_, k) => k % Math.max(1, Math.floor(boards.length / 8)) === 0).slice(0, 8);
    const series: Series = { t: [], total: [], max: [], lines: lineBoards.map((b) => ({ deviceId: b.deviceId, values: [] })) };
    let nextSample = 0;
    const sample = (t: number) => {
      let total = 0, max = 0;
      for (const b of boards) {
        const n = Math.max(0, b.host.stat(STAT.buffered));
        total += n;
        if (n > max) max = n;
        b.buffered.push(n);
      }
      series.t.push(t);
      series.total.push(total);
      series.max.push(max);
      lineBoards.forEach((b, k) => series.lines[k].values.push(Math.max(0, b.host.stat(STAT.buffered))));
    };
    sched.onTick = (now) => {
      while (now >= nextSample && nextSample <= o.durationMs) { sample(nextSample); nextSample += sampleMs; }
      o.onProgress?.(now);
    };

    // Power on, spread over the first minute (a fleet does not boot in one millisecond).
    // Each device's boot time comes from its own seed, so a device does the same whatever shard it is in.
    const boots = boards
      .map((b) => ({ b, at: new Rng(deviceSeed(o.seed, b.index, 3)).int(0, Math.min(60_000, o.durationMs)) }))
      .sort((a, b) => a.at - b.at || a.b.index - b.b.index);
    for (const { b, at } of boots) {
      if (at > sched.now) await sched.runUntil(at);
      sched.add(b.host);
      const rc = sched.boot(b.host);
      if (rc !== 0) throw new Error(`device ${b.deviceId} did not start (agent_start ${rc}); see its log`);
    }

    // Run, stopping at each operator event of this shard's devices.
    const mine = new Set(o.indices);
    const events = plan.events.filter((e) => mine.has(e.device));
    const archive: Archive = {};
    const deleted = new Set<string>();
    const operatorActs: OperatorAct[] = [];
    const archivedUplinks: Record<string, StoredUplink[]> = {};
    const byIndex = new Map(boards.map((b) => [b.index, b]));
    const stops = [...new Set(events.map((e) => e.at).filter((t) => t < o.durationMs)), o.durationMs].sort((a, b) => a - b);
    let stoppedAtMs: number | undefined;
    for (const stop of stops) {
      while (sched.now < stop && stoppedAtMs === undefined) {
        await sched.runUntil(Math.min(stop, sched.now + SLICE_MS));
        await new Promise<void>((resolve) => setImmediate(resolve)); // let timers, signals and sockets breathe
        if (sched.now < o.durationMs && o.shouldStop?.()) stoppedAtMs = sched.now;
      }
      if (stoppedAtMs !== undefined) break;
      for (const e of events) {
        if (e.at !== stop) continue;
        const id = byIndex.get(e.device)!.deviceId;
        let done = false;
        if (e.kind === 'revoke') done = await revokeDeviceKey(op, tenant, id);
        else if (e.kind === 'disable' || e.kind === 'enable') done = await setEnabled(op, tenant, id, e.kind === 'enable');
        else if (e.kind === 'delete') {
          const copy = cloud.uplinksOf(id); // what the cloud had, for the report's view of this device
          const kept = await deleteDevice(op, tenant, id);
          if (kept) archivedUplinks[id] = copy;
          if (kept) { archive[id] = kept; deleted.add(id); done = true; }
        }
        if (done) {
          plan.counts[e.kind] = (plan.counts[e.kind] ?? 0) + 1;
          operatorActs.push({ deviceId: id, t: e.at, kind: e.kind });
        }
      }
    }
    const endMs = stoppedAtMs ?? o.durationMs;
    if (series.t.length === 0 || series.t[series.t.length - 1] < endMs) sample(endMs);

    const summary = summarizeShard({
      cloud, boards, archive, deleted, durationMs: endMs, utcStart, faults: plan.counts, faultsByDevice: plan.byDevice,
      operatorActs, archivedUplinks, series, trackDevices: 20, stoppedAtMs,
    });
    const stateFile = o.stateDir ? saveCloud(cloud, o.stateDir) : undefined;
    return { summary, cloud, url, boards, events, archive, stateFile, stateLoaded, stoppedAtMs };
  } finally {
    for (const t of transports) t.close();
    await server?.close();
  }
}
