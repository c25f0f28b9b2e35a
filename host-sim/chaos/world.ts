// One device's chaos world: the release module on a DeviceHost, a fake cloud of its own behind a
// chaos front door, a NOR flash and a key-value store that can lose power mid-operation, GNSS
// that lies, a scheduler in virtual time, and the recording of everything the checker judges
// (trace.ts). A device shares nothing with any other, so a run of many devices is many of
// these, and a failing device replays alone exactly.
//
// The run: boot at 0; until `recordUntil` the schedule's time events happen (power cuts at a
// step, inside a flash program/erase or a KV set; traps; outages), and every request and GNSS
// fix may be chaos; the cloud turns honest at `honestAt` and stays so. Then the faults stop and
// an honest drain runs until `endAt`, after which every uplink recorded before `recordUntil`
// must be at the cloud.
import { DeviceHost, type BoardSettings, type DeviceHal } from '../device-host.ts';
import { NorFlash, PowerCut } from '../hal/flash.ts';
import { MemoryKv, provision, type KvStore } from '../hal/kv.ts';
import type { HttpRequest, HttpResult, HttpTransport } from '../hal/http.ts';
import { Gnss, RandomWalk, type GnssAnswer, type MotionSource } from '../hal/gnss.ts';
import { Rng, mixSeed } from '../hal/random.ts';
import { SIM_START_UTC as T0, Scheduler } from '../scheduler.ts';
import { drainingBattery } from '../fleet/board.ts';
import { simDevice } from '../sim-device.ts';
import { ChaosFrontDoor, RunAbort } from './front-door.ts';
import { decodeRecordProgram } from './record-format.ts';
import { recoveryFrom } from './checker.ts';
import {
  ALLOW_HOSTS, FACTORY_HOST, TENANT, active, damageDecision, gnssDecision,
  type ChaosProfile, type DevicePlan, type EventMask, type TimeEvent,
} from './schedule.ts';
import type { DeviceTrace, RecordObs } from './trace.ts';

/** Keys the factory writes: never damaged (a device without its identity is not the module's fault). */
export const FACTORY_KEYS = new Set(['tenantId', 'deviceId', 'environment', 'apiKey', 'resetSecret']);
const SECTOR_SIZE = 4096;
const PROG_SIZE = 4;
const MAX_PAST_WAKES = 10_000;
const BOOT_TRAP_RETRIES = 3;

export interface FiredEvent {
  id: string;
  at: number;
  what: string;
}

export interface DeviceRunOptions {
  module: WebAssembly.Module;
  plan: DevicePlan;
  profile: ChaosProfile;
  /** Nominal length (faults and recording); default the plan's full length. */
  lengthMs?: number;
  /** Active fault events; null: all. */
  mask?: EventMask;
}

export interface DeviceRun {
  trace: DeviceTrace;
  fired: FiredEvent[];
  wallMs: number;
  boots: number;
  cuts: number;
  injectedTraps: number;
}

export { RunAbort };

/** NOR flash whose 'R' programs and erases the world watches. */
class ObservedFlash extends NorFlash {
  constructor(private w: World, sectors: number, model: NorFlash['model'], seed: number) {
    super({ sectorSize: SECTOR_SIZE, sectorCount: sectors, progSize: PROG_SIZE, model, seed });
  }

  override program(addr: number, data: Uint8Array): number {
    if (!this.powered || data.length === 0) return super.program(addr, data);
    const entry = decodeRecordProgram(data, this.progSize);
    const obs = entry ? this.w.recordStarted(entry, Math.floor(addr / this.sectorSize)) : null;
    const rc = super.program(addr, data);
    if (rc === 0 && obs) obs.complete = true;
    return rc;
  }

  override erase(sector: number): number {
    if (this.powered) this.w.sectorErased(sector);
    return super.erase(sector);
  }
}

/** The store, atomic per key, with a power cut that can be armed inside a set, and damage. */
class ChaosKv implements KvStore {
  readonly inner = new MemoryKv();
  private countdown = -1;
  private lands = false;
  fired = false;
  get(key: string) { return this.inner.get(key); }
  keys() { return this.inner.keys(); }
  arm(afterSets: number, lands: boolean) { this.countdown = afterSets; this.lands = lands; }
  disarm() { this.countdown = -1; }
  set(key: string, value: Uint8Array): number {
    if (this.countdown === 0) {
      this.countdown = -1;
      this.fired = true;
      if (this.lands) this.inner.set(key, value);
      throw new PowerCut(`power cut during kv set of ${key} (${this.lands ? 'landed' : 'not landed'})`);
    }
    if (this.countdown > 0) this.countdown--;
    return this.inner.set(key, value);
  }
  /** The entry now reads as missing, as one failing its checksum would. */
  damage(key: string): void {
    const inner = this.inner as MemoryKv & { damage?: (key: string) => void };
    if (typeof inner.damage === 'function') inner.damage(key);
    else inner.map.delete(key); // stand-in until MemoryKv.damage lands
  }
}

/** GNSS whose acquisitions follow the schedule's g<n> events (lies, timeouts, absence). */
class ChaosGnss extends Gnss {
  constructor(route: MotionSource, rng: Rng, private w: World) {
    super(route, rng, { timeoutRate: 0.03 });
  }
  override acquire(t: number, timeoutMs: number): GnssAnswer {
    const honest = super.acquire(t, timeoutMs); // drawn always: the honest stream stays aligned
    return this.w.gnssAnswer(honest, timeoutMs);
  }
}

interface WasmExports { agent_step(now: bigint): bigint }

/** The DeviceHost with the world's eyes on traps and wake-ups. */
class ChaosDevice extends DeviceHost {
  injecting = false;
  /** The next boot retries an agent_start that trapped (already noted). */
  retrying = false;
  lastTrapLine = '';
  constructor(module: WebAssembly.Module, hal: DeviceHal, board: BoardSettings, private w: World) {
    super(module, hal, board);
  }

  override boot(now: number, afterTrap = false): number {
    if (afterTrap && !this.retrying) this.w.trapped(this.injecting, this.injecting ? 'debug_trap' : this.lastTrapLine || 'module trap');
    this.injecting = false;
    this.retrying = false;
    const rc = super.boot(now, afterTrap);
    if (rc !== 0) this.w.trace.startFailures.push({ at: this.w.sched.now, status: rc });
    // Watch what agent_step asks for before DeviceHost clamps it (a private field of the host).
    const self = this as unknown as { ex: WasmExports };
    const ex = self.ex;
    const step = ex.agent_step;
    self.ex = { ...ex, agent_step: (n: bigint) => { const wake = step(n); if (wake < n) this.w.pastWake(Number(n), Number(wake)); return wake; } };
    return rc;
  }

  override injectTrap(now: number): void {
    this.injecting = true;
    try {
      super.injectTrap(now);
    } finally {
      this.injecting = false;
    }
  }
}

export class World {
  readonly sched = new Scheduler(T0);
  readonly door: ChaosFrontDoor;
  readonly flash: ObservedFlash;
  readonly kv = new ChaosKv();
  readonly device: ChaosDevice;
  readonly trace: DeviceTrace;
  readonly fired: FiredEvent[] = [];
  readonly plan: DevicePlan;
  readonly profile: ChaosProfile;
  private readonly mask: EventMask;
  private readonly sectorRecords = new Map<number, RecordObs[]>();
  private gnssCount = 0;
  boots = 0;
  cuts = 0;
  injectedTraps = 0;

  constructor(readonly o: DeviceRunOptions) {
    this.plan = o.plan;
    this.profile = o.profile;
    this.mask = o.mask ?? null;
    const length = o.lengthMs ?? o.plan.fullLengthMs;
    const honestAt = Math.min(o.plan.honestAtMs, length);
    this.trace = {
      deviceId: o.plan.deviceId, index: o.plan.index, utcStart: T0, factoryHost: FACTORY_HOST, allowHosts: ALLOW_HOSTS,
      honestAt, recordUntil: length, endAt: length + o.profile.drainMs,
      secrets: [], records: [], requests: [], logs: [], traps: [], pastWakes: [], kvDamage: [], startFailures: [],
    };

    this.door = new ChaosFrontDoor({
      plan: o.plan, profile: o.profile, mask: this.mask, now: () => this.sched.now, utcStart: T0, trace: this.trace,
      fire: (id, what) => this.fire(id, what), factoryEnvironment: `https://${FACTORY_HOST}`,
      hosts: [FACTORY_HOST, ...ALLOW_HOSTS], schemes: ['https:'], place: (url) => url,
      outages: o.plan.timeEvents.filter((e) => e.kind === 'outage' && e.at < length && active(this.mask, e.id)),
      drawContext: { allowHosts: ALLOW_HOSTS, factoryHost: FACTORY_HOST, chaosRate: o.profile.chaosRate, dateRate: o.profile.dateRate },
    });
    provision(this.kv.inner, { tenantId: TENANT, deviceId: o.plan.deviceId, environment: `https://${FACTORY_HOST}`, apiKey: this.door.apiKey, resetSecret: this.door.resetSecret });

    this.flash = new ObservedFlash(this, o.plan.flashSectors, o.plan.flashModel, mixSeed(o.plan.seed, 0x666c));
    const seed = o.plan.seed;
    // The factory host is on the allow-list too: the honest cloud's reset answers name it, and
    // a device moved elsewhere must be able to come back.
    this.device = simDevice({
      module: o.module,
      kv: this.kv,
      flash: this.flash,
      http: new ChaosTransport(this),
      gnss: new ChaosGnss(new RandomWalk(new Rng(seed ^ 0x5bd1e995)), new Rng(seed ^ 0x1b873593), this),
      rng: new Rng(mixSeed(seed, 0x726e67)),
      battery: drainingBattery(new Rng(seed ^ 0xcc9e2d51), () => this.sched.now),
      log: (level, line) => {
        if (line.startsWith('board: module trapped')) this.device.lastTrapLine = line;
        this.trace.logs.push({ at: this.sched.now, level, line });
      },
      board: { allowHosts: [FACTORY_HOST, ...ALLOW_HOSTS], firmware: 'chaos', faultInjection: true },
      host: (module, hal, board) => new ChaosDevice(module, hal, board, this),
      scheduler: this.sched,
    }) as ChaosDevice;
  }

  fire(id: string, what: string): void {
    this.fired.push({ id, at: this.sched.now, what });
  }

  // ---- the flash ----

  recordStarted(e: ReturnType<typeof decodeRecordProgram> & object, sector: number): RecordObs {
    const obs: RecordObs = {
      key: `${e.epoch === null ? '-' : e.epoch}:${e.id}`, epoch: e.epoch, id: e.id, kind: e.kind,
      at: this.sched.now, complete: false, payloadHash: e.payloadHash,
    };
    this.trace.records.push(obs);
    const list = this.sectorRecords.get(sector);
    if (list) list.push(obs);
    else this.sectorRecords.set(sector, [obs]);
    return obs;
  }

  sectorErased(sector: number): void {
    const list = this.sectorRecords.get(sector);
    if (!list) return;
    for (const r of list) r.erasedAt ??= this.sched.now;
    this.sectorRecords.delete(sector);
  }

  // ---- the board ----

  trapped(injected: boolean, where: string): void {
    if (injected) this.injectedTraps++;
    this.trace.traps.push({ at: this.sched.now, injected, where });
  }

  pastWake(now: number, wake: number): void {
    this.trace.pastWakes.push({ at: this.sched.now, now, wake });
    if (this.trace.pastWakes.length > MAX_PAST_WAKES) throw new RunAbort(`agent_step asked to be woken in the past ${MAX_PAST_WAKES} times`);
  }

  gnssAnswer(honest: GnssAnswer, timeoutMs: number): GnssAnswer {
    const n = ++this.gnssCount;
    const id = `g${n}`;
    if (!active(this.mask, id)) return honest;
    const lie = gnssDecision(this.plan, n, this.profile);
    if (lie.kind === 'none') return honest;
    if (lie.kind === 'timeout') {
      this.fire(id, 'GNSS: no fix');
      return { afterMs: timeoutMs, ok: false, lat: 0, lon: 0, accuracyM: 0 };
    }
    this.fire(id, `GNSS: ${lie.what}`);
    return { afterMs: honest.afterMs, ok: true, lat: lie.lat, lon: lie.lon, accuracyM: lie.accuracyM };
  }

  serve(req: HttpRequest): HttpResult {
    return this.door.serve(req);
  }

  // ---- the run ----

  async run(): Promise<void> {
    const t = this.trace;
    const events = this.plan.timeEvents.filter((e) => e.at < t.recordUntil && e.kind !== 'outage' && active(this.mask, e.id));
    let next = 0;
    let off = false;
    let offUntil = 0;
    let armedFlash: TimeEvent | null = null;
    let armedKv: TimeEvent | null = null;
    let lastCut: TimeEvent | null = null;
    const s = this.sched;

    const powerOff = (cause: TimeEvent) => {
      this.cuts++;
      off = true;
      offUntil = s.now + (cause.offMs ?? 1000);
      lastCut = cause;
      this.device.started = false;
      this.device.http = null;
      this.device.gnss = null;
    };
    /** Runs fn against the device: a power cut or a stop ends it cleanly. */
    const guard = (fn: () => void | Promise<void>): Promise<void> | void => {
      const onError = (e: unknown) => {
        if (e instanceof PowerCut) {
          if (!this.flash.powered && armedFlash) { this.fire(armedFlash.id, `power cut inside a flash ${this.flash.lastCut?.op ?? 'operation'}`); powerOff(armedFlash); armedFlash = null; return; }
          if (this.kv.fired && armedKv) { this.kv.fired = false; this.fire(armedKv.id, `power cut inside a KV set (${armedKv.lands ? 'landed' : 'not landed'})`); powerOff(armedKv); armedKv = null; return; }
          throw new Error(`unexpected power cut: ${e.message}`);
        }
        if (e instanceof RunAbort) throw e;
        if (e instanceof Error && e.message.startsWith('device did not settle')) throw new RunAbort(e.message);
        throw e;
      };
      try {
        const r = fn();
        if (r instanceof Promise) return r.catch(onError);
      } catch (e) {
        onError(e);
      }
    };
    const boot = async () => {
      this.flash.powerOn();
      if (lastCut) this.damage(lastCut);
      off = false;
      for (let attempt = 0; ; attempt++) {
        this.boots++;
        let trapped = false;
        await guard(() => {
          try {
            this.device.retrying = attempt > 0;
            s.boot(this.device, attempt > 0);
          } catch (e) {
            if (!(e instanceof WebAssembly.RuntimeError)) throw e;
            trapped = true;
            this.trapped(false, `agent_start: ${e.message}`);
          }
        });
        if (off) return; // cut during the boot: it comes again when the power does
        if (trapped) {
          if (attempt + 1 >= BOOT_TRAP_RETRIES) throw new RunAbort(`agent_start trapped ${BOOT_TRAP_RETRIES} times in a row`);
          continue;
        }
        return;
      }
    };

    try {
      await boot();
      while (s.now < t.recordUntil) {
        const ev = events[next];
        const target = Math.min(ev ? ev.at : Infinity, off ? offUntil : Infinity, t.recordUntil);
        if (target > s.now || !off) await guard(() => s.runUntil(Math.max(target, s.now)));
        if (off) {
          if (s.now >= offUntil) await boot();
          else if (ev && ev.at <= s.now) next++; // the device is off: nothing to cut or trap
          continue;
        }
        if (!ev || ev.at > s.now) continue;
        next++;
        switch (ev.kind) {
          case 'stepCut':
            this.fire(ev.id, 'power cut at a step');
            powerOff(ev);
            break;
          case 'flashCut':
            this.flash.cutAfter(ev.afterOps!);
            armedFlash = ev;
            break;
          case 'kvCut':
            this.kv.arm(ev.afterOps!, ev.lands!);
            armedKv = ev;
            break;
          case 'trap':
            if (!this.device.started) break;
            this.fire(ev.id, 'trap (debug_trap)');
            await guard(() => this.device.injectTrap(s.now - this.device.bootAt));
            break;
          default:
            break;
        }
      }
      // The faults stop; the honest drain.
      this.flash.cancelCut();
      this.kv.disarm();
      armedFlash = null;
      armedKv = null;
      if (off) await boot();
      // A long wait the contract asked before honesty (a 404, a refused reset) runs out first.
      t.endAt = Math.max(t.endAt, recoveryFrom(t) + this.profile.drainMs);
      while (s.now < t.endAt) await guard(() => s.runUntil(t.endAt));
    } catch (e) {
      if (!(e instanceof RunAbort)) throw e;
      t.aborted = { at: s.now, reason: e.message };
    }
  }

  /** Store damage at the boot after a cut: entries the module wrote read as missing. */
  private damage(cut: TimeEvent): void {
    const id = `d${cut.id}`;
    if (!active(this.mask, id)) return;
    const picks = damageDecision(this.plan, cut.id, this.profile);
    const candidates = this.kv.keys().filter((k) => !FACTORY_KEYS.has(k)).sort();
    const hit: string[] = [];
    for (const p of picks) {
      if (candidates.length === 0) break;
      const [key] = candidates.splice(p % candidates.length, 1);
      this.kv.damage(key);
      this.trace.kvDamage.push({ at: this.sched.now, key });
      hit.push(key);
    }
    if (hit.length > 0) this.fire(id, `store damage: ${hit.join(', ')}`);
  }
}

class ChaosTransport implements HttpTransport {
  connectionsOpened = 0;
  constructor(private w: World) {}
  async request(req: HttpRequest): Promise<HttpResult> { return this.w.serve(req); }
  requestSync(req: HttpRequest): HttpResult { return this.w.serve(req); }
  close() {}
}

/** Runs one device's world to its end. */
export async function runDevice(o: DeviceRunOptions): Promise<DeviceRun> {
  const wall = performance.now();
  const w = new World(o);
  await w.run();
  return { trace: w.trace, fired: w.fired, wallMs: performance.now() - wall, boots: w.boots, cuts: w.cuts, injectedTraps: w.injectedTraps };
}
