// The invariants of a chaos run (issue 10, item 5), judged from outside the module: what the
// cloud's front door received, what the flash recorded, what the board saw. A pure function of
// one device's trace (trace.ts); test/chaos-checker.test.ts feeds it hand-made traces.
//
// Decisions where the brief leaves room, each written once here:
//  - "content": an uplink resent with a timestamp after going once without one (or the other
//    way round) is not a conflict; two different timestamps, topics or data are.
//  - "delivered": the cloud handled a request carrying the uplink and that handling answered
//    2xx or 409 (it took it or had it), whatever the device was told, and whatever the fake
//    cloud's own dedupe made of it.
//  - "dropped": every completed program of the record was erased before the cloud had it. The
//    device must have counted as many drops in the droppedUplinks of its connect bodies (sum of
//    increases; a counter that restarts after store damage is not checked).
//  - "secrets": any 12 consecutive characters of a secret count as the secret.
import type { DeviceTrace, RecordObs, RequestObs } from './trace.ts';

export const INVARIANTS = {
  naming: 'every uplink is named by an unsigned 32-bit epoch and an id >= 1',
  content: 'no (epoch, id) arrives with other content than the first time, and none that was never recorded',
  delivery: 'every recorded uplink is delivered once the cloud is honest, unless dropped by a full log',
  dropsCounted: 'every uplink erased before delivery is counted in droppedUplinks',
  dense: 'ids within an epoch at the cloud are 1..max, except dropped ones',
  budget: 'at most 60 requests in any hour not answered with a verified acknowledgement',
  secrets: 'no key or secret in a log line or a request, other than as X-Api-Key; the reset secret only to reset',
  hosts: 'requests go only to https on the factory host or a host of the allow-list',
  timestamps: 'a timestamp is within 60 s of the true time of recording; without one, timeUnknown: true',
  recovery: 'everything recorded before honesty is delivered within 2 h of it',
  liveness: 'no trap but injected ones, no wake-up in the past, at most 10 requests in any second',
} as const;
export type Invariant = keyof typeof INVARIANTS;
export const INVARIANT_NAMES = Object.keys(INVARIANTS) as Invariant[];

export const LIMITS = {
  budgetPerHour: 60,
  budgetWindowMs: 3_600_000,
  timestampToleranceMs: 60_000,
  recoveryMs: 2 * 3_600_000,
  requestsPerSecond: 10,
  /** Consecutive characters of a secret that count as the secret. */
  secretChars: 12,
  /** Violations kept per device and invariant (all are counted). */
  keepPerInvariant: 20,
};
export type Limits = typeof LIMITS;

/**
 * The longest wait the contract asks after an answer (assembly/backoff.ts, DEVICE-API.md):
 * 404, and a reset secret refused (401/403 on a reset), "stop calling for a long back-off"
 * (up to 24 h plus its 1 h floor); 403 "back off, try again later" (up to 6 h plus 1 min).
 * Decision where the contract is silent: recovery is due within 2 h of honesty, or of the end
 * of such a wait asked before honesty, whichever is later.
 */
export function contractWaitMs(r: RequestObs): number {
  const isReset = r.url.endsWith('/connections/reset');
  if (r.status === 404 || (isReset && (r.status === 401 || r.status === 403))) return 25 * 3_600_000;
  if (r.status === 403) return 6 * 3_600_000 + 60_000;
  return 0;
}

/** When the last wait the contract asked before honesty is over (honesty itself when none is longer). */
export function recoveryFrom(t: DeviceTrace): number {
  let end = t.honestAt;
  for (const r of t.requests) if (r.at < t.honestAt) end = Math.max(end, r.at + contractWaitMs(r));
  return end;
}

export interface Violation {
  invariant: Invariant;
  deviceId: string;
  epoch?: number | null;
  id?: number;
  /** Simulation ms (of the event that broke it). */
  at: number;
  detail: string;
}

export interface DeviceFigures {
  requests: number;
  /** Requests in the worst sliding hour that were not answered with a verified acknowledgement. */
  worstRequestsPerHour: number;
  /** Time from honesty until everything recorded before it was at the cloud; null: nothing to deliver. */
  recoveryMs: number | null;
  recorded: number;
  delivered: number;
  dropped: number;
  uplinkSends: number;
  verifiedAcks: number;
}

export interface CheckResult {
  violations: Violation[];
  counts: Record<Invariant, number>;
  figures: DeviceFigures;
}

type Endpoint = 'connect' | 'reset' | 'uplink' | 'backfill' | 'other';

const PATH = /^\/(?:.*\/)?api\/[^/]+\/devices\/[^/]+\/(connect|connections\/reset|uplinks|uplinks\/backfill)$/;

export function endpointOf(pathname: string): Endpoint {
  const m = PATH.exec(pathname);
  if (!m) return 'other';
  return m[1] === 'connect' ? 'connect' : m[1] === 'connections/reset' ? 'reset' : m[1] === 'uplinks' ? 'uplink' : 'backfill';
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const U32_MAX = 0xffffffff;

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** An uplink entry of a request body, as the checker reads it. */
interface SentUplink {
  key: string;
  epoch: unknown;
  id: unknown;
  timestamp: unknown;
  topic: unknown;
  data: unknown;
}

/** The uplinks a request carries, or null when its body is not an uplink body at all. */
function uplinksOf(endpoint: Endpoint, body: string): Record<string, unknown>[] | null {
  const p = parseJson(body);
  if (!p.ok) return null;
  if (endpoint === 'uplink') return isObject(p.value) ? [p.value] : null;
  if (!isObject(p.value) || !Array.isArray(p.value.uplinks)) return null;
  return p.value.uplinks.map((u) => (isObject(u) ? u : {}));
}

export function keyOf(epoch: unknown, id: unknown): string {
  const e = epoch === undefined ? '-' : validEpoch(epoch) ? String(epoch) : `?${JSON.stringify(epoch)}`;
  return `${e}:${typeof id === 'number' ? id : JSON.stringify(id)}`;
}

function validEpoch(e: unknown): e is number {
  return typeof e === 'number' && Number.isInteger(e) && e >= 0 && e <= U32_MAX;
}

/** A 409, or a 2xx whose body is {"accepted":a,"duplicates":d} with a + d = the uplinks sent. */
export function isVerifiedAck(r: RequestObs, endpoint: Endpoint, sent: number | null): boolean {
  if (endpoint !== 'uplink' && endpoint !== 'backfill') return false;
  if (r.status === 409) return true;
  if (r.status < 200 || r.status > 299 || sent === null) return false;
  const p = parseJson(r.answerBody);
  if (!p.ok || !isObject(p.value)) return false;
  const { accepted, duplicates } = p.value;
  return isCount(accepted) && isCount(duplicates) && accepted + duplicates === sent;
}

function arrived(r: RequestObs): boolean {
  const s = r.handledStatus;
  return s !== undefined && ((s >= 200 && s <= 299) || s === 409);
}

/**
 * Finds any `chars` consecutive characters of any secret in a text, in one pass: a rolling hash
 * of every window of the text against the hashes of every window of the secrets (Rabin-Karp).
 */
export class SecretScan {
  private readonly hashes = new Map<number, { piece: string; secret: string }[]>();
  /** Secrets shorter than the window: matched whole. */
  private readonly short: string[] = [];
  /** One bit per 20-bit slice of a hash: most windows of a text miss here, before the map. */
  private readonly bloom = new Uint8Array(1 << 17);
  private readonly pow: number;
  constructor(secrets: string[], private readonly chars: number) {
    let pow = 1;
    for (let i = 0; i < chars; i++) pow = Math.imul(pow, HASH_BASE);
    this.pow = pow;
    for (const secret of secrets) {
      if (secret.length < chars) { if (secret.length > 0) this.short.push(secret); continue; }
      for (let i = 0; i + chars <= secret.length; i++) this.add(secret.slice(i, i + chars), secret);
    }
  }

  private add(piece: string, secret: string): void {
    const h = hashOf(piece);
    this.bloom[(h >>> 12) >>> 3] |= 1 << ((h >>> 12) & 7);
    const list = this.hashes.get(h);
    if (!list) this.hashes.set(h, [{ piece, secret }]);
    else if (!list.some((x) => x.piece === piece)) list.push({ piece, secret });
  }

  /** The secret a piece of which appears in text, or null. */
  find(text: string): string | null {
    for (const secret of this.short) if (text.includes(secret)) return secret;
    const w = this.chars;
    if (this.hashes.size === 0 || text.length < w) return null;
    let h = 0;
    for (let i = 0; i < text.length; i++) {
      h = (Math.imul(h, HASH_BASE) + text.charCodeAt(i)) | 0;
      if (i >= w) h = (h - Math.imul(text.charCodeAt(i - w), this.pow)) | 0;
      if (i >= w - 1 && (this.bloom[(h >>> 12) >>> 3] & (1 << ((h >>> 12) & 7))) !== 0) {
        const list = this.hashes.get(h);
        if (list) {
          const piece = text.slice(i - w + 1, i + 1);
          for (const x of list) if (x.piece === piece) return x.secret;
        }
      }
    }
    return null;
  }
}

const HASH_BASE = 0x01000193;

function hashOf(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, HASH_BASE) + s.charCodeAt(i)) | 0;
  return h;
}

function fmtTime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return `${d}d${hh}:${mm}:${ss}`;
}
export { fmtTime };

export function checkTrace(t: DeviceTrace, l: Limits = LIMITS): CheckResult {
  const violations: Violation[] = [];
  const counts = Object.fromEntries(INVARIANT_NAMES.map((k) => [k, 0])) as Record<Invariant, number>;
  const kept = new Map<Invariant, number>();
  const once = new Set<string>();
  const add = (v: Omit<Violation, 'deviceId'>, dedupe?: string) => {
    if (dedupe !== undefined) {
      const k = `${v.invariant}|${dedupe}`;
      if (once.has(k)) return;
      once.add(k);
    }
    counts[v.invariant]++;
    const n = kept.get(v.invariant) ?? 0;
    if (n < l.keepPerInvariant) {
      kept.set(v.invariant, n + 1);
      violations.push({ deviceId: t.deviceId, ...v });
    }
  };

  // ---- the flash: what was recorded ----
  const byKey = new Map<string, RecordObs[]>();
  for (const r of t.records) {
    const list = byKey.get(r.key);
    if (list) list.push(r);
    else byKey.set(r.key, [r]);
  }

  // ---- the requests ----
  const allowed = new Set([t.factoryHost, ...t.allowHosts].map((h) => h.toLowerCase()));
  const schemes = t.schemes ?? ['https:'];
  const secretValues = t.secrets.map((s) => s.value);
  const resetSecrets = new Set(t.secrets.filter((s) => s.kind === 'resetSecret').map((s) => s.value));
  const scan = new SecretScan(secretValues, l.secretChars);
  const leak = (text: string) => scan.find(text);
  const first = new Map<string, Seen>();
  const arrivedAt = new Map<string, number>();
  const nonAck: number[] = [];
  let uplinkSends = 0;
  let verifiedAcks = 0;
  const droppedReports: number[] = [];
  const urls = new Map<string, URL | null>();

  // Requests in any sliding second: one violation per burst over the bound.
  let burstFrom = 0;
  let inBurst = false;
  for (let i = 0; i < t.requests.length; i++) {
    while (t.requests[i].at - t.requests[burstFrom].at >= 1000) burstFrom++;
    const n = i - burstFrom + 1;
    if (n > l.requestsPerSecond && !inBurst) {
      inBurst = true;
      add({ invariant: 'liveness', at: t.requests[i].at, detail: `${n} requests within one second from ${fmtTime(t.requests[burstFrom].at)}` });
    } else if (n <= l.requestsPerSecond) inBurst = false;
  }

  for (const r of t.requests) {
    let url = urls.get(r.url);
    if (url === undefined) {
      try { url = new URL(r.url); } catch { url = null; }
      urls.set(r.url, url);
    }
    const endpoint = url ? endpointOf(url.pathname) : 'other';
    if (!url) add({ invariant: 'hosts', at: r.at, detail: `request to an unparseable URL (${r.url.length} bytes)` }, 'badurl');
    else {
      // Host names, as the allow-list holds them: another port on an allowed host is that host.
      const host = url.hostname.toLowerCase();
      if (!allowed.has(host)) add({ invariant: 'hosts', at: r.at, detail: `${endpoint} request to ${host}, which is neither the factory host nor on the allow-list` }, `host ${host}`);
      if (!schemes.includes(url.protocol)) add({ invariant: 'hosts', at: r.at, detail: `${endpoint} request over ${url.protocol} to ${host}` }, `scheme ${url.protocol}${host}`);
    }

    // Secrets: never in the URL, the body or a header other than X-Api-Key; the reset secret
    // only as the key of a reset.
    for (const [where, text] of [['URL', r.url], ['body', r.body]] as const) {
      const s = leak(text);
      if (s !== null) add({ invariant: 'secrets', at: r.at, detail: `${resetSecrets.has(s) ? 'reset secret' : 'apiKey'} in the ${where} of a ${endpoint} request` });
    }
    for (const [name, value] of Object.entries(r.headers)) {
      if (name === 'x-api-key') {
        if (resetSecrets.has(value) && endpoint !== 'reset') add({ invariant: 'secrets', at: r.at, detail: `reset secret sent as the key of a ${endpoint} request` });
        continue;
      }
      const s = leak(value);
      if (s !== null) add({ invariant: 'secrets', at: r.at, detail: `${resetSecrets.has(s) ? 'reset secret' : 'apiKey'} in header ${name} of a ${endpoint} request` });
    }

    if (endpoint === 'connect') {
      const p = parseJson(r.body);
      if (p.ok && isObject(p.value) && isCount(p.value.droppedUplinks)) droppedReports.push(p.value.droppedUplinks);
    }

    let sent: number | null = null;
    if (endpoint === 'uplink' || endpoint === 'backfill') {
      const list = uplinksOf(endpoint, r.body);
      if (list === null) add({ invariant: 'naming', at: r.at, detail: `${endpoint} body is not ${endpoint === 'uplink' ? 'a JSON object' : 'an object with an uplinks array'}` });
      else {
        sent = list.length;
        for (const u of list) {
          uplinkSends++;
          checkSent(u, r);
        }
      }
    }
    if (isVerifiedAck(r, endpoint, sent)) verifiedAcks++;
    else nonAck.push(r.at);
  }

  function checkSent(u: Record<string, unknown>, r: RequestObs): void {
    const s: SentUplink = { key: keyOf(u.epoch, u.id), epoch: u.epoch, id: u.id, timestamp: u.timestamp, topic: u.topic, data: u.data };
    const idOk = typeof s.id === 'number' && Number.isSafeInteger(s.id) && s.id >= 1;
    const idNum = idOk ? (s.id as number) : undefined;
    const epochNum = validEpoch(s.epoch) ? s.epoch : null;
    if (!validEpoch(s.epoch)) {
      add({ invariant: 'naming', epoch: null, id: idNum, at: r.at, detail: s.epoch === undefined ? 'uplink without epoch' : `epoch ${JSON.stringify(s.epoch)} is not an unsigned 32-bit integer` }, `epoch ${s.key}`);
    }
    if (!idOk) add({ invariant: 'naming', epoch: epochNum, at: r.at, detail: `id ${JSON.stringify(s.id)} is not an integer >= 1` }, `id ${s.key}`);

    // Content: the first send of a name fixes it. Resends are mostly byte-identical: compared
    // as sent first, and without timeUnknown only when that differs.
    const raw = `${JSON.stringify(s.topic)}|${JSON.stringify(s.data)}`;
    const f = first.get(s.key);
    if (f === undefined) first.set(s.key, { raw, data: s.data, topic: s.topic, ts: s.timestamp, at: r.at, timeChecked: undefined, timeRecord: undefined });
    else {
      if (raw !== f.raw && contentOf(s.topic, s.data) !== contentOf(f.topic, f.data)) {
        const fp = contentOf(s.topic, s.data);
        add({ invariant: 'content', epoch: epochNum, id: idNum, at: r.at, detail: `sent with other topic/data than at ${fmtTime(f.at)}: ${contentOf(f.topic, f.data).slice(0, 80)} / ${fp.slice(0, 80)}` }, `fp ${s.key} ${fp}`);
      } else if (f.ts !== undefined && s.timestamp !== undefined && f.ts !== s.timestamp) {
        add({ invariant: 'content', epoch: epochNum, id: idNum, at: r.at, detail: `sent with timestamp ${String(s.timestamp)}, first sent at ${fmtTime(f.at)} with ${String(f.ts)}` }, `ts ${s.key} ${String(s.timestamp)}`);
      } else if (f.ts === undefined && s.timestamp !== undefined) f.ts = s.timestamp;
    }
    const seen = f ?? first.get(s.key)!;

    const recs = byKey.get(s.key);
    if (!recs) {
      add({ invariant: 'content', epoch: epochNum, id: idNum, at: r.at, detail: 'sent, but the flash never recorded it' }, `unrecorded ${s.key}`);
    }
    if (arrived(r) && !arrivedAt.has(s.key)) arrivedAt.set(s.key, r.at);

    // Time: a timestamp near the true time of recording, or none and timeUnknown.
    const timeUnknown = isObject(s.data) ? s.data.timeUnknown : undefined;
    if (s.timestamp === undefined) {
      if (timeUnknown !== true) add({ invariant: 'timestamps', epoch: epochNum, id: idNum, at: r.at, detail: 'no timestamp and no timeUnknown: true' }, `nots ${s.key}`);
      return;
    }
    if (timeUnknown === true) add({ invariant: 'timestamps', epoch: epochNum, id: idNum, at: r.at, detail: `timestamp ${String(s.timestamp)} together with timeUnknown: true` }, `both ${s.key}`);
    const ms = typeof s.timestamp === 'string' && ISO.test(s.timestamp) ? Date.parse(s.timestamp) : NaN;
    if (!Number.isFinite(ms)) {
      add({ invariant: 'timestamps', epoch: epochNum, id: idNum, at: r.at, detail: `timestamp ${JSON.stringify(s.timestamp)} is not an ISO 8601 date-time` }, `badts ${s.key}`);
      return;
    }
    const rec = recs ? recordAsSent(recs, r.at) : undefined;
    if (!rec) return;
    if (seen.timeChecked === s.timestamp && seen.timeRecord === rec) return; // judged already
    seen.timeChecked = s.timestamp;
    seen.timeRecord = rec;
    const off = ms - (t.utcStart + rec.at);
    if (Math.abs(off) > l.timestampToleranceMs) {
      add({ invariant: 'timestamps', epoch: epochNum, id: idNum, at: r.at, detail: `timestamp ${s.timestamp} is ${fmtOffset(off)} from the true time of recording (${new Date(t.utcStart + rec.at).toISOString()})` }, `off ${s.key} ${String(s.timestamp)}`);
    }
  }

  // ---- delivery, drops, density, recovery ----
  const ended = t.aborted === undefined && t.judgeDelivery !== false;
  let recorded = 0;
  let delivered = 0;
  let dropped = 0;
  let firstDropAt = Infinity;
  const droppedKeys = new Set<string>();
  let recoveryMs: number | null = null;
  let late = 0;
  let worstLate: { key: string; at: number; ms: number } | null = null;
  const recoveryStart = recoveryFrom(t);
  for (const [key, recs] of byKey) {
    const complete = recs.filter((r) => r.complete);
    if (complete.length === 0) continue; // cut while programming: may or may not arrive
    const rec = complete[0];
    recorded++;
    const got = arrivedAt.get(key);
    if (got !== undefined) delivered++;
    const erased = got === undefined && complete.every((r) => r.erasedAt !== undefined);
    if (erased) {
      dropped++;
      droppedKeys.add(key);
      firstDropAt = Math.min(firstDropAt, ...complete.map((r) => r.erasedAt!));
      continue;
    }
    if (ended && got === undefined && rec.at < t.recordUntil) {
      add({ invariant: 'delivery', epoch: rec.epoch, id: rec.id, at: rec.at, detail: `recorded at ${fmtTime(rec.at)}, never delivered (run ended ${fmtTime(t.endAt)})` });
    }
    if (rec.at < t.honestAt) {
      const ms = got === undefined ? Infinity : Math.max(0, got - recoveryStart);
      if (got !== undefined) recoveryMs = Math.max(recoveryMs ?? 0, ms);
      else if (ended) recoveryMs = Infinity;
      if (ms > l.recoveryMs && (got !== undefined || ended)) {
        late++;
        if (!worstLate || ms > worstLate.ms) worstLate = { key, at: rec.at, ms };
      }
    }
  }
  if (recoveryMs === null && ended && [...byKey.values()].some((rs) => rs.some((r) => r.complete && r.at < t.honestAt))) recoveryMs = 0;
  if (late > 0 && worstLate) {
    const rec = byKey.get(worstLate.key)!.find((r) => r.complete)!;
    add({
      invariant: 'recovery', epoch: rec.epoch, id: rec.id, at: t.honestAt,
      detail: `${late} uplinks recorded before honesty at ${fmtTime(t.honestAt)} not delivered within ${fmtOffset(l.recoveryMs)}${recoveryStart > t.honestAt ? ` of the end of the last wait the contract asked, ${fmtTime(recoveryStart)}` : ''} (worst: recorded at ${fmtTime(rec.at)}, ${Number.isFinite(worstLate.ms) ? `delivered ${fmtOffset(worstLate.ms)} after that` : 'never delivered'})${lastChaosBefore(t)}`,
    });
  }

  if (ended && dropped > 0) {
    let reported = 0;
    let prev = 0;
    for (const v of droppedReports) {
      if (v > prev) reported += v - prev;
      prev = v;
    }
    const damagedAfter = t.kvDamage.some((d) => d.at >= firstDropAt);
    if (reported < dropped && !damagedAfter) {
      add({ invariant: 'dropsCounted', at: firstDropAt, detail: `${dropped} recorded uplinks were erased before delivery, the device reported ${reported} dropped` });
    }
  }

  if (ended) {
    // Per epoch, the ids at the cloud plus the dropped ones must be 1..max.
    const perEpoch = new Map<string, Set<number>>();
    for (const key of [...arrivedAt.keys(), ...droppedKeys]) {
      const c = key.lastIndexOf(':');
      const e = key.slice(0, c);
      const id = Number(key.slice(c + 1));
      if (!Number.isSafeInteger(id) || id < 1) continue;
      let s = perEpoch.get(e);
      if (!s) perEpoch.set(e, (s = new Set()));
      s.add(id);
    }
    for (const [e, set] of perEpoch) {
      if (e.startsWith('?')) continue; // not an epoch: a naming violation already
      const ids = [...set].sort((a, b) => a - b);
      let prev = 0;
      for (const id of ids) {
        if (id > prev + 1) {
          const epoch = e === '-' ? null : Number(e);
          const n = id - prev - 1;
          add({ invariant: 'dense', epoch, id: prev + 1, at: t.endAt, detail: `epoch ${e}: ${n === 1 ? `id ${prev + 1} is` : `ids ${prev + 1}..${id - 1} (${n}) are`} missing at the cloud below id ${ids[ids.length - 1]}, and not dropped` });
        }
        prev = id;
      }
    }
  }

  // ---- the budget: sliding hour over the requests that acknowledged nothing ----
  let worst = 0;
  let over = false;
  for (let i = 0, j = 0; i < nonAck.length; i++) {
    while (nonAck[i] - nonAck[j] >= l.budgetWindowMs) j++;
    const n = i - j + 1;
    if (n > worst) worst = n;
    if (n > l.budgetPerHour && !over) {
      over = true;
      add({ invariant: 'budget', at: nonAck[i], detail: `${n} requests without a verified acknowledgement in the hour from ${fmtTime(nonAck[j])}` });
    } else if (n <= l.budgetPerHour) over = false;
  }

  // ---- secrets in the module's own output ----
  for (const line of t.logs) {
    const s = leak(line.line);
    if (s !== null) add({ invariant: 'secrets', at: line.at, detail: `${resetSecrets.has(s) ? 'reset secret' : 'apiKey'} in a level-${line.level} log line` });
  }

  // ---- liveness ----
  for (const tr of t.traps) if (!tr.injected) add({ invariant: 'liveness', at: tr.at, detail: `the module trapped (${tr.where})` });
  if (t.pastWakes.length > 0) {
    const w = t.pastWakes[0];
    add({ invariant: 'liveness', at: w.at, detail: `agent_step asked to be woken in the past ${t.pastWakes.length} time(s), first at now=${w.now} for ${w.wake}` });
  }
  for (const f of t.startFailures) add({ invariant: 'liveness', at: f.at, detail: `agent_start returned ${f.status}` });
  if (t.aborted) add({ invariant: 'liveness', at: t.aborted.at, detail: `run stopped: ${t.aborted.reason} (delivery, drops, density and recovery not checked)` });


  return {
    violations,
    counts,
    figures: {
      requests: t.requests.length,
      worstRequestsPerHour: worst,
      recoveryMs,
      recorded,
      delivered,
      dropped,
      uplinkSends,
      verifiedAcks,
    },
  };
}

/** What the checker keeps of the first send of a name. */
interface Seen {
  raw: string;
  data: unknown;
  topic: unknown;
  ts: unknown;
  at: number;
  /** The timestamp last judged against the record last used. */
  timeChecked: unknown;
  timeRecord: RecordObs | undefined;
}

/** Topic and data of an uplink, timeUnknown aside (it may change between sends: no conflict). */
function contentOf(topic: unknown, data: unknown): string {
  const d = isObject(data) ? { ...data } : data;
  if (isObject(d)) delete d.timeUnknown;
  return `${JSON.stringify(topic)}|${JSON.stringify(d)}`;
}

/** The record as it was when sent: the latest completed program at or before `at`. */
function recordAsSent(recs: RecordObs[], at: number): RecordObs | undefined {
  let best: RecordObs | undefined;
  for (const r of recs) if (r.at <= at && (r.complete || !best)) best = r;
  best ??= recs[0];
  // A mount makes the last entry solid by programming the very same bytes again (log/README.md,
  // "Repair the head"): the record was taken when that payload was first programmed (that
  // program may have been cut after its bytes landed), not then.
  if (best) for (const r of recs) if (r.payloadHash === best.payloadHash) return r;
  return best;
}

function fmtOffset(ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  const a = Math.abs(ms);
  const sign = ms < 0 ? '-' : '';
  if (a < 120_000) return `${sign}${Math.round(a / 1000)} s`;
  if (a < 7_200_000) return `${sign}${Math.round(a / 60_000)} min`;
  if (a < 172_800_000) return `${sign}${(a / 3_600_000).toFixed(1)} h`;
  return `${sign}${(a / 86_400_000).toFixed(1)} d`;
}
export { fmtOffset };

/** What the cloud last did before honesty (for recovery reports: a long back-off has a cause). */
function lastChaosBefore(t: DeviceTrace): string {
  for (let i = t.requests.length - 1; i >= 0; i--) {
    const r = t.requests[i];
    if (r.at < t.honestAt && r.chaos !== 'honest') return `; last chaos before honesty: ${r.chaos} at ${fmtTime(r.at)}`;
  }
  return '';
}
