// The chaos cloud over real HTTP on loopback, driving the Linux board (boards/linux: the release
// module under wasm3, a process) in real time for a short slice. The same front door as in
// process (front-door.ts) behind a node:http server listening on several loopback addresses: the
// factory host 127.0.0.1, the allow-list 127.0.0.2 and 127.0.0.3, and a host off the list,
// 127.0.0.9, that records what reaches it and answers nothing. The board runs in segments: each
// ends on time, in a power cut inside a flash operation (--power-cut-after), or killed at a
// random instant; between segments the power stays off a moment and a store entry the module
// wrote may be damaged (a byte of it flipped in the board's key-value file: it reads as
// missing). Traps come from --trap-every; GNSS lies from a replayed track of extreme positions
// (the board refuses NaN and out-of-range tracks), fixes that never come in time, or no
// receiver (--no-gnss).
//
// "Recorded" is read from the board's flash file, polled: every 'R' entry that appears is
// recorded at that instant (within the poll period), one that disappears was erased. Real time
// is too short for the module's back-offs to run out, so delivery, drop counts, density and
// recovery are not judged here (the in-process slice judges them); everything else is.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { NET_BROKEN, NET_REFUSED, NET_TIMEOUT, type HttpRequest } from '../hal/http.ts';
import { Rng, mixSeed } from '../hal/random.ts';
import { checkTrace, type CheckResult } from './checker.ts';
import { ChaosFrontDoor, RunAbort } from './front-door.ts';
import { decodeLogImage } from './record-format.ts';
import { PROFILES, TENANT, planDevice, type ChaosProfile } from './schedule.ts';
import type { DeviceTrace, RecordObs } from './trace.ts';
import type { FiredEvent } from './world.ts';

export const DEFAULT_BOARD = 'build/boards/native/trackagent-linux';
const FACTORY = '127.0.0.1';
const ALLOWED = ['127.0.0.2', '127.0.0.3'];
const FOREIGN = '127.0.0.9';
const SECTOR_SIZE = 4096;
const SECTORS = 16;
const PROG_SIZE = 4;
const POLL_MS = 250;
const FACTORY_KEYS = new Set(['tenantId', 'deviceId', 'environment', 'apiKey', 'resetSecret']);

/** The board's profile: the fastest the settings allow, so that minutes hold many uplinks. */
export const BOARD_PROFILE: ChaosProfile = {
  ...PROFILES.default,
  name: 'board',
  // Fewer chaos answers than in process: minutes of real time must also hold some progress.
  chaosRate: 0.4,
  settings: { type: 'tracker', uplinkIntervalS: 10, movingIntervalS: 10, heartbeatS: 600, backfillBatchSize: 5, gnssTimeoutS: 10, sendIntervalS: 0 },
};

export interface BoardSliceOptions {
  /** The board program (the build is moving from cargo to CMake: its path is a parameter). */
  binary: string;
  wasm?: string;
  seed: number;
  /** Real seconds of faults, then an honest drain of drainSeconds. */
  faultSeconds: number;
  drainSeconds: number;
  /** Called with every line the board prints (progress, debugging). */
  onLine?: (line: string) => void;
}

export interface BoardSliceResult {
  trace: DeviceTrace;
  result: CheckResult;
  fired: FiredEvent[];
  segments: number;
  exitCodes: Record<string, number>;
}

interface Segment {
  seconds: number;
  end: 'time' | 'flashCut' | 'kill';
  cutAfter?: number;
  trapEvery?: number;
  gnss: 'fixed' | 'lying' | 'none' | 'timeout';
  offMs: number;
  damage: boolean;
}

function planSegments(seed: number, faultMs: number, drainMs: number): Segment[] {
  const rng = new Rng(mixSeed(seed, 0x7365676d));
  const out: Segment[] = [];
  let t = 0;
  while (t < faultMs) {
    const seconds = Math.min(rng.int(8, 30), Math.ceil((faultMs - t) / 1000));
    const r = rng.next();
    out.push({
      seconds,
      end: r < 0.35 ? 'flashCut' : r < 0.7 ? 'kill' : 'time',
      // A segment holds a few flash operations and steps (the board sleeps between wake-ups).
      cutAfter: rng.int(1, 6),
      trapEvery: rng.chance(0.4) ? rng.int(2, 8) : undefined,
      gnss: (['fixed', 'fixed', 'lying', 'none', 'timeout'] as const)[rng.int(0, 4)],
      offMs: rng.int(200, 2000),
      damage: rng.chance(0.5),
    });
    t += seconds * 1000;
  }
  out.push({ seconds: Math.ceil(drainMs / 1000), end: 'time', gnss: 'fixed', offMs: 0, damage: false });
  return out;
}

/** The board refuses tracks with NaN or out-of-range values: its lies are the extremes of the range. */
const LYING_TRACK = ['90,180', '-90,-180', '0,0', '89.9999999,-179.9999999', '-0.0000001,0.0000001', '47.3769,8.5417'].join('\n');

export async function runBoardSlice(o: BoardSliceOptions): Promise<BoardSliceResult> {
  if (!fs.existsSync(o.binary)) throw new Error(`no board program at ${o.binary}: run npm run build:board, or pass its path`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackagent-chaos-board-'));
  const flashFile = path.join(dir, 'flash.img');
  const kvFile = `${flashFile}.kv`;
  const trackFile = path.join(dir, 'lying.csv');
  fs.writeFileSync(trackFile, `${LYING_TRACK}\n`);
  const faultMs = o.faultSeconds * 1000;
  const drainMs = o.drainSeconds * 1000;
  const plan = planDevice(o.seed, 0, faultMs, BOARD_PROFILE);
  const start = performance.now();
  const now = () => Math.round(performance.now() - start);
  const utcStart = Date.now();
  const fired: FiredEvent[] = [];
  const fire = (id: string, what: string) => fired.push({ id, at: now(), what });
  const trace: DeviceTrace = {
    deviceId: plan.deviceId, index: 0, utcStart, factoryHost: FACTORY, allowHosts: ALLOWED,
    honestAt: Math.round(faultMs * 0.6), recordUntil: faultMs, endAt: faultMs + drainMs,
    secrets: [], records: [], requests: [], logs: [], traps: [], pastWakes: [], kvDamage: [], startFailures: [],
    schemes: ['http:'], judgeDelivery: false,
  };

  // ---- the cloud, on every loopback address of this world ----
  let port = 0;
  const place = (url: string): string => {
    let u: URL;
    try { u = new URL(url); } catch { return `http://${FOREIGN}:${port}`; }
    if (ALLOWED.includes(u.hostname) || u.hostname === FACTORY) return `http://${u.hostname}:${port}`;
    if (u.username) return `http://${FACTORY}@${FOREIGN}:${port}`;
    return `${u.protocol === 'ftp:' ? 'ftp' : 'http'}://${FOREIGN}:${port}`;
  };
  const door = new ChaosFrontDoor({
    plan: { ...plan, honestAtMs: trace.honestAt }, profile: BOARD_PROFILE, mask: null, now, utcStart, trace, fire,
    factoryEnvironment: '', hosts: [FACTORY, ...ALLOWED], schemes: ['http:'], place, outages: [],
    drawContext: { allowHosts: ALLOWED, factoryHost: FACTORY, chaosRate: BOARD_PROFILE.chaosRate, dateRate: BOARD_PROFILE.dateRate },
  });
  let aborted: string | null = null;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const r: HttpRequest = {
        method: req.method === 'GET' ? 'GET' : 'POST',
        url: `http://${req.socket.localAddress}:${req.socket.localPort}${req.url ?? '/'}`,
        headers, body: new Uint8Array(Buffer.concat(chunks)), timeoutMs: 30_000,
      };
      let answer;
      try {
        answer = door.serve(r);
      } catch (e) {
        aborted ??= e instanceof RunAbort ? e.message : `the chaos cloud failed: ${(e as Error).message}`;
        req.socket.destroy();
        return;
      }
      if (answer.status === NET_TIMEOUT) return; // never answered: the board's own timeout
      const act = () => {
        timers.delete(timer);
        if (answer.status === NET_BROKEN || answer.status === NET_REFUSED) { req.socket.destroy(); return; }
        if (answer.status < 200 || answer.status > 999) {
          // Informational statuses cannot be a final answer through node:http: written raw.
          req.socket.end(`HTTP/1.1 ${answer.status} Odd\r\nconnection: close\r\ncontent-length: ${answer.body.length}\r\n\r\n${Buffer.from(answer.body).toString('latin1')}`);
          return;
        }
        res.sendDate = false;
        res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
        res.end(Buffer.from(answer.body));
      };
      const timer = setTimeout(act, answer.virtualMs);
      timers.add(timer);
    });
  };
  const servers: Server[] = [];
  const listen = (host: string, p: number) => new Promise<number>((resolve, reject) => {
    const s = createServer(handler);
    s.keepAliveTimeout = 60_000;
    s.on('connection', (sock) => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); });
    s.once('error', reject);
    s.listen(p, host, () => resolve((s.address() as AddressInfo).port));
    servers.push(s);
  });
  port = await listen(FACTORY, 0);
  for (const h of [...ALLOWED, FOREIGN]) await listen(h, port);
  // The foreign host answers nothing: what reaches it is recorded and the connection dropped.
  servers[servers.length - 1].removeAllListeners('request');
  servers[servers.length - 1].on('request', (req: IncomingMessage) => {
    trace.requests.push({
      at: now(), method: req.method ?? 'POST', url: `http://${FOREIGN}:${port}${req.url ?? '/'}`,
      headers: Object.fromEntries(Object.entries(req.headers).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
      body: '', status: NET_REFUSED, answerBody: '', chaos: 'host off the allow-list',
    });
    req.socket.destroy();
  });
  const factoryEnv = `http://${FACTORY}:${port}`;
  door.cloud.baseUrl = factoryEnv;

  // ---- the flash, watched ----
  const present = new Map<string, RecordObs>();
  const poll = () => {
    let image: Buffer;
    try { image = fs.readFileSync(flashFile); } catch { return; }
    const seen = new Set<string>();
    for (const e of decodeLogImage(new Uint8Array(image), SECTOR_SIZE, PROG_SIZE)) {
      const key = `${e.epoch === null ? '-' : e.epoch}:${e.id}`;
      const id = `${key}#${e.payloadHash}`;
      seen.add(id);
      if (present.has(id)) continue;
      const r: RecordObs = { key, epoch: e.epoch, id: e.id, kind: e.kind, at: now(), complete: true, payloadHash: e.payloadHash };
      present.set(id, r);
      trace.records.push(r);
    }
    for (const [id, r] of present) if (!seen.has(id)) { r.erasedAt ??= now(); present.delete(id); }
  };
  const poller = setInterval(poll, POLL_MS);

  // ---- the board, segment by segment ----
  const segments = planSegments(o.seed, faultMs, drainMs);
  const exitCodes: Record<string, number> = {};
  let child: ChildProcess | null = null;
  try {
    for (let k = 0; k < segments.length && !aborted; k++) {
      const seg = segments[k];
      const args = [
        '--module', o.wasm ?? 'build/trackagent.wasm',
        '--environment', factoryEnv, '--tenant', TENANT, '--device', plan.deviceId, '--api-key', door.apiKey, '--reset-secret', door.resetSecret,
        '--allow-host', FACTORY, ...ALLOWED.flatMap((h) => ['--allow-host', h]), '--dev', '--firmware', 'chaos',
        '--realtime', '--hours', String(seg.seconds / 3600), '--flash', flashFile, '--flash-sectors', String(SECTORS),
        '--sector-size', String(SECTOR_SIZE), '--json', '--log-level', '2', '--seed', String(mixSeed(o.seed, k)),
        '--http-wait-ms', '31000',
      ];
      if (seg.trapEvery) args.push('--fault-injection', '--trap-every', String(seg.trapEvery));
      if (seg.end === 'flashCut') args.push('--power-cut-after', String(seg.cutAfter));
      if (seg.gnss === 'lying') args.push('--track', trackFile, '--gnss-delay-ms', '1000');
      else if (seg.gnss === 'none') args.push('--no-gnss');
      else if (seg.gnss === 'timeout') args.push('--gnss-delay-ms', '3600000');
      else args.push('--gnss-delay-ms', '1000');
      const { code, out, lines } = await new Promise<{ code: number; out: string; lines: string[] }>((resolve, reject) => {
        const c = spawn(o.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        child = c;
        let out = '';
        let err = '';
        const lines: string[] = [];
        c.stdout!.on('data', (d) => { out += d; });
        c.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          let nl;
          while ((nl = err.indexOf('\n')) >= 0) {
            const line = err.slice(0, nl);
            err = err.slice(nl + 1);
            lines.push(line);
            const m = /^\[\s*[\d.]+\]\s+([EWID])\s(.*)$/.exec(line);
            trace.logs.push({ at: now(), level: m ? 'EWID'.indexOf(m[1]) : 0, line: m ? m[2] : line });
            o.onLine?.(line);
          }
        });
        c.on('error', reject);
        let killer: NodeJS.Timeout | null = null;
        if (seg.end === 'kill') killer = setTimeout(() => { fire(`c${k + 1}`, 'board killed at a random instant'); c.kill('SIGKILL'); }, Math.round(seg.seconds * 1000 * (0.2 + 0.7 * new Rng(mixSeed(o.seed, k, 0x6b)).next())));
        c.on('close', (code, signal) => { if (killer) clearTimeout(killer); resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : -1), out, lines }); });
      });
      child = null;
      exitCodes[code] = (exitCodes[code] ?? 0) + 1;
      if (code === 137 && seg.end === 'flashCut') fire(`f${k + 1}`, `power cut inside flash operation ${seg.cutAfter}`);
      if (code === 3) trace.startFailures.push({ at: now(), status: -1 });
      else if (code !== 0 && code !== 137) { aborted = `the board exited ${code}: ${lines.at(-1) ?? ''}`; break; }
      noteTraps(trace, lines, out, seg, now());
      poll();
      if (k + 1 < segments.length) {
        await new Promise((r) => setTimeout(r, seg.offMs));
        if (seg.damage && k + 1 < segments.length - 1) damageKv(kvFile, mixSeed(o.seed, k, 0x64), trace, now(), fire, k);
      }
    }
  } finally {
    if (child) (child as ChildProcess).kill('SIGKILL');
    clearInterval(poller);
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (aborted) trace.aborted = { at: now(), reason: aborted };
  trace.endAt = Math.max(trace.endAt, now());
  return { trace, result: checkTrace(trace), fired, segments: segments.length, exitCodes };
}

/** Traps of one segment: `trap in agent_step` lines (the glue names the export) are debug_trap's when --trap-every armed them. */
function noteTraps(trace: DeviceTrace, lines: string[], out: string, seg: Segment, at: number): void {
  let injected = 0;
  if (seg.trapEvery) {
    try {
      const j = JSON.parse(out) as { steps?: number };
      injected = Math.floor((j.steps ?? 0) / seg.trapEvery);
    } catch {
      injected = Infinity; // cut short, no summary: every trap in a step may be one of ours
    }
  }
  for (const line of lines) {
    const m = /trap in (\S+?):/.exec(line);
    if (!m) continue;
    const ours = (m[1] === 'agent_step' || m[1] === 'step') && injected > 0;
    if (ours) injected--;
    trace.traps.push({ at, injected: ours, where: line.replace(/^\[[^\]]*\]\s*/, '') });
  }
}

/** The board's store file (boards/linux/linux_store.c): 32-byte slots, slot 0 the file header,
 * then per entry a header slot ("TAKE", key length at 4, value length at 8) and its key and value. */
const KV_SLOT = 32;
const KV_ENTRY_MAGIC = 'TAKE';

/** The entries of a store file image that still parse: key and where its data starts. */
function kvEntries(img: Buffer): { key: string; dataAt: number; len: number }[] {
  const out: { key: string; dataAt: number; len: number }[] = [];
  const slots = Math.floor(img.length / KV_SLOT);
  for (let i = 1; i < slots;) {
    const h = i * KV_SLOT;
    const keyLen = img[h + 4];
    const valueLen = img.readUInt32LE(h + 8);
    const span = 1 + Math.ceil((keyLen + valueLen) / KV_SLOT);
    if (img.toString('latin1', h, h + 4) !== KV_ENTRY_MAGIC || keyLen < 1 || i + span > slots) { i++; continue; }
    out.push({ key: img.toString('latin1', h + KV_SLOT, h + KV_SLOT + keyLen), dataAt: h + KV_SLOT, len: keyLen + valueLen });
    i += span;
  }
  return out;
}

/** Store damage between power-ons: one entry the module wrote gets a flipped byte, so its CRC
 * fails and it reads as missing on the next power-on (the factory identity is spared). */
function damageKv(kvFile: string, seed: number, trace: DeviceTrace, at: number, fire: (id: string, what: string) => void, k: number): void {
  let img: Buffer;
  try { img = fs.readFileSync(kvFile); } catch { return; }
  const candidates = kvEntries(img).filter((e) => !FACTORY_KEYS.has(e.key));
  if (candidates.length === 0) return;
  const rng = new Rng(seed);
  const victim = candidates[rng.int(0, candidates.length - 1)];
  img[victim.dataAt + rng.int(0, victim.len - 1)] ^= 0x5a;
  fs.writeFileSync(`${kvFile}.tmp`, img, { mode: 0o600 });
  fs.renameSync(`${kvFile}.tmp`, kvFile);
  trace.kvDamage.push({ at, key: victim.key });
  fire(`dc${k + 1}`, `store damage: ${victim.key}`);
}
