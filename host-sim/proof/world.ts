// One world of the power-cut proof: the fake cloud in process, one device (the release module
// on a DeviceHost) with a NOR flash of one power-loss model and an atomic-per-key KV store, a
// scheduler in virtual time, and the bookkeeping that decides, from outside the module, what
// the device recorded and what the cloud must therefore end up with.
//
// Operations: every flash program, flash erase and KV set is one "operation". They are counted
// three ways: flash ops (program + erase), KV sets, and all of them together in the order they
// happen ("unified" index). A cut plan names operations by any of the three; the world arms
// the cut right before the named operation: a flash op is interrupted by the NorFlash itself
// (cutAfter(0): what lands follows the model), a KV set lands whole or not at all (the plan
// says which, or the seed decides) and then PowerCut is thrown. Either way the exception leaves
// the module like the board dying; the driver (scenario.ts) catches it, powers on and reboots.
//
// Bookkeeping of uplink ids, from the flash side: every append programs one 'R' entry carrying
// its id (log/README.md, "Entry"). A program of an 'R' entry that was started marks its id
// issued; one that completed marks it recorded (the log's read-back follows before anything
// else, and a failed read-back is logged by the agent, which we watch). After every completed
// module call, agent_stat 5 (last id issued) cross-checks it: every id up to it must be
// recorded (or reported failed). The id of an 'R' program the cut interrupted is "uncertain":
// it may or may not arrive, but at most once. When an erase starts, the recorded ids of that
// sector the cloud does not have yet are lost with it (the scenario never fills the log).
import { DeviceHost, STAT, SESSION_STATE, type BoardSettings, type DeviceHal } from '../device-host.ts';
import { FakeCloud } from '../cloud/fake-cloud.ts';
import type { KeyPurpose } from '../cloud/keys.ts';
import { NorFlash, PowerCut, type FlashModel } from '../hal/flash.ts';
import { MemoryKv, provision, type KvStore } from '../hal/kv.ts';
import { MemoryTransport, NET_REFUSED, type ExchangeObserver, type HttpRequest, type HttpResult } from '../hal/http.ts';
import type { MotionSource } from '../hal/gnss.ts';
import { Rng } from '../hal/random.ts';
import { Scheduler } from '../scheduler.ts';
import { decodeUplinkRecord } from '../device-records.ts';
import { simDevice } from '../sim-device.ts';

export const T0 = Date.parse('2026-11-23T00:00:00Z');
export const TENANT = 'proof';
export const DEVICE_ID = 'proof-1';
/** Hosts the environment moves between on resets; all on the board's allow-list. */
export const HOSTS = ['a.proof.test', 'b.proof.test', 'c.proof.test'];
export const GEOMETRY = { sectorSize: 4096, sectorCount: 16, progSize: 4 };
/** The position the deterministic GNSS reports encodes the UTC second of the fix. */
export const LAT_BASE = 40;
export const LAT_PERIOD_S = 100_000;

/** Environment told with the apiKey of generation g (0: the factory one). */
export function environmentOf(g: number): string {
  return `https://${HOSTS[g % HOSTS.length]}/g${g}`;
}

/** Latitude of a fix taken at this UTC (ms): 40 + (second % 100000) * 1e-5. */
export function latitudeAt(utcMs: number): number {
  return LAT_BASE + (Math.floor(utcMs / 1000) % LAT_PERIOD_S) * 1e-5;
}

/** Mixes numbers into one 32-bit seed (FNV-1a over their 32-bit words). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    let v = Math.floor(p) >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    for (const w of [v, hi]) {
      v = w;
      for (let i = 0; i < 4; i++) {
        h ^= v & 0xff;
        h = Math.imul(h, 0x01000193) >>> 0;
        v >>>= 8;
      }
    }
  }
  return h >>> 0;
}

export type OpSpace = 'flash' | 'kv' | 'op';

/** One planned cut: at the index-th operation (1-based) of a space. */
export interface CutPoint {
  space: OpSpace;
  index: number;
  /** KV cuts only: whether the interrupted set lands. Default: a coin from the seed. */
  kvLands?: boolean;
  /**
   * 'op' cuts only: a cut due while the agent waits out a back-off is put off until the wait is
   * over, then drawn again 1..deferInBackoff operations later (the soak; README, "the soak and
   * back-off").
   */
  deferInBackoff?: number;
}

/** What one fired cut was. */
export interface CutEvent {
  /** Unified, flash and KV indices of the interrupted operation. */
  op: number;
  flashOp: number;
  kvOp: number;
  kind: 'program' | 'erase' | 'kv';
  /** KV key, or the flash address / sector. */
  target: string;
  /** KV: the set landed; flash: bytes that landed. */
  landed: number | boolean;
  /** Virtual time of the cut (ms). */
  at: number;
}

/** A KV set of `cred` (a key rotation committing), located in all three index spaces. */
export interface CredCommit {
  op: number;
  flashOp: number;
  kvOp: number;
  at: number;
}

// Per-id states.
export const ID_NEVER = 0;
/** An 'R' program of this id started and did not complete: uncertain. */
export const ID_ISSUED = 1;
/** The agent reported the append failed (read-back or I/O): uncertain. */
export const ID_FAILED = 2;
/** The 'R' program completed: the cloud must end up with it. */
export const ID_RECORDED = 3;
/** Recorded, then its sector was erased before the cloud had it (a full log, or a record the log lost track of). */
export const ID_DROPPED = 4;

/** One violation of an invariant, with enough to find it again. */
export interface Violation {
  what: string;
  detail: string;
  at: number;
}

export interface WorldOptions {
  model: FlashModel;
  /** The scenario seed: the device's randomness, secrets. Same seed, same run (until a cut). */
  seed: number;
  /** Seed of the flash's tear decisions (and of KV landing coins); default from seed + plan. */
  flashSeed?: number;
  module: WebAssembly.Module;
  /** Cuts to make, fired in order (a later one is armed once the earlier has fired). */
  cuts?: CutPoint[];
  /** Note every `cred` set (baseline runs). */
  noteCredCommits?: boolean;
  /** Module log lines kept for a failure report. */
  logTail?: number;
}

/** The GNSS route: still, at a latitude that encodes the UTC second. */
class ClockRoute implements MotionSource {
  constructor(private utcStartMs: number) {}
  positionAt(t: number) {
    return { lat: latitudeAt(this.utcStartMs + t), lon: 8.5, moving: false };
  }
}

/** The identity a world's cloud issued: apiKey -> (generation, environment). */
interface IssuedKey {
  gen: number;
  env: string;
}

/** Parses the `cred` KV record (assembly/identity.ts storeCred). */
export function decodeCred(v: Uint8Array): { version: number; gen: number; env: string; key: string } | null {
  let p = 0;
  const dec = new TextDecoder();
  if (v.length < 7) return null;
  const version = v[p++];
  const gen = (v[p] | (v[p + 1] << 8) | (v[p + 2] << 16) | (v[p + 3] << 24)) >>> 0;
  p += 4;
  const envLen = v[p++];
  if (p + envLen + 1 > v.length) return null;
  const env = dec.decode(v.subarray(p, p + envLen));
  p += envLen;
  const keyLen = v[p++];
  if (p + keyLen !== v.length) return null;
  const key = dec.decode(v.subarray(p, p + keyLen));
  return { version, gen, env, key };
}

/**
 * The proof's one number for an uplink: its epoch's ordinal (the log key's high half, the
 * agent_stat `epochOrdinal`) and its id, so that a new epoch's ids never collide with an old one's.
 */
const EPOCH_SPAN = 2 ** 20;
export function uidOf(ordinal: number, id: number): number {
  return ordinal >= 1 && id >= 1 && id < EPOCH_SPAN ? (ordinal - 1) * EPOCH_SPAN + id : -1;
}

/**
 * The 'R' entry a program writes: its uid and the epoch its payload names, or undefined. A
 * program of the log is: optional fill units (0x00) first, then at most one entry (16-byte
 * header: kind, length, 0xFFFF, CRC, log key; then the record, assembly/uplink.ts).
 */
function recordOf(data: Uint8Array, progSize: number): { uid: number; epoch: number } | undefined {
  let p = 0;
  while (p + progSize <= data.length) {
    let zero = true;
    for (let i = 0; i < progSize; i++) if (data[p + i] !== 0) { zero = false; break; }
    if (!zero) break;
    p += progSize;
  }
  if (p + 16 > data.length || data[p] !== 0x52 || data[p + 1] > 96 || data[p + 2] !== 0xff || data[p + 3] !== 0xff) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  const record = decodeUplinkRecord(data.subarray(p + 16, p + 16 + data[p + 1]));
  return { uid: uidOf(dv.getUint32(p + 12, true), dv.getUint32(p + 8, true)), epoch: record?.epoch ?? -1 };
}

/** The NOR flash with the world's operation counter and 'R'-entry observer in front. */
class ProofFlash extends NorFlash {
  constructor(private w: World, model: FlashModel, seed: number) {
    super({ ...GEOMETRY, model, seed });
  }

  override program(addr: number, data: Uint8Array): number {
    if (!this.powered || data.length === 0) return super.program(addr, data);
    const cut = this.w.beforeOp('program', String(addr));
    if (cut) this.cutAfter(0);
    const r = recordOf(data, this.progSize);
    const id = r ? r.uid : -1;
    if (r) this.w.recordIssued(r.uid, r.epoch);
    try {
      const rc = super.program(addr, data);
      if (rc === 0 && id >= 0) this.w.recordWritten(id, Math.floor(addr / this.sectorSize));
      return rc;
    } catch (e) {
      if (e instanceof PowerCut && cut) this.w.cutLanded(this.lastCut?.landed ?? 0);
      throw e;
    }
  }

  override erase(sector: number): number {
    if (!this.powered) return super.erase(sector);
    const cut = this.w.beforeOp('erase', String(sector));
    if (cut) this.cutAfter(0);
    this.w.sectorErased(sector);
    try {
      return super.erase(sector);
    } catch (e) {
      if (e instanceof PowerCut && cut) this.w.cutLanded(this.lastCut?.landed ?? 0);
      throw e;
    }
  }
}

/** The KV store, atomic per key (like ESP-IDF NVS), with the operation counter in front. */
class ProofKv implements KvStore {
  readonly inner = new MemoryKv();
  constructor(private w: World) {}
  get(key: string) { return this.inner.get(key); }
  keys() { return this.inner.keys(); }
  set(key: string, value: Uint8Array): number {
    if (this.w.noteCredCommits && key === 'cred') this.w.noteCred();
    const cut = this.w.beforeOp('kv', key);
    if (!cut) return this.inner.set(key, value);
    const lands = this.w.kvLands();
    if (lands) this.inner.set(key, value);
    this.w.cutLanded(lands);
    throw new PowerCut(`power cut during kv set of ${key} (${lands ? 'landed' : 'not landed'})`);
  }
}

const EMPTY = new Uint8Array(0);
const dec = new TextDecoder();

export class World {
  readonly sched = new Scheduler(T0);
  readonly cloud: FakeCloud;
  readonly flash: ProofFlash;
  readonly kv: ProofKv;
  readonly device: ProofDevice;
  readonly model: FlashModel;
  readonly seed: number;
  readonly noteCredCommits: boolean;

  // ---- operations and cuts ----
  ops = 0;
  flashOps = 0;
  kvOps = 0;
  private readonly plan: CutPoint[];
  private planIndex = 0;
  private readonly kvRng: Rng;
  /** Cuts that fired, in order. */
  readonly cuts: CutEvent[] = [];
  /** The cut being fired (between beforeOp and the PowerCut). */
  private firing: CutEvent | null = null;
  /** The agent was backing off after its last completed call (agent_stat 6 = BACKING_OFF). */
  inBackoff = false;
  /** Cuts moved past a back-off wait (deferInBackoff). */
  deferred = 0;
  /** `cred` sets seen (noteCredCommits). */
  readonly credCommits: CredCommit[] = [];

  // ---- uplink ids ----
  private ids = new Uint8Array(4096);
  /** Ids whose 'R' entry was written into each sector since its last erase. */
  private readonly sectorIds: number[][] = [];
  /** Recorded uplinks a full log dropped (their sector erased before the cloud had them). */
  droppedByLog = 0;
  maxIssued = 0;
  recordedCount = 0;
  /** agent_stat 5 after the last completed call of this boot. */
  private lastId = 0;
  /** First id of this boot (agent_stat 5 right after agent_start, plus one). */
  bootFirstId = 0;
  boots = 0;
  startFailures = 0;

  // ---- identity ----
  private readonly issued = new Map<string, IssuedKey>();
  private keysIssued = 0;
  private secretCounter = 0;
  /** Generation of the cred record last seen in the KV store (0: none). */
  private lastCredGen = 0;
  private readonly credGenOfKey = new Map<string, number>();
  resetsServed = 0;

  // ---- what was sent ----
  /** Per uplink id: times the cloud took it or answered it already had it (2xx / 409). */
  readonly deliveries = new Map<number, number>();
  /** Per uplink id: its content as first sent (time fields aside). */
  private readonly content = new Map<number, string>();
  /** Uplinks in request bodies, every attempt (dropped ones and 401s included). */
  uplinkSends = 0;
  identityChecks = 0;
  /** Ids sent with two different contents (an id naming two uplinks: one would be lost). */
  conflicts = 0;
  backfillRequestsOk = 0;
  /** The sends of positions, for the latitude check: id -> [timestamp, latitude]. */
  private readonly positions = new Map<number, { ts: string | undefined; lat: number | undefined }>();

  // ---- findings ----
  readonly violations: Violation[] = [];
  readonly errorLines = new Map<string, number>();
  private readonly tail: string[] = [];
  private readonly tailSize: number;
  /** Fault hook of the scenario (outages). */
  faults: ((endpoint: string) => 'drop' | null) | null = null;

  constructor(opts: WorldOptions) {
    this.model = opts.model;
    this.seed = opts.seed >>> 0;
    this.noteCredCommits = opts.noteCredCommits ?? false;
    this.tailSize = opts.logTail ?? 40;
    this.plan = [...(opts.cuts ?? [])];
    const planKey = this.plan.flatMap((c) => [c.space === 'flash' ? 1 : c.space === 'kv' ? 2 : 3, c.index, c.kvLands === undefined ? 2 : c.kvLands ? 1 : 0]);
    const modelKey = opts.model === 'atomic' ? 1 : opts.model === 'torn' ? 2 : 3;
    const flashSeed = opts.flashSeed ?? mixSeed(this.seed, modelKey, ...planKey);
    this.kvRng = new Rng(mixSeed(flashSeed, 0x6b76));

    this.cloud = new FakeCloud({
      now: () => this.sched.utcNow(),
      makeSecret: (purpose) => this.makeSecret(purpose),
      faults: (ctx) => {
        if (ctx.endpoint === 'operator') return null;
        return this.faults?.(ctx.endpoint) === 'drop' ? { kind: 'drop' } : null;
      },
    });
    const d = this.cloud.createDevice({
      tenantId: TENANT,
      deviceId: DEVICE_ID,
      settings: { type: 'tracker', uplinkIntervalS: 10, movingIntervalS: 10, heartbeatS: 600, backfillBatchSize: 50, gnssTimeoutS: 30 },
    });
    this.flash = new ProofFlash(this, opts.model, flashSeed);
    this.kv = new ProofKv(this);
    provision(this.kv.inner, { tenantId: TENANT, deviceId: DEVICE_ID, environment: environmentOf(0), apiKey: d.apiKey, resetSecret: d.resetSecret });
    this.device = simDevice({
      module: opts.module,
      kv: this.kv,
      flash: this.flash,
      http: new MemoryTransport(this.cloud, this.exchanges),
      gnss: { route: new ClockRoute(T0), rng: new Rng(mixSeed(this.seed, 0x67)), options: { timeoutRate: 0, fixMinMs: 1_000, fixMaxMs: 1_000 } },
      rng: new Rng(mixSeed(this.seed, 0x72)),
      log: (level, line) => this.onLog(level, line),
      board: { dev: true, firmware: 'proof', allowHosts: HOSTS },
      host: (module, hal, board) => new ProofDevice(module, hal, board, this),
      scheduler: this.sched,
    }) as ProofDevice;
  }

  // ---- secrets and environments ----

  private makeSecret(purpose: KeyPurpose): string {
    const n = this.secretCounter++;
    const tag = purpose === 'apiKey' ? 'ak' : purpose === 'resetSecret' ? 'rs' : 'sk';
    const h = (salt: number) => mixSeed(this.seed, n, salt).toString(36).padStart(7, '0');
    const secret = `${tag}_${this.seed.toString(36)}_${n.toString(36)}_${h(1)}${h(2)}`;
    if (purpose === 'apiKey') {
      const gen = this.keysIssued++;
      this.issued.set(secret, { gen, env: environmentOf(gen) });
      // The reset answer reads the environment after issuing the key: tell this key's.
      this.cloud?.setEnvironment(DEVICE_ID, environmentOf(gen));
    }
    return secret;
  }

  /** The cloud's apiKey generations issued so far. */
  get apiKeysIssued(): number { return this.keysIssued; }

  // ---- operations ----

  /** Called before every flash program / erase and KV set; true when this one is to be cut. */
  beforeOp(kind: 'program' | 'erase' | 'kv', target: string): boolean {
    this.ops++;
    if (kind === 'kv') this.kvOps++;
    else this.flashOps++;
    const next = this.plan[this.planIndex];
    if (next === undefined) return false;
    if (next.deferInBackoff !== undefined && next.space === 'op') {
      if (this.inBackoff && this.ops >= next.index) {
        if (!this.deferring) this.deferred++;
        this.deferring = true;
        next.index = this.ops + 1;
        return false;
      }
      if (this.deferring) {
        // The wait is over: a fresh gap from here, so that the cut does not always land on the
        // first operation after a back-off.
        this.deferring = false;
        next.index = this.ops + this.kvRng.int(0, next.deferInBackoff - 1);
        return this.beforeOpHit(next, kind, target);
      }
    }
    return this.beforeOpHit(next, kind, target);
  }

  private deferring = false;

  private beforeOpHit(next: CutPoint, kind: 'program' | 'erase' | 'kv', target: string): boolean {
    const hit = next.space === 'op' ? this.ops === next.index
      : next.space === 'flash' ? kind !== 'kv' && this.flashOps === next.index
        : kind === 'kv' && this.kvOps === next.index;
    if (!hit) {
      const passed = next.space === 'op' ? this.ops > next.index : next.space === 'flash' ? this.flashOps > next.index : this.kvOps > next.index;
      if (passed) this.violation('cut plan', `cut at ${next.space} ${next.index} was passed without firing`);
      return false;
    }
    this.planIndex++;
    this.firing = { op: this.ops, flashOp: this.flashOps, kvOp: this.kvOps, kind, target, landed: 0, at: this.sched.now };
    return true;
  }

  /** Whether the KV set being cut lands (the plan says, or a seeded coin). */
  kvLands(): boolean {
    const c = this.plan[this.planIndex - 1];
    return c?.kvLands ?? this.kvRng.chance(0.5);
  }

  cutLanded(landed: number | boolean): void {
    if (!this.firing) return;
    this.firing.landed = landed;
    this.cuts.push(this.firing);
    this.firing = null;
    // The 'R' program interrupted keeps its id uncertain (recordIssued already ran).
  }

  /** Appends further cuts to the plan (the soak plans as it goes). */
  planCut(c: CutPoint): void { this.plan.push(c); }

  /** Planned cuts that have not fired. */
  get pendingCuts(): number { return this.plan.length - this.planIndex; }

  noteCred(): void {
    this.credCommits.push({ op: this.ops + 1, flashOp: this.flashOps, kvOp: this.kvOps + 1, at: this.sched.now });
  }

  // ---- uplink ids ----

  private idState(id: number): number { return id < this.ids.length ? this.ids[id] : ID_NEVER; }

  private setId(id: number, s: number): void {
    if (id >= this.ids.length) {
      let n = this.ids.length;
      while (n <= id) n *= 2;
      const grown = new Uint8Array(n);
      grown.set(this.ids);
      this.ids = grown;
    }
    const old = this.ids[id];
    if (old === ID_RECORDED && s !== ID_RECORDED) this.recordedCount--;
    if (old !== ID_RECORDED && s === ID_RECORDED) this.recordedCount++;
    this.ids[id] = s;
  }

  /** Epoch -> ordinal, learned from the records the device programs. */
  private readonly ordinals = new Map<number, number>();

  /** The uid of an uplink as the wire names it, or -1 for an epoch the device never recorded. */
  private wireUid(epoch: unknown, id: unknown): number {
    if (typeof epoch !== 'number' || typeof id !== 'number') return -1;
    const ordinal = this.ordinals.get(epoch);
    return ordinal === undefined ? -1 : uidOf(ordinal, id);
  }

  /** agent_stat lastId as a uid (its epoch's ordinal from agent_stat). */
  private lastUid(): number {
    const last = this.device.stat(STAT.lastId);
    const ordinal = this.device.stat(STAT.epochOrdinal);
    return last <= 0 ? uidOf(ordinal, 1) - 1 : uidOf(ordinal, last);
  }

  recordIssued(id: number, epoch: number): void {
    if (id < 0 || epoch < 0) { this.violation('observer', `'R' program of no known shape (uid ${id}, epoch ${epoch})`); return; }
    this.ordinals.set(epoch, Math.floor((id - 1) / EPOCH_SPAN) + 1);
    if (this.idState(id) === ID_NEVER) {
      // Below this boot's first id only a repair of an entry already written may appear.
      if (id < this.bootFirstId) this.violation('id reuse', `boot ${this.boots} programs a record of id ${id}, below its first id ${this.bootFirstId}`);
      this.setId(id, ID_ISSUED);
    }
    if (id > this.maxIssued) this.maxIssued = id;
  }

  recordWritten(id: number, sector: number): void {
    if (id < 0) return;
    if (this.idState(id) !== ID_DROPPED) this.setId(id, ID_RECORDED);
    (this.sectorIds[sector] ??= []).push(id);
  }

  /** An erase starts: recorded uplinks of that sector the cloud does not have are dropped. */
  sectorErased(sector: number): void {
    const ids = this.sectorIds[sector];
    if (!ids) return;
    for (const id of ids) {
      if (this.idState(id) === ID_RECORDED && !this.deliveries.has(id)) {
        this.setId(id, ID_DROPPED);
        this.droppedByLog++;
      }
    }
    this.sectorIds[sector] = [];
  }

  /** After agent_start returned (a new instance). */
  bootDone(rc: number): void {
    this.boots++;
    if (rc !== 0) {
      this.startFailures++;
      this.violation('start', `agent_start returned ${rc} (boot ${this.boots}): ${this.tail.slice(-3).join(' | ')}`);
      return;
    }
    const last = this.lastUid();
    // Ids are dense (assembly/ids.ts): this boot issues from last + 1. An id above it is free
    // again only if its 'R' program never completed (cut short, or reported failed): the log
    // does not hold it and it was never sent. A recorded one above it would be reused.
    for (let id = last + 1; id <= this.maxIssued; id++) {
      const s = this.idState(id);
      if (s === ID_ISSUED || s === ID_FAILED) this.setId(id, ID_NEVER);
      else if (s !== ID_NEVER) {
        this.violation('id reuse', `boot ${this.boots} continues after id ${last}, but id ${id} was recorded before`);
        break;
      }
    }
    if (last < this.maxIssued) this.maxIssued = last;
    this.lastId = last;
    this.bootFirstId = last + 1;
    this.inBackoff = this.device.stat(STAT.state) === SESSION_STATE.backingOff;
  }

  /** After a module call completed (no cut): every id it issued is recorded. */
  callDone(): void {
    if (this.device.stat(STAT.lastId) < 0) return;
    const last = this.lastUid();
    this.inBackoff = this.device.stat(STAT.state) === SESSION_STATE.backingOff;
    if (last < this.lastId) this.violation('id order', `last id went back from ${this.lastId} to ${last}`);
    for (let id = this.lastId + 1; id <= last; id++) {
      const s = this.idState(id);
      if (s !== ID_RECORDED && s !== ID_FAILED) {
        this.violation('observer', `id ${id} issued by a completed call, but no 'R' program of it completed (state ${s})`);
        this.setId(id, ID_RECORDED);
      }
      if (id > this.maxIssued) this.maxIssued = id;
    }
    if (this.maxIssued > last) this.violation('id order', `a record of id ${this.maxIssued} was written, but the agent's last id is ${last}`);
    this.lastId = last;
  }

  private onLog(level: number, line: string): void {
    if (this.tailSize > 0) {
      this.tail.push(`[${Math.round(this.sched.now / 1000)}s L${level}] ${line}`);
      if (this.tail.length > this.tailSize) this.tail.shift();
    }
    if (level > 0) return;
    const m = /append failed \((-?\d+)\); uplink (\d+) lost/.exec(line);
    if (m) this.setId(Number(m[2]), ID_FAILED);
    const kind = line.replace(/\d+/g, 'N');
    this.errorLines.set(kind, (this.errorLines.get(kind) ?? 0) + 1);
  }

  /** The last module log lines (for a failure report). */
  logTail(): string[] { return [...this.tail]; }

  violation(what: string, detail: string): void {
    if (this.violations.length < 50) this.violations.push({ what, detail, at: this.sched.now });
  }

  // ---- identity ----

  /** The `cred` record in the KV store is absent or one whole (environment, apiKey) pair the cloud issued. */
  checkIdentity(when: string): void {
    this.identityChecks++;
    const v = this.kv.inner.get('cred');
    if (v === undefined) {
      if (this.lastCredGen !== 0) this.violation('identity', `${when}: the cred record (generation ${this.lastCredGen}) disappeared`);
      return;
    }
    const c = decodeCred(v);
    if (c === null || c.version !== 1) { this.violation('identity', `${when}: cred record undecodable`); return; }
    const issued = this.issued.get(c.key);
    if (!issued) { this.violation('identity', `${when}: cred holds an apiKey the cloud never issued`); return; }
    if (issued.env !== c.env) {
      this.violation('identity', `${when}: cred pairs the apiKey of generation ${issued.gen} with environment ${c.env} (issued with ${issued.env})`);
    }
    const seen = this.credGenOfKey.get(c.key);
    if (seen !== undefined && seen !== c.gen) this.violation('identity', `${when}: apiKey stored as generation ${c.gen}, earlier as ${seen}`);
    if (seen === undefined) {
      if (c.gen <= this.lastCredGen) this.violation('identity', `${when}: cred generation ${c.gen} after ${this.lastCredGen}`);
      this.credGenOfKey.set(c.key, c.gen);
    }
    this.lastCredGen = Math.max(this.lastCredGen, c.gen);
  }

  // ---- HTTP ----

  /** Uplink ids of the request being served (set when it is sent, counted when answered). */
  private sending: number[] | null = null;

  /** The in-process transport's observer: identity checks, then what was sent and delivered. */
  readonly exchanges: ExchangeObserver = {
    sent: (req) => this.sent(req),
    answered: (_req, path, r) => this.answered(path, r),
  };

  private sent(req: HttpRequest): { path: string } | { answer: HttpResult } {
    const url = req.url;
    this.sending = null;
    // https://host/gN/api/... : the environment is scheme, host and first path segment.
    const hostEnd = url.startsWith('https://') ? url.indexOf('/', 8) : -1;
    const envEnd = hostEnd < 0 ? -1 : url.indexOf('/', hostEnd + 1);
    if (envEnd < 0) {
      this.violation('identity', `request to ${url.slice(0, 60)}: not under an environment the cloud told`);
      return { answer: { status: NET_REFUSED, headers: {}, body: EMPTY, virtualMs: 0 } };
    }
    const env = url.slice(0, envEnd);
    const path = url.slice(envEnd);
    if (!path.endsWith('/connections/reset')) {
      // The request's environment and key must be one generation's pair.
      let key = '';
      for (const k in req.headers) if (k.toLowerCase() === 'x-api-key') key = req.headers[k];
      const issued = this.issued.get(key);
      if (!issued) this.violation('identity', `${path.slice(path.lastIndexOf('/'))} with an apiKey the cloud never issued`);
      else if (issued.env !== env) this.violation('identity', `request mixes the apiKey of generation ${issued.gen} with environment ${env} (paired with ${issued.env})`);
    } else if (!/^https:\/\/[a-c]\.proof\.test\/g\d+$/.test(env)) {
      this.violation('identity', `reset sent to ${env}`);
    }
    const isBackfill = path.endsWith('/uplinks/backfill');
    if (isBackfill || path.endsWith('/uplinks')) this.sending = this.noteSent(req.body, isBackfill);
    return { path };
  }

  private answered(path: string, r: HttpResult): void {
    const ids = this.sending;
    this.sending = null;
    if (path.endsWith('/connections/reset') && r.status === 200) this.resetsServed++;
    if (path.endsWith('/uplinks/backfill') && r.status === 200) this.backfillRequestsOk++;
    // Delivered: the cloud took them (2xx) or already had them (409).
    if (ids !== null && ((r.status >= 200 && r.status < 300) || r.status === 409)) {
      for (const id of ids) this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1);
    }
  }

  /** Notes the uplinks of a request body; returns their ids. */
  private noteSent(body: Uint8Array, backfill: boolean): number[] {
    const ids: number[] = [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(dec.decode(body));
    } catch {
      this.violation('wire', 'an uplink body that is not JSON');
      return ids;
    }
    const list = backfill ? (parsed as { uplinks?: unknown }).uplinks : [parsed];
    if (!Array.isArray(list)) { this.violation('wire', 'a backfill without uplinks'); return ids; }
    for (const u of list as Record<string, unknown>[]) {
      const id = this.wireUid(u.epoch, u.id);
      if (id < 0) { this.violation('wire', `an uplink (epoch ${u.epoch}, id ${u.id}) the device never recorded`); continue; }
      ids.push(id);
      this.uplinkSends++;
      // Content, time fields aside: a record of an earlier boot whose UTC was never known goes
      // with timeUnknown instead of the timestamp it had when sent in its own boot.
      const data = { ...(u.data as Record<string, unknown>) };
      delete data.timeUnknown;
      const fp = `${u.topic}|${JSON.stringify(data)}`;
      const first = this.content.get(id);
      if (first === undefined) this.content.set(id, fp);
      else if (first !== fp) {
        this.conflicts++;
        this.violation('duplicate', `id ${id} sent with two contents: ${first} / ${fp}`);
      }
      if (u.topic === 'position') {
        const lat = typeof data.latitude === 'number' ? data.latitude : undefined;
        const ts = typeof u.timestamp === 'string' ? u.timestamp : undefined;
        const prev = this.positions.get(id);
        if (!prev || (prev.ts === undefined && ts !== undefined)) this.positions.set(id, { ts, lat });
      }
    }
    return ids;
  }

  // ---- the end ----

  /** Checks everything against the cloud; returns the counts. */
  verify(): WorldCounts {
    const stored = this.cloud.uplinksOf(DEVICE_ID);
    const have = new Set<number>();
    let storedTwice = 0;
    for (const u of stored) {
      const uid = this.wireUid(u.epoch, u.id);
      if (have.has(uid)) storedTwice++;
      have.add(uid);
    }
    let lost = 0;
    let uncertain = 0;
    let uncertainDelivered = 0;
    const lostIds: number[] = [];
    for (let id = 1; id < this.ids.length; id++) {
      const s = this.ids[id];
      if (s === ID_RECORDED && !have.has(id)) {
        lost++;
        if (lostIds.length < 10) lostIds.push(id);
      }
      if (s === ID_ISSUED || s === ID_FAILED) {
        uncertain++;
        if (have.has(id)) uncertainDelivered++;
      }
    }
    let failedAppends = 0;
    for (let id = 1; id < this.ids.length; id++) if (this.ids[id] === ID_FAILED) failedAppends++;
    // The power-loss models never fail a program that is not cut: an append the agent reports
    // failed (read-back mismatch, I/O) is a sample lost on the device.
    if (failedAppends > 0) this.violation('append failed', `${failedAppends} appends reported failed by the agent ("uplink N lost")`);
    if (lost > 0 || this.droppedByLog > 0) {
      // droppedByLog: erased with their sector before the cloud had them. The scenario never
      // fills the log, so that too is a loss: silent unless the agent counted it as dropped.
      const erased = this.droppedByLog > 0
        ? ` (${this.droppedByLog} of them erased with their sector before the cloud had them; the agent counts ${this.device.stat(STAT.dropped)} dropped by a full log)`
        : '';
      this.violation('lost', `${lost + this.droppedByLog} recorded uplinks never reached the cloud${erased}${lostIds.length > 0 ? `, e.g. ids ${lostIds.join(', ')}` : ''}`);
    }
    let neverIssued = 0;
    for (const id of have) {
      if (id < 0 || this.idState(id) === ID_NEVER) {
        neverIssued++;
        if (neverIssued <= 3) this.violation('never issued', `the cloud has uplink ${id}, which the device never issued`);
      }
    }
    if (storedTwice > 0) this.violation('duplicate', `${storedTwice} ids stored twice`);
    // Every position's latitude says when it was taken: it must match its timestamp.
    let positions = 0;
    let badLatitude = 0;
    let positionsWithoutTime = 0;
    for (const [id, p] of this.positions) {
      if (!have.has(id)) continue;
      positions++;
      if (p.lat === undefined) continue;
      if (p.ts === undefined) { positionsWithoutTime++; continue; }
      const expect = latitudeAt(Date.parse(p.ts));
      const diffS = Math.round((p.lat - expect) / 1e-5);
      const wrapped = ((diffS % LAT_PERIOD_S) + LAT_PERIOD_S + LAT_PERIOD_S / 2) % LAT_PERIOD_S - LAT_PERIOD_S / 2;
      if (Math.abs(wrapped) > 2) {
        badLatitude++;
        if (badLatitude <= 3) this.violation('misread', `uplink ${id}: latitude ${p.lat} is ${wrapped} s away from its timestamp ${p.ts}`);
      }
    }
    // Deliveries beyond the first: a lost answer, an ack torn by a cut (harmless: the cloud dedupes).
    let resent = 0;
    for (const n of this.deliveries.values()) resent += n - 1;
    const dropped = this.device.started ? this.device.stat(STAT.dropped) : -1;
    if (this.device.traps > 0) this.violation('trap', `the module trapped ${this.device.traps} times`);
    this.checkIdentity('at the end');
    return {
      recorded: this.recordedCount + this.droppedByLog,
      delivered: have.size,
      uncertain,
      uncertainDelivered,
      resent,
      lost: lost + this.droppedByLog,
      droppedByLog: this.droppedByLog,
      duplicates: storedTwice + this.conflicts,
      neverIssued,
      badLatitude,
      positions,
      positionsWithoutTime,
      dropped,
      traps: this.device.traps,
      startFailures: this.startFailures,
      boots: this.boots,
      resets: this.resetsServed,
      backfillRequests: this.backfillRequestsOk,
      flashOps: this.flashOps,
      kvOps: this.kvOps,
      cuts: this.cuts.length,
      identityChecks: this.identityChecks,
      uplinkSends: this.uplinkSends,
    };
  }
}

export interface WorldCounts {
  recorded: number;
  delivered: number;
  uncertain: number;
  uncertainDelivered: number;
  resent: number;
  /** Recorded uplinks the cloud never got, including droppedByLog. */
  lost: number;
  droppedByLog: number;
  duplicates: number;
  neverIssued: number;
  badLatitude: number;
  positions: number;
  positionsWithoutTime: number;
  dropped: number;
  traps: number;
  startFailures: number;
  boots: number;
  resets: number;
  backfillRequests: number;
  flashOps: number;
  kvOps: number;
  cuts: number;
  identityChecks: number;
  uplinkSends: number;
}

/** The DeviceHost with the world's hooks after every completed call. */
export class ProofDevice extends DeviceHost {
  constructor(module: WebAssembly.Module, hal: DeviceHal, board: BoardSettings, private w: World) {
    super(module, hal, board);
  }

  override boot(now: number, afterTrap = false): number {
    const rc = super.boot(now, afterTrap);
    this.w.bootDone(rc);
    return rc;
  }

  override step(now: number): void {
    super.step(now);
    this.w.callDone();
  }
}
