// The one decoder of what the module stores, for tests and tools: its key-value records
// (assembly/identity.ts, persist.ts, ids.ts, budget.ts) and the payload of its flash log
// records (assembly/uplink.ts). Each returns undefined for a record of any other shape, as
// the module itself would treat it.

class Reader {
  private p = 0;
  ok = true;
  constructor(private readonly v: Uint8Array) {}
  private need(n: number) { if (this.p + n > this.v.length) this.ok = false; return this.ok; }
  u8() { return this.need(1) ? this.v[this.p++] : 0; }
  u32() {
    if (!this.need(4)) return 0;
    const x = new DataView(this.v.buffer, this.v.byteOffset + this.p, 4).getUint32(0, true);
    this.p += 4;
    return x;
  }
  u64() { const lo = this.u32(); const hi = this.u32(); return hi * 2 ** 32 + lo; }
  i64() {
    if (!this.need(8)) return 0;
    const x = new DataView(this.v.buffer, this.v.byteOffset + this.p, 8).getBigInt64(0, true);
    this.p += 8;
    return Number(x);
  }
  str() {
    const n = this.u8();
    if (!this.need(n)) return '';
    const s = new TextDecoder().decode(this.v.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
  atEnd() { return this.ok && this.p === this.v.length; }
}

/** `cred`: the rotated environment and key (identity.ts). */
export interface StoredCred { generation: number; environment: string; apiKey: string }
export function decodeCred(v: Uint8Array | undefined): StoredCred | undefined {
  if (!v) return undefined;
  const r = new Reader(v);
  const version = r.u8();
  const generation = r.u32();
  const environment = r.str();
  const apiKey = r.str();
  return r.atEnd() && version === 1 ? { generation, environment, apiKey } : undefined;
}

/** `state`: counters and the back-off in progress (persist.ts, version 2). */
export interface StoredState {
  resets: number; dropped: number; traps: number; settingsRejected: number; unverified: number;
  pendingRejection: string; backoffAttempt: number; backoffFailed: number; backoffResume: number;
  backoffPolicy: number; backoffWaitMs: number;
}
export function decodeState(v: Uint8Array | undefined): StoredState | undefined {
  if (!v) return undefined;
  const r = new Reader(v);
  const version = r.u8();
  const s: StoredState = {
    resets: r.u32(), dropped: r.u64(), traps: r.u32(), settingsRejected: r.u32(), unverified: r.u32(),
    pendingRejection: r.str(), backoffAttempt: r.u32(), backoffFailed: r.u8(), backoffResume: r.u8(),
    backoffPolicy: r.u8(), backoffWaitMs: r.i64(),
  };
  return r.atEnd() && version === 2 ? s : undefined;
}

/** `ids`: the id counter (ids.ts). */
export interface StoredIds { epoch: number; ordinal: number; reserved: number; boots: number }
export function decodeIds(v: Uint8Array | undefined): StoredIds | undefined {
  if (!v) return undefined;
  const r = new Reader(v);
  const version = r.u8();
  const s = { epoch: r.u32(), ordinal: r.u32(), reserved: r.u32(), boots: r.u32() };
  return r.atEnd() && version === 1 ? s : undefined;
}

/** `budget`: the request window: ages (ms, whole seconds) of the requests of the last hour that acknowledged nothing, at a monotonic store time (budget.ts). */
export function decodeBudget(v: Uint8Array | undefined): { storedAtMs: number; agesMs: number[] } | undefined {
  if (!v) return undefined;
  const r = new Reader(v);
  const version = r.u8();
  const storedAtMs = r.i64();
  const n = r.u8();
  const agesMs: number[] = [];
  for (let i = 0; i < n; i++) agesMs.push((r.u8() | (r.u8() << 8)) * 1000);
  return r.atEnd() && version === 3 && n <= 60 ? { storedAtMs, agesMs } : undefined;
}

/** The flash log's entries (assembly/log/README.md, "Entry"): a 16-byte header, then the payload. */
export const LOG_ENTRY_HEADER = 16;
export const LOG_ENTRY_RECORD = 0x52; // 'R'
export const LOG_ENTRY_ACK = 0x41; // 'A'
export const LOG_MAX_PAYLOAD = 96;

/** An 'R' entry: the log key's halves (id, the epoch's ordinal) and the record payload. */
export interface StoredLogEntry { id: number; ordinal: number; payload: Uint8Array }

/**
 * The 'R' entry one program of the log writes, or undefined (fill, 'A', a header, junk). A
 * program is optional fill units (0x00), then at most one entry: kind, payload length, 0xFFFF,
 * CRC (not checked), the log key (u64 LE: id in the low half, ordinal in the high), payload.
 */
export function decodeRecordEntry(data: Uint8Array, progSize: number): StoredLogEntry | undefined {
  let p = 0;
  while (p + progSize <= data.length) {
    let zero = true;
    for (let i = 0; i < progSize; i++) if (data[p + i] !== 0) { zero = false; break; }
    if (!zero) break;
    p += progSize;
  }
  if (p + LOG_ENTRY_HEADER > data.length) return undefined;
  const len = data[p + 1];
  if (data[p] !== LOG_ENTRY_RECORD || len > LOG_MAX_PAYLOAD || data[p + 2] !== 0xff || data[p + 3] !== 0xff) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  return { id: dv.getUint32(p + 8, true), ordinal: dv.getUint32(p + 12, true), payload: data.subarray(p + LOG_ENTRY_HEADER, p + LOG_ENTRY_HEADER + len) };
}

/** A flash log record's payload (uplink.ts, format version 2). */
export interface StoredUplinkRecord {
  kind: 'position' | 'health';
  utcKnown: boolean;
  epoch: number;
  boot: number;
  /** UTC seconds when utcKnown, else seconds since that boot's power-on. */
  time: number;
  battery: number;
}
export const RECORD_FORMAT_VERSION = 2;
export function decodeUplinkRecord(p: Uint8Array): StoredUplinkRecord | undefined {
  if (p.length < 15) return undefined;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const kind = p[0];
  const flags = p[1];
  if (flags >> 4 !== RECORD_FORMAT_VERSION || (flags & 0x0e) !== 0) return undefined;
  if (!((kind === 1 && p.length === 26) || (kind === 2 && p.length === 43))) return undefined;
  return {
    kind: kind === 1 ? 'position' : 'health',
    utcKnown: (flags & 1) !== 0,
    epoch: dv.getUint32(2, true),
    boot: dv.getUint32(6, true),
    time: dv.getUint32(10, true),
    battery: dv.getInt8(14),
  };
}

/** The id within its epoch that a log key names (ids.ts: the low 32 bits). */
export function idOfLogKey(key: bigint | number): number {
  return Number(BigInt(key) & 0xffffffffn);
}
