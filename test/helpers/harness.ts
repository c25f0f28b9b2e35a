// One simulated tracker against the fake cloud, over real loopback sockets, in virtual time:
// what most suites start from. Every key the cloud issues and every module log line are
// recorded for the secret scan (global-setup.ts).
import { FakeCloud } from '../../host-sim/cloud/fake-cloud.ts';
import { startCloudServer } from '../../host-sim/cloud/server.ts';
import type { FaultHook } from '../../host-sim/cloud/faults.ts';
import { STAT, type BoardSettings, type DeviceHost } from '../../host-sim/device-host.ts';
import { NorFlash } from '../../host-sim/hal/flash.ts';
import { SIM_START_UTC, Scheduler } from '../../host-sim/scheduler.ts';
import { MemoryKv, provision } from '../../host-sim/hal/kv.ts';
import { SocketTransport, MemoryTransport, type HttpTransport } from '../../host-sim/hal/http.ts';
import { makeTestTls } from '../../host-sim/cloud/test-ca.ts';
import { ENERGY } from '../../host-sim/hal/energy.ts';
import { RandomWalk, type GnssOptions } from '../../host-sim/hal/gnss.ts';
import { Rng } from '../../host-sim/hal/random.ts';
import { DEFAULT_WASM, sharedModule, simDevice } from '../../host-sim/sim-device.ts';
import { recordLogLine, recordSecret } from './secrets-log.ts';

export const RELEASE_WASM = DEFAULT_WASM;
export const T0 = SIM_START_UTC;
export const MIN = 60_000;
export const HOUR = 3_600_000;

/** The release module, compiled once per test file. */
export function releaseModule(): WebAssembly.Module {
  return sharedModule(RELEASE_WASM);
}

let secretCounter = 0;
/** Secrets the cloud issues: random, printable, recorded for the leak scan. */
export function makeSecret(purpose: string): string {
  const s = `${purpose.slice(0, 2)}_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}${(secretCounter++).toString(36)}`;
  recordSecret(s);
  return s;
}

export interface HarnessOptions {
  board?: BoardSettings;
  transport?: 'socket' | 'memory';
  gnss?: GnssOptions;
  seed?: number;
  deviceId?: string;
  flash?: { sectorSize: number; sectorCount: number; progSize: number };
  faults?: FaultHook;
  /** Over sockets: serve HTTPS with a test CA made now; the transport keeps connections and sessions in virtual time. */
  tls?: boolean;
}

export class Harness {
  sched = new Scheduler(T0);
  cloud: FakeCloud;
  url = '';
  kv = new MemoryKv();
  flash: NorFlash;
  http!: HttpTransport;
  device!: DeviceHost;
  logs: { level: number; line: string }[] = [];
  /** Every request that reached the cloud, in order. */
  seen: { t: number; endpoint: string; key: string; body: string }[] = [];
  /**
   * Every request the device sent, to any host, with what it was told (transport 'memory'
   * only: over sockets a request to a host nobody serves never shows).
   */
  sent: { t: number; url: string; status: number }[] = [];
  /** The test's fault hook; may be replaced while the device runs. */
  faults: FaultHook | null;
  apiKey = '';
  resetSecret = '';
  readonly tenantId = 't1';
  readonly deviceId: string;
  private close: (() => Promise<void>) | null = null;
  /** TLS handshakes the cloud counted (opts.tls), full and resumed. */
  handshakes = { full: 0, resumed: 0 };
  private rng: Rng;

  constructor(readonly opts: HarnessOptions = {}) {
    this.deviceId = opts.deviceId ?? 'trk-1';
    this.rng = new Rng(opts.seed ?? 1);
    // Every request the cloud sees is recorded (body and the key it carried) before the
    // test's own fault hook, if any, decides its fate.
    const observe: FaultHook = (ctx) => {
      this.seen.push({ t: ctx.now, endpoint: ctx.endpoint, key: ctx.req.headers['x-api-key'] ?? '', body: new TextDecoder().decode(ctx.req.body) });
      return this.faults?.(ctx) ?? null;
    };
    this.faults = opts.faults ?? null;
    this.cloud = new FakeCloud({ now: () => this.sched.utcNow(), makeSecret, faults: observe });
    const g = opts.flash ?? { sectorSize: 4096, sectorCount: 32, progSize: 4 };
    this.flash = new NorFlash({ ...g, model: 'atomic', seed: opts.seed ?? 1 });
  }

  async start(): Promise<this> {
    if ((this.opts.transport ?? 'socket') === 'socket') {
      const tls = this.opts.tls ? makeTestTls() : null;
      const session = { keepAliveMs: ENERGY.tls.keepAliveMs, sessionLifetimeMs: ENERGY.tls.sessionLifetimeMs };
      const server = await startCloudServer(this.cloud, { tls: tls ? { cert: tls.cert, key: tls.key, ...session } : undefined });
      this.url = server.url;
      this.handshakes = server.handshakes;
      this.close = () => server.close();
      this.http = new SocketTransport(tls ? { realTimeoutCapMs: 300, ca: tls.ca, virtualNow: () => this.sched.now, ...session } : { realTimeoutCapMs: 300 });
    } else {
      this.url = 'https://cloud.test'; // no sockets, so a production (https-only) board can run
      this.cloud.baseUrl = this.url;
      this.http = new MemoryTransport(this.cloud, {
        answered: (req, _path, r) => this.sent.push({ t: this.sched.now, url: req.url, status: r.status }),
      });
    }
    const d = this.cloud.createDevice({ tenantId: this.tenantId, deviceId: this.deviceId });
    this.apiKey = d.apiKey;
    this.resetSecret = d.resetSecret;
    provision(this.kv, { tenantId: this.tenantId, deviceId: this.deviceId, environment: this.url, apiKey: d.apiKey, resetSecret: d.resetSecret });
    this.device = this.makeDevice();
    this.sched.add(this.device);
    return this;
  }

  makeDevice(board: BoardSettings = this.opts.board ?? { dev: true, firmware: '1.2.0' }): DeviceHost {
    return simDevice({
      module: releaseModule(),
      kv: this.kv,
      flash: this.flash,
      http: this.http,
      gnss: { route: new RandomWalk(this.rng), options: this.opts.gnss },
      rng: this.rng,
      log: (level, line) => {
        this.logs.push({ level, line });
        recordLogLine(line);
      },
      board,
    });
  }

  /** Powers the device on (again); returns agent_start's status. */
  boot(): number { return this.sched.boot(this.device); }

  /** Power cycle: a new instance over the same KV and flash, at the current time. */
  reboot(): number {
    this.device.started = false;
    return this.sched.boot(this.device);
  }

  async run(ms: number): Promise<void> { await this.sched.runUntil(this.sched.now + ms); }

  stat(name: keyof typeof STAT): number { return this.device.stat(STAT[name]); }

  uplinks() { return this.cloud.uplinksOf(this.deviceId); }
  /**
   * The most uplinks the batching (sendIntervalS) may still hold with the cloud up: those
   * recorded within the last sendIntervalS, one health uplink besides, and the one recorded now.
   */
  waitingAtMost(): number {
    const s = this.stat('sendIntervalS');
    return s === 0 ? 0 : Math.ceil(s / Math.min(this.stat('movingIntervalS'), this.stat('uplinkIntervalS'))) + 2;
  }
  deviceRequests() { return this.cloud.requests.filter((r) => r.deviceId === this.deviceId && r.endpoint !== 'operator'); }
  bodiesOf(endpoint: string): Record<string, unknown>[] {
    return this.seen.filter((r) => r.endpoint === endpoint && r.body.length > 0).map((r) => JSON.parse(r.body));
  }
  logText(): string { return this.logs.map((l) => l.line).join('\n'); }

  async stop(): Promise<void> {
    this.http?.close();
    await this.close?.();
  }
}

export async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  return new Harness(opts).start();
}

