// The key-value store of a simulated board. Atomic per key, like ESP-IDF's NVS: a set either
// lands whole or not at all. FileKv keeps it in a JSON file replaced by rename, so a power
// cut of the simulator process leaves the old or the new file.
import fs from 'node:fs';

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
    return 0;
  }
  keys() { return [...this.map.keys()]; }
  setString(key: string, value: string) { return this.set(key, new TextEncoder().encode(value)); }
  getString(key: string) {
    const v = this.map.get(key);
    return v === undefined ? undefined : new TextDecoder().decode(v);
  }
  /** A deep copy: the state a board's KV would hold after a power cut at this instant. */
  clone(): MemoryKv {
    const c = new MemoryKv();
    for (const [k, v] of this.map) c.map.set(k, Uint8Array.from(v));
    return c;
  }
}

export class FileKv extends MemoryKv {
  constructor(readonly path: string) {
    super();
    if (fs.existsSync(path)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(fs.readFileSync(path, 'utf8'));
      } catch {
        throw new Error(`key-value store ${path} is not readable JSON: restore it or delete it to start empty`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error(`key-value store ${path} is not a JSON object: restore it or delete it to start empty`);
      }
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new Error(`key-value store ${path}: value of ${k} is not base64 text`);
        this.map.set(k, Uint8Array.from(Buffer.from(v, 'base64')));
      }
    }
  }
  override set(key: string, value: Uint8Array) {
    super.set(key, value);
    const out: Record<string, string> = {};
    for (const [k, v] of this.map) out[k] = Buffer.from(v).toString('base64');
    const tmp = `${this.path}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(out));
    fs.renameSync(tmp, this.path);
    return 0;
  }
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
