// Property test: random and mutated bodies (and header lines) for every response the agent
// parses, fed through the real release module. Zero traps, and zero wrong values applied:
// what the module does with each body is compared with an independent reference reader.
// FUZZ_N sets the count per response kind (default 100,000, as the issue asks).
import { describe, it, expect } from 'vitest';
import { BareDevice, IDENTITY } from './helpers/bare.ts';
import { readJson, RawNumber, exactInteger, type OracleResult } from './helpers/json-oracle.ts';
import { Rng } from '../host-sim/hal/random.ts';
import { STAT } from '../host-sim/abi-constants.ts';
import { MemoryKv, provision } from '../host-sim/hal/kv.ts';
import { decodeCred, decodeState } from '../host-sim/device-records.ts';

const N = Number(process.env.FUZZ_N ?? 100_000);
const enc = new TextEncoder();

const NAMES = ['uplinkIntervalS', 'movingIntervalS', 'heartbeatS', 'backfillBatchSize', 'gnssTimeoutS', 'sendIntervalS'] as const;
const RANGES: Record<string, [number, number]> = {
  uplinkIntervalS: [10, 86400], movingIntervalS: [5, 86400], heartbeatS: [60, 604800], backfillBatchSize: [1, 500], gnssTimeoutS: [5, 600], sendIntervalS: [0, 86400],
};
const FACTORY = [300, 60, 3600, 100, 90, 600];

// ---- generators ---------------------------------------------------------------------------

function junk(rng: Rng, depth = 0): unknown {
  const k = rng.int(0, depth > 3 ? 4 : 7);
  if (k === 0) return null;
  if (k === 1) return rng.chance(0.5);
  if (k === 2) return rng.int(-1e6, 1e6);
  if (k === 3) return rng.next() * 1e3;
  if (k === 4) return ['', 'x', 'é', '\u0000', '"\\', '\ud83d\ude00'][rng.int(0, 5)];
  if (k === 5) return Array.from({ length: rng.int(0, 3) }, () => junk(rng, depth + 1));
  return Object.fromEntries(Array.from({ length: rng.int(0, 3) }, (_, i) => [`k${i}`, junk(rng, depth + 1)]));
}

/** A number token in one of the many forms a server might write. */
function numberToken(rng: Rng, lo: number, hi: number): string {
  const inRange = rng.int(lo, hi);
  switch (rng.int(0, 11)) {
    case 0: return String(inRange);
    case 1: return `${inRange}.0`;
    case 2: return inRange % 10 === 0 && inRange > 0 ? `${inRange / 10}e1` : String(inRange);
    case 3: return `${inRange}.5`;
    case 4: return String(lo - rng.int(1, 5));
    case 5: return String(hi + rng.int(1, 5));
    case 6: return '99999999999';
    case 7: return ['1e400', '-0', '0', '1E2', '1.5e2', '1000e-1', '100.000', '-5', '1e-400', '0.0001e6'][rng.int(0, 9)];
    case 8: return JSON.stringify(String(inRange));
    case 9: return ['null', 'true', '[]', '{}'][rng.int(0, 3)];
    case 10: return `${inRange}${'0'.repeat(rng.int(0, 3))}e-${rng.int(0, 3)}`;
    default: return String(inRange);
  }
}

function settingsText(rng: Rng): string {
  const members: string[] = [];
  const t = rng.int(0, 9);
  if (t < 8) members.push(`"type":"tracker"`);
  else if (t === 8) members.push(`"type":${['"beacon"', '5', 'null', '"Tracker"'][rng.int(0, 3)]}`);
  for (const name of NAMES) {
    if (!rng.chance(0.6)) continue;
    const key = rng.chance(0.05) ? name.replace('S', '\\u0053') : name; // an escaped but equal name
    members.push(`"${key}":${numberToken(rng, ...RANGES[name])}`);
  }
  for (let i = rng.int(0, 2); i > 0; i--) members.push(`"extra${i}":${JSON.stringify(junk(rng))}`);
  // Contract: unknown fields are ignored however many there are and however deeply they nest.
  if (rng.chance(0.05)) for (let i = rng.int(33, 120); i > 0; i--) members.push(`"u${i}":${i}`);
  if (rng.chance(0.05)) { const n = rng.int(17, 300); members.push(`"deep":${'['.repeat(n)}{"k":${'{"k":'.repeat(3)}1}}}}${']'.repeat(n)}`); }
  shuffle(rng, members);
  return `{${members.join(rng.chance(0.2) ? ' , ' : ',')}}`;
}

function connectBody(rng: Rng): string {
  const members: string[] = [];
  if (rng.chance(0.9)) members.push(`"settings":${rng.chance(0.95) ? settingsText(rng) : JSON.stringify(junk(rng))}`);
  if (rng.chance(0.3)) members.push(`"keyExpires":${rng.chance(0.7) ? '"2026-12-01T00:00:00Z"' : JSON.stringify(junk(rng))}`);
  if (rng.chance(0.2)) members.push(`"other":${JSON.stringify(junk(rng))}`);
  shuffle(rng, members);
  return `${rng.chance(0.1) ? ' \n' : ''}{${members.join(',')}}`;
}

const ENVIRONMENTS = [
  'https://cloud.example.com', 'https://CLOUD.Example.com:8443/base', 'https://cloud.example.com/', 'https://cloud.example.com/a/b',
  'http://cloud.example.com', 'https://evil.example.com', 'https://cloud.example.com@evil.com', 'https://cloud.example.com?x=1',
  'https://cloud.example.com#f', 'https://cloud.example.com:0', 'https://cloud.example.com:99999', '', 'https://',
  'https://cloud.example.com.', 'https://cloud..example.com', `https://cloud.example.com/${'p'.repeat(120)}`, 'https://cloud.example.com/ sp',
];

function resetBody(rng: Rng): string {
  const key = rng.chance(0.8) ? `ak_${rng.u32().toString(36)}${rng.u32().toString(36)}xyzxyz` : ['short', 'a b c d e f g h i j k', 'x'.repeat(129), 'é'.repeat(20)][rng.int(0, 3)];
  const obj: Record<string, unknown> = {
    deviceId: rng.chance(0.9) ? IDENTITY.deviceId : 'other',
    tenantId: rng.chance(0.9) ? IDENTITY.tenantId : junk(rng),
    apiKey: rng.chance(0.95) ? key : junk(rng),
    environment: rng.chance(0.95) ? ENVIRONMENTS[rng.int(0, ENVIRONMENTS.length - 1)] : junk(rng),
  };
  if (rng.chance(0.05)) delete obj[['deviceId', 'tenantId', 'apiKey', 'environment'][rng.int(0, 3)]];
  return JSON.stringify(obj);
}

function shuffle<T>(rng: Rng, a: T[]) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j], a[i]];
  }
}

/** Mutates a body the way a broken network, proxy or server would. */
function mutate(rng: Rng, text: string): Uint8Array {
  let b: Uint8Array = enc.encode(text);
  const times = rng.chance(0.5) ? 0 : rng.int(1, 3);
  for (let i = 0; i < times; i++) {
    const at = rng.int(0, Math.max(0, b.length - 1));
    switch (rng.int(0, 9)) {
      case 0: b = b.subarray(0, at); break; // truncated
      case 1: b = Uint8Array.from(b); if (b.length) b[at] ^= 1 << rng.int(0, 7); break;
      case 2: b = concat(b.subarray(0, at), Uint8Array.of(rng.int(0, 255)), b.subarray(at)); break;
      case 3: b = concat(b.subarray(0, at), b.subarray(at + 1)); break;
      case 4: b = concat(b, enc.encode(['x', '}', ' garbage', '\u0000', ',{}'][rng.int(0, 4)])); break;
      case 5: b = enc.encode(['', 'null', '[]', '<html><body>502 Bad Gateway</body></html>', '"str"', '{', '{"a":}', '\ufeff{}'][rng.int(0, 7)]); break;
      case 6: b = concat(b, new Uint8Array(rng.int(4000, 9000)).fill(0x20)); break; // huge
      case 7: { // duplicate the first member
        const s = new TextDecoder().decode(b);
        const m = /^\{("[^"]*":[^,}]*)/.exec(s);
        if (m) b = enc.encode(`{${m[1]},${s.slice(1)}`);
        break;
      }
      case 8: b = enc.encode('['.repeat(rng.int(10, 40)) + ']'.repeat(rng.int(10, 40))); break;
      default: b = concat(enc.encode('{"a":'.repeat(rng.int(1, 20))), b, enc.encode('}'.repeat(rng.int(1, 20))));
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const HEADER_LINES = [
  '', 'date: Mon, 23 Nov 2026 10:00:00 GMT\n', 'date: garbage\n', 'Date: Mon, 23 Nov 2026 10:00:00 GMT\nretry-after: 120\n',
  'retry-after: 99999999999999999999\n', 'retry-after: -5\n', 'retry-after: Mon, 23 Nov 2026 10:05:00 GMT\n', ':\n::\n', 'date:\n',
  'date: Sun, 31 Feb 2026 99:99:99 GMT\n', 'retry-after: 1e3\n', '\n\n\n', 'x'.repeat(300) + '\n',
];

// ---- oracles --------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RawNumber);
}

function root(r: OracleResult) {
  return r.objects.find((o) => o.depth === 1 && o.value === r.value);
}

/**
 * Where the module may answer either way: an object with a repeated member name (RFC 8259 leaves
 * its meaning open; the module refuses a repeat of a name it reads). Unknown members of any
 * number and any depth are never an excuse (contract: unknown fields are ignored).
 */
function beyondLimits(_r: OracleResult, obj: { duplicate: boolean } | undefined): boolean {
  return !obj || obj.duplicate;
}

type SettingsVerdict = { kind: 'apply'; values: number[]; excusable: boolean } | { kind: 'reject'; excusable: boolean } | { kind: 'keep'; excusable: boolean };

function expectedSettings(body: Uint8Array, cut: boolean): SettingsVerdict {
  if (cut) return { kind: 'reject', excusable: false };
  const r = readJson(body);
  if (!r.ok || !isObject(r.value)) return { kind: 'reject', excusable: false };
  const top = root(r)!;
  const rootExcuse = beyondLimits(r, top);
  if (!('settings' in top.value)) return { kind: 'keep', excusable: rootExcuse };
  const s = top.value.settings;
  if (!isObject(s)) return { kind: 'reject', excusable: rootExcuse };
  const so = r.objects.find((o) => o.value === s)!;
  const excusable = rootExcuse || beyondLimits(r, so);
  const set = s as Record<string, unknown>;
  if (set.type !== 'tracker') return { kind: 'reject', excusable };
  const values = [...FACTORY];
  for (let i = 0; i < NAMES.length; i++) {
    if (!(NAMES[i] in set)) continue;
    const v = set[NAMES[i]];
    if (!(v instanceof RawNumber)) return { kind: 'reject', excusable };
    const x = exactInteger(v.token);
    const [lo, hi] = RANGES[NAMES[i]];
    if (!x.integer || x.value < BigInt(lo) || x.value > BigInt(hi)) return { kind: 'reject', excusable };
    values[i] = Number(x.value);
  }
  return { kind: 'apply', values, excusable };
}

function environmentOk(env: string): boolean {
  if (enc.encode(env).length > 128) return false;
  const m = /^https:\/\/([^/]*)(\/.*)?$/.exec(env);
  if (!m) return false;
  const [host, port] = m[1].toLowerCase().split(/:(.*)/s);
  if (host !== 'cloud.example.com') return false;
  if (port !== undefined && !(/^[0-9]{1,5}$/.test(port) && +port >= 1 && +port <= 65535)) return false;
  const path = m[2] ?? '';
  return /^[\x21-\x7e]*$/.test(path) && !/["<>\\?#`]/.test(path);
}

function expectedReset(body: Uint8Array, cut: boolean): { store: { apiKey: string; environment: string } | null; excusable: boolean } {
  if (cut) return { store: null, excusable: false };
  const r = readJson(body);
  if (!r.ok || !isObject(r.value)) return { store: null, excusable: false };
  const top = root(r)!;
  const excusable = beyondLimits(r, top);
  const v = top.value;
  const ok = v.deviceId === IDENTITY.deviceId && v.tenantId === IDENTITY.tenantId &&
    typeof v.apiKey === 'string' && /^[\x21-\x7e]{16,128}$/.test(v.apiKey) &&
    typeof v.environment === 'string' && environmentOk(v.environment);
  return { store: ok ? { apiKey: v.apiKey as string, environment: v.environment as string } : null, excusable };
}

function storedCred(kv: MemoryKv): { apiKey: string; environment: string } | null {
  const c = decodeCred(kv.get('cred'));
  return c ? { apiKey: c.apiKey, environment: c.environment } : null;
}

function rejectedCount(kv: MemoryKv): number {
  return decodeState(kv.get('state'))?.settingsRejected ?? 0;
}

/** Contract: only a 409, or a 2xx whose body is {"accepted":a,"duplicates":d} with a + d = sent, acknowledges. */
function expectedAck(status: number, body: Uint8Array, cut: boolean, sent: number): { ack: boolean; excusable: boolean } {
  if (status === 409) return { ack: true, excusable: false };
  if (status < 200 || status >= 300 || cut) return { ack: false, excusable: false };
  const r = readJson(body);
  if (!r.ok || !isObject(r.value)) return { ack: false, excusable: false };
  const top = root(r)!;
  const count = (v: unknown) => {
    if (!(v instanceof RawNumber)) return -1;
    const x = exactInteger(v.token);
    return x.integer && x.value >= 0n && x.value <= 1_000_000n ? Number(x.value) : -1;
  };
  const a = count(top.value.accepted);
  const d = count(top.value.duplicates);
  return { ack: a >= 0 && d >= 0 && a + d === sent, excusable: beyondLimits(r, top) };
}

function trapSafe(fn: () => void, traps: { n: number; first?: string }) {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    traps.n++;
    traps.first ??= String(e);
  }
}

/** Lets the worker answer vitest's RPC during a long loop (it times out otherwise). */
const breathe = () => new Promise((resolve) => setImmediate(resolve));

// ---- the properties -------------------------------------------------------------------------

describe(`property: ${N} bodies per response kind through the release module`, () => {
  it('connect answers: no trap, settings applied exactly when the contract says so', async () => {
    const rng = new Rng(0xc0ffee);
    const traps = { n: 0 } as { n: number; first?: string };
    let applied = 0, rejected = 0, kept = 0;
    const wrong: string[] = [];
    for (let i = 0; i < N; i++) {
      if (i % 1000 === 0) await breathe();
      const body = rng.chance(0.6) ? mutate(rng, connectBody(rng)) : enc.encode(connectBody(rng));
      const headers = rng.chance(0.3) ? HEADER_LINES[rng.int(0, HEADER_LINES.length - 1)] : '';
      const d = new BareDevice();
      trapSafe(() => {
        expect(d.start()).toBe(0);
        d.step(0);
        d.answer(10, 200, body, headers);
        d.step(20);
      }, traps);
      const cut = body.length + enc.encode(headers).length > 4096;
      const want = expectedSettings(body, cut);
      const got = NAMES.map((k) => d.stat(STAT[k]));
      const didReject = rejectedCount(d.kv) > 0;
      const desc = () => `${new TextDecoder().decode(body.subarray(0, 200))} -> got ${got} rejected=${didReject}, want ${JSON.stringify(want)}`;
      if (want.kind === 'keep') {
        kept++;
        if ((didReject && !want.excusable) || got.join() !== FACTORY.join()) wrong.push(desc());
      } else if (want.kind === 'reject') {
        rejected++;
        if (!didReject || got.join() !== FACTORY.join()) wrong.push(desc());
      } else {
        applied++;
        const ok = (!didReject && got.join() === want.values.join()) || (want.excusable && didReject && got.join() === FACTORY.join());
        if (!ok) wrong.push(desc());
      }
    }
    console.log(`connect: ${N} bodies, applied ${applied}, rejected ${rejected}, no settings ${kept}, traps ${traps.n}, wrong ${wrong.length}`);
    expect(traps.n, traps.first).toBe(0);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(applied).toBeGreaterThan(N / 40);
    expect(rejected).toBeGreaterThan(N / 20);
  });

  it('reset answers: no trap, credentials stored exactly when the answer is ours and allowed', async () => {
    const rng = new Rng(0xbeef);
    const traps = { n: 0 } as { n: number; first?: string };
    let stored = 0, refused = 0;
    const wrong: string[] = [];
    for (let i = 0; i < N; i++) {
      if (i % 1000 === 0) await breathe();
      const body = rng.chance(0.5) ? mutate(rng, resetBody(rng)) : enc.encode(resetBody(rng));
      const headers = rng.chance(0.2) ? HEADER_LINES[rng.int(0, HEADER_LINES.length - 1)] : '';
      const kv = new MemoryKv();
      provision(kv, IDENTITY);
      const d = new BareDevice(kv);
      trapSafe(() => {
        d.start();
        d.step(0);
        d.answer(10, 401, enc.encode('{}'));
        d.step(20);
        if (!d.request?.url.endsWith('/connections/reset')) throw new Error(`expected a reset, got ${d.request?.url}`);
        d.answer(30, 200, body, headers);
        d.step(40);
      }, traps);
      const cut = body.length + enc.encode(headers).length > 4096;
      const want = expectedReset(body, cut);
      const got = storedCred(kv);
      if (got) stored++; else refused++;
      const ok = JSON.stringify(got) === JSON.stringify(want.store) || (want.excusable && got === null);
      if (!ok) wrong.push(`${new TextDecoder().decode(body.subarray(0, 200))} -> got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
    console.log(`reset: ${N} bodies, stored ${stored}, refused ${refused}, traps ${traps.n}, wrong ${wrong.length}`);
    expect(traps.n, traps.first).toBe(0);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(stored).toBeGreaterThan(N / 20);
    expect(refused).toBeGreaterThan(N / 20);
  });

  it('uplink and backfill answers of any status and body: no trap, acknowledged exactly on success', async () => {
    const rng = new Rng(0xfeed);
    const traps = { n: 0 } as { n: number; first?: string };
    const wrong: string[] = [];
    const statuses = [200, 201, 202, 204, 409, 400, 401, 403, 404, 413, 429, 500, 503, 302, 100, 999, -1, -2, -3, -4, 0];
    let acked = 0;
    for (let i = 0; i < N; i++) {
      if (i % 1000 === 0) await breathe();
      const status = statuses[rng.int(0, statuses.length - 1)];
      // Answers that acknowledge: the right counts (for one uplink or a batch), unknown members added.
      const right = () => { const a = rng.int(0, 1); return rng.chance(0.5) ? `{"accepted":${a},"duplicates":${1 - a},"extra":${JSON.stringify(junk(rng))}}` : `{"accepted":1,"duplicates":0}`; };
      const text = rng.chance(0.3) ? right() : rng.chance(0.5) ? `{"accepted":${rng.int(-5, 500)},"duplicates":${rng.int(0, 5)}}` : JSON.stringify(junk(rng));
      const body = rng.chance(0.5) ? enc.encode(text) : mutate(rng, text);
      const headers = rng.chance(0.3) ? HEADER_LINES[rng.int(0, HEADER_LINES.length - 1)] : '';
      const d = new BareDevice();
      let before = 0;
      trapSafe(() => {
        d.start();
        d.step(0);
        d.answer(10, 200, enc.encode('{}'));
        d.step(20);
        before = d.stat(2);
        if (!d.request?.url.endsWith(before > 1 ? '/uplinks/backfill' : '/uplinks')) throw new Error(`expected uplinks, got ${d.request?.url}`);
        d.answer(30, status, body, headers);
        d.step(40);
      }, traps);
      const cut = body.length + enc.encode(headers).length > 4096;
      const want = expectedAck(status, body, cut, before);
      const after = d.stat(2);
      if (want.ack) acked++;
      const ok = want.ack ? after === 0 : after === before;
      if (!ok && !want.excusable) wrong.push(`status ${status} ${new TextDecoder().decode(body.subarray(0, 120))}: buffered ${before} -> ${after}`);
    }
    console.log(`uplinks: ${N} answers, acknowledged ${acked}, traps ${traps.n}, wrong ${wrong.length}`);
    expect(traps.n, traps.first).toBe(0);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(acked).toBeGreaterThan(N / 50); // the verified answers are exercised too
  });
});
