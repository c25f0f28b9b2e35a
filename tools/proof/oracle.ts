// The oracle of the power-cut proof: the bookkeeping that decides, from outside the module,
// what the device recorded and what the cloud must therefore end up with, and which identity
// the store may hold.
//
// Uplink ids, from the flash side: every append programs one 'R' entry carrying its id
// (log/README.md, "Entry"). A program of an 'R' entry that was started marks its id issued;
// one that completed marks it recorded (the log's read-back follows before anything else).
// After every completed module call, agent_stat 5 (last id issued) cross-checks it: every id
// up to it must be recorded, or reported failed: an id the call issued that agent_stat 0
// (uplinks recorded) did not count is an append the agent gave up. The id of an 'R' program
// the cut interrupted is "uncertain": it may or may not arrive, but at most once. When an
// erase starts, the recorded ids of that sector the cloud does not have yet are lost with it
// (the scenario never fills the log).
import { STAT } from '../../host-sim/device-host.ts';
import type { KvStore } from '../../host-sim/hal/kv.ts';
import { decodeCred } from '../../host-sim/device-records.ts';
import type { Findings } from './findings.ts';
import { ordinalOfUid, uidOf, type WireUplink } from './wire.ts';

// Per-id states.
export const ID_NEVER = 0;
/** An 'R' program of this id started and did not complete: uncertain. */
export const ID_ISSUED = 1;
/** The agent gave the append up (read-back or I/O): uncertain. */
export const ID_FAILED = 2;
/** The 'R' program completed: the cloud must end up with it. */
export const ID_RECORDED = 3;
/** Recorded, then its sector was erased before the cloud had it (a full log, or a record the log lost track of). */
export const ID_DROPPED = 4;

/** The position the deterministic GNSS reports encodes the UTC second of the fix. */
export const LAT_BASE = 40;
export const LAT_PERIOD_S = 100_000;
const LAT_STEP = 1e-5;
/** Seconds a position's latitude may be off its timestamp (the fix takes 1 s). */
const LAT_SLACK_S = 2;

/** Latitude of a fix taken at this UTC (ms): 40 + (second % 100000) * 1e-5. */
export function latitudeAt(utcMs: number): number {
  return LAT_BASE + (Math.floor(utcMs / 1000) % LAT_PERIOD_S) * LAT_STEP;
}

/** The module's counters the ledger reads (a DeviceHost's `stat`; -1 when not started). */
export type StatReader = (which: number) => number;

/** What the ledger counts at the end. */
export interface LedgerCounts {
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
  uplinkSends: number;
}

export class UplinkLedger {
  private ids = new Uint8Array(4096);
  /** Ids whose 'R' entry was written into each sector since its last erase. */
  private readonly sectorIds: number[][] = [];
  /** Recorded uplinks a full log dropped (their sector erased before the cloud had them). */
  droppedByLog = 0;
  maxIssued = 0;
  recordedCount = 0;
  /** agent_stat 5 after the last completed call of this boot. */
  private lastId = 0;
  /** agent_stat 0 (recorded this boot) after the last completed call. */
  private recordedSeen = 0;
  /** First id of this boot (agent_stat 5 right after agent_start, plus one). */
  bootFirstId = 0;
  boots = 0;
  startFailures = 0;
  /** Epoch -> ordinal, learned from the records the device programs. */
  private readonly ordinals = new Map<number, number>();

  /** Per uplink id: times the cloud took it or answered it already had it (2xx / 409). */
  readonly deliveries = new Map<number, number>();
  /** Per uplink id: its content as first sent (time fields aside). */
  private readonly content = new Map<number, string>();
  /** Uplinks in request bodies, every attempt (dropped ones and 401s included). */
  uplinkSends = 0;
  /** Ids sent with two different contents (an id naming two uplinks: one would be lost). */
  conflicts = 0;
  /** The sends of positions, for the latitude check: id -> [timestamp, latitude]. */
  private readonly positions = new Map<number, { ts: string | undefined; lat: number | undefined }>();

  constructor(private readonly stat: StatReader, private readonly findings: Findings, private readonly logTail: () => string[]) {}

  private violation(what: string, detail: string) { this.findings.violation(what, detail); }

  // ---- per id ----

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

  /** The uid of an uplink as the wire names it, or -1 for an epoch the device never recorded. */
  wireUid(epoch: unknown, id: unknown): number {
    if (typeof epoch !== 'number' || typeof id !== 'number') return -1;
    const ordinal = this.ordinals.get(epoch);
    return ordinal === undefined ? -1 : uidOf(ordinal, id);
  }

  /** agent_stat lastId as a uid (its epoch's ordinal from agent_stat). */
  private lastUid(): number {
    const last = this.stat(STAT.lastId);
    const ordinal = this.stat(STAT.epochOrdinal);
    return last <= 0 ? uidOf(ordinal, 1) - 1 : uidOf(ordinal, last);
  }

  // ---- the flash side ----

  /** An 'R' program of this uid, naming this epoch in its payload, starts. */
  recordIssued(id: number, epoch: number): void {
    if (id < 0 || epoch < 0) { this.violation('observer', `'R' program of no known shape (uid ${id}, epoch ${epoch})`); return; }
    this.ordinals.set(epoch, ordinalOfUid(id));
    if (this.idState(id) === ID_NEVER) {
      // Below this boot's first id only a repair of an entry already written may appear.
      if (id < this.bootFirstId) this.violation('id reuse', `boot ${this.boots} programs a record of id ${id}, below its first id ${this.bootFirstId}`);
      this.setId(id, ID_ISSUED);
    }
    if (id > this.maxIssued) this.maxIssued = id;
  }

  /** That program completed, in this sector. */
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

  // ---- the module's side ----

  /** After agent_start returned (a new instance). */
  bootDone(rc: number): void {
    this.boots++;
    if (rc !== 0) {
      this.startFailures++;
      this.violation('start', `agent_start returned ${rc} (boot ${this.boots}): ${this.logTail().slice(-3).join(' | ')}`);
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
    this.recordedSeen = this.stat(STAT.recorded);
    this.bootFirstId = last + 1;
  }

  /** After a module call completed (no cut): every id it issued is recorded, or was given up. */
  callDone(): void {
    if (this.stat(STAT.lastId) < 0) return;
    const last = this.lastUid();
    if (last < this.lastId) this.violation('id order', `last id went back from ${this.lastId} to ${last}`);
    this.noteGivenUp(last);
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

  /**
   * Ids the call issued that agent_stat 0 did not count as recorded: appends the agent gave
   * up. Which ones the module does not say; those whose 'R' program never completed first,
   * then the newest (a call appends one or two records).
   */
  private noteGivenUp(last: number): void {
    const recorded = this.stat(STAT.recorded);
    let givenUp = last - this.lastId - (recorded - this.recordedSeen);
    this.recordedSeen = recorded;
    for (let id = last; id > this.lastId && givenUp > 0; id--) {
      if (this.idState(id) !== ID_RECORDED) { this.setId(id, ID_FAILED); givenUp--; }
    }
    for (let id = last; id > this.lastId && givenUp > 0; id--) {
      if (this.idState(id) === ID_RECORDED) { this.setId(id, ID_FAILED); givenUp--; }
    }
  }

  // ---- the wire ----

  /** Notes the uplinks of a request body; returns their ids. */
  noteSent(list: WireUplink[]): number[] {
    const ids: number[] = [];
    for (const u of list) {
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

  /** The cloud took these ids (2xx) or already had them (409). */
  delivered(ids: number[]): void {
    for (const id of ids) this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1);
  }

  // ---- the end ----

  /** Checks the ledger against what the cloud stored (`epoch`, `id` of each uplink). */
  verify(stored: { epoch: unknown; id: unknown }[]): LedgerCounts {
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
    // The power-loss models never fail a program that is not cut: an append the agent gave up
    // (read-back mismatch, I/O) is a sample lost on the device.
    if (failedAppends > 0) this.violation('append failed', `${failedAppends} appends given up by the agent (issued, not counted recorded)`);
    if (lost > 0 || this.droppedByLog > 0) {
      // droppedByLog: erased with their sector before the cloud had them. The scenario never
      // fills the log, so that too is a loss: silent unless the agent counted it as dropped.
      const erased = this.droppedByLog > 0
        ? ` (${this.droppedByLog} of them erased with their sector before the cloud had them; the agent counts ${this.stat(STAT.dropped)} dropped by a full log)`
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
      const diffS = Math.round((p.lat - expect) / LAT_STEP);
      const wrapped = ((diffS % LAT_PERIOD_S) + LAT_PERIOD_S + LAT_PERIOD_S / 2) % LAT_PERIOD_S - LAT_PERIOD_S / 2;
      if (Math.abs(wrapped) > LAT_SLACK_S) {
        badLatitude++;
        if (badLatitude <= 3) this.violation('misread', `uplink ${id}: latitude ${p.lat} is ${wrapped} s away from its timestamp ${p.ts}`);
      }
    }
    // Deliveries beyond the first: a lost answer, an ack torn by a cut (harmless: the cloud dedupes).
    let resent = 0;
    for (const n of this.deliveries.values()) resent += n - 1;
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
      uplinkSends: this.uplinkSends,
    };
  }
}

/** The identity a world's cloud issued: apiKey -> (generation, environment). */
interface IssuedKey {
  gen: number;
  env: string;
}

/** Which (environment, apiKey) pairs the cloud issued, and what the store may hold. */
export class IdentityLedger {
  private readonly issued = new Map<string, IssuedKey>();
  /** Generation of the cred record last seen in the KV store (0: none). */
  private lastCredGen = 0;
  private readonly credGenOfKey = new Map<string, number>();
  identityChecks = 0;

  constructor(private readonly findings: Findings) {}

  private violation(what: string, detail: string) { this.findings.violation(what, detail); }

  /** The cloud issued this apiKey as generation `gen`, told with environment `env`. */
  issue(apiKey: string, gen: number, env: string): void { this.issued.set(apiKey, { gen, env }); }

  /** A request outside a reset: its environment and key must be one generation's pair. */
  checkRequest(path: string, env: string, key: string): void {
    const issued = this.issued.get(key);
    if (!issued) this.violation('identity', `${path.slice(path.lastIndexOf('/'))} with an apiKey the cloud never issued`);
    else if (issued.env !== env) this.violation('identity', `request mixes the apiKey of generation ${issued.gen} with environment ${env} (paired with ${issued.env})`);
  }

  /** The `cred` record in the KV store is absent or one whole (environment, apiKey) pair the cloud issued. */
  checkStore(kv: KvStore, when: string): void {
    this.identityChecks++;
    const v = kv.get('cred');
    if (v === undefined) {
      if (this.lastCredGen !== 0) this.violation('identity', `${when}: the cred record (generation ${this.lastCredGen}) disappeared`);
      return;
    }
    const c = decodeCred(v);
    if (c === undefined) { this.violation('identity', `${when}: cred record undecodable`); return; }
    const issued = this.issued.get(c.apiKey);
    if (!issued) { this.violation('identity', `${when}: cred holds an apiKey the cloud never issued`); return; }
    if (issued.env !== c.environment) {
      this.violation('identity', `${when}: cred pairs the apiKey of generation ${issued.gen} with environment ${c.environment} (issued with ${issued.env})`);
    }
    const seen = this.credGenOfKey.get(c.apiKey);
    if (seen !== undefined && seen !== c.generation) this.violation('identity', `${when}: apiKey stored as generation ${c.generation}, earlier as ${seen}`);
    if (seen === undefined) {
      if (c.generation <= this.lastCredGen) this.violation('identity', `${when}: cred generation ${c.generation} after ${this.lastCredGen}`);
      this.credGenOfKey.set(c.apiKey, c.generation);
    }
    this.lastCredGen = Math.max(this.lastCredGen, c.generation);
  }
}
