// One simulated tracker: the release module instantiated against a HAL (KV store, NOR flash,
// HTTP transport, GNSS, battery), the ABI of assembly/ABI.md implemented in JS, and trap
// recovery as a board does it (tear down, new instance, agent_start with AFTER_TRAP).
// The device does not own time: a scheduler (scheduler.ts) tells it `now` and delivers events.
import type { KvStore } from './hal/kv.ts';
import type { HttpTransport, HttpResult } from './hal/http.ts';
import type { Gnss, GnssAnswer } from './hal/gnss.ts';
import type { Rng } from './hal/random.ts';
import type { EnergyMeter } from './hal/energy.ts';
import { flashImports, type NorFlash } from './hal/flash.ts';
import { expandLog, loadLogDictionary, type LogDictionary } from './log-dictionary.ts';

/** The raw flash of the uplink-log partition (the simulator's NOR flash). */
export type RawFlash = NorFlash;

import {
  ABI_VERSION, FLAG_DEV, FLAG_AFTER_TRAP, FLAG_FAULT_INJECTION, STAT, START_OK, IMPORT_OK, IMPORT_NOT_FOUND,
  IMPORT_BAD_POINTER, IMPORT_BAD_KEY, IMPORT_BUSY, IMPORT_INVALID, METHOD_GET, METHOD_POST, NET_BROKEN,
  GNSS_FIX, GNSS_TIMED_OUT, RESPONSE_BODY_CUT, KV_KEY_MAX,
} from './abi-constants.ts';

// The ABI's constants (assembly/abi.json), for the callers that know them from here.
export { ABI_VERSION, FLAG_DEV, FLAG_AFTER_TRAP, FLAG_FAULT_INJECTION, STAT };

/** agent_stat 6: the session's state codes (assembly/session.ts). */
export const SESSION_STATE = {
  idle: 0, connecting: 1, resetting: 2, sending: 3, backingOff: 4, stopped: 5, offline: 6, resetDue: 7,
} as const;

export interface DeviceHal {
  kv: KvStore;
  flash: NorFlash;
  http: HttpTransport;
  gnss: Gnss;
  rng: Rng;
  battery(): number;
  /** The energy meter of this device, when the simulation charges one (hal/energy.ts). */
  energy?: EnergyMeter;
  /** One log line of the module (level 0 error .. 3 debug). */
  log(level: number, line: string): void;
}

export interface BoardSettings {
  allowHosts?: string[];
  firmware?: string;
  /** Development configuration: a reset may move to http:// (never in production). */
  dev?: boolean;
  faultInjection?: boolean;
}

interface Exports {
  memory: WebAssembly.Memory;
  abi_version(): number;
  rx_buffer(): number;
  rx_capacity(): number;
  agent_start(now: bigint, cfgLen: number, flags: number, sectorSize: number, sectorCount: number, progSize: number): number;
  agent_step(now: bigint): bigint;
  on_http_response(now: bigint, reqId: number, status: number, hdrLen: number, bodyLen: number, flags: number): void;
  on_gnss_fix(now: bigint, reqId: number, status: number, lat: number, lon: number, acc: number, utcS: number): void;
  agent_stat(which: number): bigint;
  debug_trap(): void;
}

/** Whether bytes are a key of the ABI: 1 to KV_KEY_MAX of A-Z a-z 0-9 _ . - (ABI.md "Key-value store"). */
export function isKey(b: Uint8Array): boolean {
  if (b.length < 1 || b.length > KV_KEY_MAX) return false;
  return b.every((c) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e || c === 0x2d);
}

/**
 * The response headers the module reads, as `name: value\n` lines (ABI.md on_http_response), in
 * order, each kept whole while the lines kept so far fit in half the rx buffer: a line that does
 * not fit is dropped, the next may still fit. The body has the rest of the buffer.
 */
export function headerBlock(headers: Record<string, string>, rxCapacity: number): string {
  const room = Math.floor(rxCapacity / 2);
  const enc = new TextEncoder();
  let out = '';
  let used = 0;
  for (const name of ['date', 'retry-after']) {
    const v = headers[name];
    if (v === undefined) continue;
    const line = `${name}: ${v}\n`;
    const n = enc.encode(line).length;
    if (used + n > room) continue;
    out += line;
    used += n;
  }
  return out;
}

/** Thrown when a call into the module traps; the host recovers by restarting the instance. */
export function isTrap(e: unknown): boolean {
  return e instanceof WebAssembly.RuntimeError;
}

export class DeviceHost {
  private ex!: Exports;
  private enc = new TextEncoder();
  private dec = new TextDecoder();
  started = false;
  startStatus = 0;
  traps = 0;
  /** The monotonic time the module asked to be woken at. */
  wakeAt = 0;
  /** An HTTP exchange in progress: its promise and, once settled, its result. */
  http: { reqId: number; promise: Promise<void>; result?: HttpResult; deliverAt?: number } | null = null;
  gnss: { reqId: number; at: number; answer: GnssAnswer } | null = null;
  /** UTC of this device's monotonic zero, so that GNSS fixes carry time. */
  utcAtBootMs = 0;

  constructor(
    private module: WebAssembly.Module,
    readonly hal: DeviceHal,
    readonly board: BoardSettings,
    /** Monotonic-to-simulation offset: device now = sim now - bootAt. */
    public bootAt = 0,
    /** What the module's log ids mean (build/log-dictionary.json by default). */
    private logDictionary: LogDictionary = loadLogDictionary(),
  ) {}

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Powers the device on: new instance, agent_start. Returns the start status. */
  boot(now: number, afterTrap = false): number {
    this.currentNow = now;
    this.http = null;
    this.gnss = null;
    this.instantiate();
    if (this.ex.abi_version() !== ABI_VERSION) throw new Error(`module ABI ${this.ex.abi_version()} is not ${ABI_VERSION}: rebuild it`);
    const cfg = this.enc.encode(this.configText());
    if (cfg.length > this.ex.rx_capacity()) throw new Error('board configuration longer than the receive buffer');
    new Uint8Array(this.ex.memory.buffer, this.ex.rx_buffer(), cfg.length).set(cfg);
    let flags = 0;
    if (this.board.dev) flags |= FLAG_DEV;
    if (afterTrap) flags |= FLAG_AFTER_TRAP;
    if (this.board.faultInjection) flags |= FLAG_FAULT_INJECTION;
    const f = this.hal.flash;
    this.startStatus = this.ex.agent_start(BigInt(now), cfg.length, flags, f.sectorSize, f.sectorCount, f.progSize);
    this.started = this.startStatus === START_OK;
    this.wakeAt = now;
    return this.startStatus;
  }

  private configText(): string {
    const lines = (this.board.allowHosts ?? []).map((h) => `allow_host=${h}`);
    if (this.board.firmware) lines.push(`firmware=${this.board.firmware}`);
    return lines.join('\n');
  }

  private instantiate() {
    const instance = new WebAssembly.Instance(this.module, { host: this.imports() });
    this.ex = instance.exports as unknown as Exports;
  }

  /** Runs fn against the module; a trap restarts the module as a board would. */
  private guarded(now: number, fn: () => void): void {
    this.currentNow = now;
    try {
      fn();
    } catch (e) {
      if (!isTrap(e)) throw e;
      this.traps++;
      this.hal.log(0, `board: module trapped (${(e as Error).message}); restarting it`);
      this.boot(now, true);
    }
  }

  // ---- what the scheduler calls -------------------------------------------------------------

  step(now: number): void {
    if (!this.started) return;
    this.guarded(now, () => {
      const wake = Number(this.ex.agent_step(BigInt(now)));
      this.wakeAt = Math.max(wake, now + 1);
    });
  }

  deliverHttp(now: number): void {
    const h = this.http;
    if (!h || !h.result) return;
    this.http = null;
    const r = h.result;
    this.guarded(now, () => {
      const cap = this.ex.rx_capacity();
      const hdr = this.enc.encode(headerBlock(r.headers, cap));
      const room = cap - hdr.length;
      const cut = r.body.length > room;
      const body = cut ? r.body.subarray(0, room) : r.body;
      const mem = new Uint8Array(this.ex.memory.buffer, this.ex.rx_buffer(), cap);
      mem.set(hdr, 0);
      mem.set(body, hdr.length);
      this.ex.on_http_response(BigInt(now), h.reqId, r.status, hdr.length, body.length, cut ? RESPONSE_BODY_CUT : 0);
    });
    this.step(now);
  }

  deliverGnss(now: number): void {
    const g = this.gnss;
    if (!g) return;
    this.gnss = null;
    const a = g.answer;
    const utcS = a.ok ? (this.utcAtBootMs + now) / 1000 : 0;
    this.guarded(now, () => this.ex.on_gnss_fix(BigInt(now), g.reqId, a.ok ? GNSS_FIX : GNSS_TIMED_OUT, a.lat, a.lon, a.accuracyM, utcS));
    this.step(now);
  }

  /** Fault injection: a trap in the running module (only armed with faultInjection). */
  injectTrap(now: number): void {
    this.guarded(now, () => this.ex.debug_trap());
  }

  stat(which: number): number {
    return this.started ? Number(this.ex.agent_stat(which)) : -1;
  }

  /** Linear memory size in 64 KiB pages. */
  memoryPages(): number {
    return this.ex.memory.buffer.byteLength / 65536;
  }

  // ---- the imports (ABI.md) -----------------------------------------------------------------

  private bytes(ptr: number, len: number): Uint8Array | null {
    const mem = this.ex.memory.buffer;
    if (!Number.isInteger(ptr) || !Number.isInteger(len) || ptr < 0 || len < 0 || ptr + len > mem.byteLength) return null;
    return new Uint8Array(mem, ptr, len);
  }

  private text(ptr: number, len: number): string | null {
    const b = this.bytes(ptr, len);
    return b ? this.dec.decode(b) : null;
  }

  /** A key the module passed: undefined outside memory, null when not a key (ABI.md), else the key. */
  private key(ptr: number, len: number): string | null | undefined {
    const b = this.bytes(ptr, len);
    if (b === null) return undefined;
    if (!isKey(b)) return null;
    return this.dec.decode(b);
  }

  private imports(): Record<string, (...args: never[]) => unknown> {
    const hal = this.hal;
    return {
      log: (level: number, id: number, ptr: number, len: number) => {
        const args = this.bytes(ptr, len);
        if (args !== null) hal.log(level, expandLog(this.logDictionary, id, args));
      },
      random: () => hal.rng.u32() | 0,
      kv_get: (kp: number, kl: number, bp: number, cap: number) => {
        const key = this.key(kp, kl);
        const buf = this.bytes(bp, cap);
        if (key === undefined || buf === null) return IMPORT_BAD_POINTER;
        if (key === null) return IMPORT_BAD_KEY;
        const v = hal.kv.get(key);
        if (v === undefined) return IMPORT_NOT_FOUND;
        buf.set(v.subarray(0, Math.min(cap, v.length)));
        return v.length;
      },
      kv_set: (kp: number, kl: number, vp: number, vl: number) => {
        const key = this.key(kp, kl);
        const val = this.bytes(vp, vl);
        if (key === undefined || val === null) return IMPORT_BAD_POINTER;
        if (key === null) return IMPORT_BAD_KEY;
        return hal.kv.set(key, Uint8Array.from(val));
      },
      ...flashImports(() => this.ex.memory, hal.flash),
      http_request: (reqId: number, method: number, up: number, ul: number, hp: number, hl: number, bp: number, bl: number, timeoutMs: number) => {
        const url = this.text(up, ul);
        const head = this.text(hp, hl);
        const body = this.bytes(bp, bl);
        if (url === null || head === null || body === null) return IMPORT_BAD_POINTER;
        if ((method !== METHOD_GET && method !== METHOD_POST) || ul === 0 || timeoutMs < 0) return IMPORT_INVALID;
        if (this.http) return IMPORT_BUSY; // one at a time: the one in flight goes on (ABI.md)
        const headers: Record<string, string> = {};
        for (const line of head.split('\r\n')) {
          const c = line.indexOf(':');
          if (c > 0) headers[line.slice(0, c).trim()] = line.slice(c + 1).trim();
        }
        const slot: NonNullable<DeviceHost['http']> = { reqId, promise: Promise.resolve() };
        const verb = method === METHOD_POST ? 'POST' as const : 'GET' as const;
        if (hal.http.requestSync) {
          // In process: the answer is known now (the body is read before this call returns, so
          // no copy); it is still delivered after this call returns, never from inside it.
          slot.result = hal.http.requestSync({ method: verb, url, headers, body, timeoutMs });
          this.http = slot;
          return IMPORT_OK;
        }
        const req = { method: verb, url, headers, body: Uint8Array.from(body), timeoutMs };
        slot.promise = hal.http
          .request(req)
          // A transport that throws is a broken connection, never a request left pending forever.
          .then((r) => { slot.result = r; }, () => { slot.result = { status: NET_BROKEN, headers: {}, body: new Uint8Array(0), virtualMs: 0 }; });
        this.http = slot;
        return IMPORT_OK;
      },
      gnss_start: (reqId: number, timeoutMs: number) => {
        if (timeoutMs < 0) return IMPORT_INVALID; // as the C glue (ABI.md gnss_start)
        const now = this.currentNow;
        this.gnss = { reqId, at: now, answer: hal.gnss.acquire(now + this.bootAt, timeoutMs) };
        this.gnss.at = now + this.gnss.answer.afterMs;
        return IMPORT_OK;
      },
      battery_percent: () => hal.battery(),
      motion: () => (hal.gnss.moving(this.currentNow + this.bootAt) ? 1 : 0),
    };
  }

  /** The `now` of the call in progress, for imports that need it (GNSS, motion). */
  currentNow = 0;
}
