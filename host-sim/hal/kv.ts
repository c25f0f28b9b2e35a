// The key-value store of a simulated board, modelled on ESP-IDF's NVS:
//  - atomic per key: a set either lands whole or not at all;
//  - every entry carries its own checksum, so a damaged entry reads as missing and every
//    other entry stays readable (NVS drops an entry whose CRC fails; it does not refuse the
//    partition). The agent then falls back to factory values for what it lost.
// FileKv keeps the store in a file, one checksummed line per entry, replaced by rename (a
// power cut of the simulator process leaves the old or the new file) and readable by its
// owner only: it holds the device's keys.
import fs from 'node:fs';
import { IMPORT_IO, IMPORT_OK } from '../abi-constants.ts';

export interface KvStore {
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): number;
  keys(): string[];
}

export class MemoryKv implements KvStore {
  readonly map = new Map<string, Uint8Array>();
  /** Counts sets per key: wear, and what tests assert about persistence. */
  readonly writes = new Map<string, number>();
  get(key: string) { return this.map.get(key); }
  set(key: string, value: Uint8Array) {
    this.map.set(key, Uint8Array.from(value));
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    return IMPORT_OK;
  }
  keys() { return [...this.map.keys()]; }
  setString(key: string, value: string) { return this.set(key, new TextEncoder().encode(value)); }
  getString(key: string) {
    const v = this.map.get(key);
    return v === undefined ? undefined : new TextDecoder().decode(v);
  }
  /**
   * Damage to one entry (a flipped bit in flash): its checksum fails, so from now on it reads
   * as missing, exactly what a board's store reports for it. The other entries are untouched.
   */
  damage(key: string): boolean {
    return this.map.delete(key);
  }
  /** A deep copy: the state a board's KV would hold after a power cut at this instant. */
  clone(): MemoryKv {
    const c = new MemoryKv();
    for (const [k, v] of this.map) c.map.set(k, Uint8Array.from(v));
    return c;
  }
}

const FILE_MAGIC = 'trackagent-kv 1';
const FILE_MODE = 0o600;

/** What reading a store file found: entries kept, and lines dropped as damaged. */
export interface KvFileRead {
  entries: Map<string, Uint8Array>;
  damaged: number;
}

/** One line: `<crc32 of key and value, 8 hex> <key as base64url> <value as base64>`. */
export function encodeKvLine(key: string, value: Uint8Array): string {
  const k = Buffer.from(key, 'utf8');
  return `${crc32(k, value).toString(16).padStart(8, '0')} ${k.toString('base64url')} ${Buffer.from(value).toString('base64')}`;
}

/** Reads a store file's text; a line that does not pass its checksum is dropped and counted. */
export function decodeKvFile(text: string): KvFileRead {
  const entries = new Map<string, Uint8Array>();
  let damaged = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.length === 0 || (i === 0 && line === FILE_MAGIC)) continue;
    const m = /^([0-9a-f]{8}) ([A-Za-z0-9_-]+) ([A-Za-z0-9+/]*={0,2})$/.exec(line);
    if (!m) { damaged++; continue; }
    const k = Buffer.from(m[2], 'base64url');
    const v = Uint8Array.from(Buffer.from(m[3], 'base64'));
    // base64 decoding is lenient, so the checksum also proves the text decoded as written.
    if (crc32(k, v) !== parseInt(m[1], 16) || k.toString('base64url') !== m[2] || Buffer.from(v).toString('base64') !== m[3]) { damaged++; continue; }
    entries.set(k.toString('utf8'), v);
  }
  return { entries, damaged };
}

export class FileKv extends MemoryKv {
  /** Lines dropped as damaged when the file was read. */
  readonly damagedOnLoad: number = 0;

  constructor(readonly path: string) {
    super();
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read the key-value store ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}): check its permissions`);
    }
    const read = decodeKvFile(text);
    for (const [k, v] of read.entries) this.map.set(k, v);
    this.damagedOnLoad = read.damaged;
  }

  override set(key: string, value: Uint8Array) {
    super.set(key, value);
    const lines = [FILE_MAGIC];
    for (const [k, v] of this.map) lines.push(encodeKvLine(k, v));
    const tmp = `${this.path}.tmp`;
    try {
      fs.writeFileSync(tmp, lines.join('\n') + '\n', { mode: FILE_MODE });
      fs.chmodSync(tmp, FILE_MODE); // an older file's mode is not inherited
      fs.renameSync(tmp, this.path);
    } catch {
      return IMPORT_IO; // the module sees an I/O error (ABI.md kv_set), never a crash of the host
    }
    return IMPORT_OK;
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) over the concatenation of the parts. */
export function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (let i = 0; i < p.length; i++) c = CRC_TABLE[(c ^ p[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface Identity {
  tenantId: string;
  deviceId: string;
  environment: string;
  apiKey: string;
  resetSecret: string;
}

/** Writes the factory identity, as a provisioning station would. */
export function provision(kv: KvStore, id: Identity): void {
  const enc = new TextEncoder();
  for (const k of ['tenantId', 'deviceId', 'environment', 'apiKey', 'resetSecret'] as const) kv.set(k, enc.encode(id[k]));
}
