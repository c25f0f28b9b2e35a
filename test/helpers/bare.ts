// The release module with the thinnest host possible, for property tests that need speed:
// no scheduler, no sockets. A request the module makes is captured; the test answers it.
import { releaseModule } from './harness.ts';
import { MemoryKv, provision } from '../../host-sim/hal/kv.ts';
import { recordLogLine } from './secrets-log.ts';
import { expandLog, loadLogDictionary } from '../../host-sim/log-dictionary.ts';
import { IMPORT_IO, IMPORT_NOT_FOUND, IMPORT_OK, RESPONSE_BODY_CUT } from '../../host-sim/abi-constants.ts';

export const IDENTITY = {
  tenantId: 't1', deviceId: 'trk-1', environment: 'https://cloud.example.com',
  apiKey: 'ak_0123456789abcdef0123', resetSecret: 'rs_fedcba9876543210fedc',
};

interface Ex {
  memory: WebAssembly.Memory;
  rx_buffer(): number; rx_capacity(): number;
  agent_start(now: bigint, cfgLen: number, flags: number, ss: number, sc: number, ps: number): number;
  agent_step(now: bigint): bigint;
  on_http_response(now: bigint, reqId: number, status: number, hdrLen: number, bodyLen: number, flags: number): void;
  agent_stat(which: number): bigint;
}

export class BareDevice {
  ex: Ex;
  kv: MemoryKv;
  request: { reqId: number; url: string; headers: string; body: string } | null = null;
  errors: string[] = [];
  /** Every log line, as `level text`. */
  lines: string[] = [];
  private dec = new TextDecoder();
  private flash: Uint8Array;

  constructor(kv?: MemoryKv, readonly logLines = false) {
    this.kv = kv ?? new MemoryKv();
    if (!kv) provision(this.kv, IDENTITY);
    this.flash = new Uint8Array(8 * 4096).fill(0xff);
    const mem = () => new Uint8Array(this.ex.memory.buffer);
    const text = (p: number, n: number) => this.dec.decode(mem().subarray(p, p + n));
    let seed = 12345;
    const dictionary = loadLogDictionary();
    const instance = new WebAssembly.Instance(releaseModule(), {
      host: {
        log: (level: number, id: number, p: number, n: number) => {
          const line = expandLog(dictionary, id, mem().subarray(p, p + n));
          this.lines.push(`${level} ${line}`);
          if (level === 0) this.errors.push(line);
          if (this.logLines) recordLogLine(line);
        },
        random: () => (seed = (Math.imul(seed, 1103515245) + 12345) | 0),
        kv_get: (kp: number, kn: number, bp: number, cap: number) => {
          const v = this.kv.get(text(kp, kn));
          if (!v) return IMPORT_NOT_FOUND;
          mem().set(v.subarray(0, Math.min(cap, v.length)), bp);
          return v.length;
        },
        kv_set: (kp: number, kn: number, vp: number, vn: number) => this.kv.set(text(kp, kn), mem().slice(vp, vp + vn)),
        flash_read: (a: number, p: number, n: number) => { mem().set(this.flash.subarray(a, a + n), p); return IMPORT_OK; },
        flash_program: (a: number, p: number, n: number) => { const m = mem(); for (let i = 0; i < n; i++) this.flash[a + i] &= m[p + i]; return IMPORT_OK; },
        flash_erase: (s: number) => { this.flash.fill(0xff, s * 4096, (s + 1) * 4096); return IMPORT_OK; },
        http_request: (reqId: number, _m: number, up: number, un: number, hp: number, hn: number, bp: number, bn: number) => {
          this.request = { reqId, url: text(up, un), headers: text(hp, hn), body: text(bp, bn) };
          return IMPORT_OK;
        },
        gnss_start: () => IMPORT_IO,
        battery_percent: () => 50,
        motion: () => 0,
      },
    });
    this.ex = instance.exports as unknown as Ex;
  }

  start(cfg = 'allow_host=cloud.example.com', flags = 0, geometry = { sectorSize: 4096, sectorCount: 8, progSize: 4 }): number {
    const b = new TextEncoder().encode(cfg);
    new Uint8Array(this.ex.memory.buffer).set(b, this.ex.rx_buffer());
    return this.ex.agent_start(0n, b.length, flags, geometry.sectorSize, geometry.sectorCount, geometry.progSize);
  }

  step(now: number): number { return Number(this.ex.agent_step(BigInt(now))); }

  /** Answers the pending request with status, header lines and body bytes (cut to capacity). */
  answer(now: number, status: number, body: Uint8Array, headerLines = ''): void {
    const r = this.request;
    if (!r) throw new Error('no request pending');
    this.request = null;
    const hdr = new TextEncoder().encode(headerLines);
    const cap = this.ex.rx_capacity();
    const room = cap - hdr.length;
    const cut = body.length > room;
    const b = cut ? body.subarray(0, room) : body;
    const mem = new Uint8Array(this.ex.memory.buffer);
    mem.set(hdr, this.ex.rx_buffer());
    mem.set(b, this.ex.rx_buffer() + hdr.length);
    this.ex.on_http_response(BigInt(now), r.reqId, status, hdr.length, b.length, cut ? RESPONSE_BODY_CUT : 0);
  }

  stat(which: number): number { return Number(this.ex.agent_stat(which)); }
  pages(): number { return this.ex.memory.buffer.byteLength / 65536; }
}
