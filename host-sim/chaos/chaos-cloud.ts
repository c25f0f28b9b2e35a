// The chaos cloud's answers: for one request, a draw over every class of answer a cloud can give
// (every status, redirects, garbage and lying bodies, wrong counts, lost, slow and hanging
// answers, connect answers with keyExpires and settings tricks, resets that move the device or
// refuse) and, independently, a Date header trick. Pure: a decision is a function of the seeded
// stream it is drawn from and of the request; world.ts acts it out against the fake cloud.
//
// What is never drawn, because no device could tell it from the truth (a lie the contract
// cannot be held to): an acknowledgement-shaped answer (409, or 2xx with counts that add up)
// for uplinks the cloud did not store; a consistent Date offset; Retry-After beyond an hour
// (the contract says honour it, and the 2-hour recovery bound could not then hold).
import type { Rng } from '../hal/random.ts';
import { imfFixdate } from '../cloud/http-util.ts';

export type ChaosEndpoint = 'connect' | 'reset' | 'uplink' | 'backfill' | 'other';

/** What to do with one request. `after`: the cloud handles it first (its state changes). */
export type ChaosAnswer =
  | { kind: 'honest' }
  | { kind: 'status'; status: number; after: boolean; retryAfter?: string }
  | { kind: 'redirect'; status: number; after: boolean; location: string }
  | { kind: 'body'; status: number; after: boolean; body: string; what: string }
  /** Uplinks only: counts that do not add up to what was sent (rendered with the count). */
  | { kind: 'counts'; status: number; after: boolean; lie: number }
  /** Uplinks only, after storing: 409 or the right counts (true: the cloud has them). */
  | { kind: 'ack'; form: '409' | 'counts' }
  | { kind: 'drop'; after: boolean }
  | { kind: 'hang'; after: boolean }
  | { kind: 'slow'; ms: number }
  | { kind: 'connect'; keyExpires?: KeyExpiresTrick; settings?: SettingsTrick; topJunk?: number }
  | { kind: 'reset'; move?: string; rewrite?: ResetRewrite };

export type KeyExpiresTrick =
  | { kind: 'past'; agoMs: number }
  | { kind: 'soon'; inMs: number }
  | { kind: 'repeated' }
  | { kind: 'far'; inMs: number }
  | { kind: 'malformed'; raw: string };

export type SettingsTrick =
  | { kind: 'unknownFields'; count: number; seed: number }
  | { kind: 'nested'; depth: number; width: number }
  | { kind: 'outOfRange'; field: string; raw: string }
  | { kind: 'wrongType'; raw: string }
  | { kind: 'numberForms'; field: string; raw: string }
  | { kind: 'valid'; values: Record<string, number> }
  | { kind: 'notObject'; raw: string };

export type ResetRewrite = 'otherDevice' | 'otherTenant' | 'shortKey' | 'keyWithSpace' | 'noKey' | 'keyNotString' | 'noEnvironment';

export type DateTrick =
  | { kind: 'honest' }
  | { kind: 'absent' }
  | { kind: 'raw'; value: string; what: string }
  /** A far value: the true time plus this offset (different for every answer). */
  | { kind: 'offset'; ms: number; form: 'imf' | 'iso' };

export interface ChaosDecision {
  answer: ChaosAnswer;
  date: DateTrick;
}

export const HONEST: ChaosDecision = { answer: { kind: 'honest' }, date: { kind: 'honest' } };

/** The statuses drawn: the contract's and odd ones, with weights. */
const STATUSES: [number, number][] = [
  [200, 4], [201, 3], [202, 2], [204, 2], [400, 3], [401, 5], [403, 4], [404, 3], [409, 3], [413, 3],
  [429, 5], [500, 5], [503, 5], [502, 2], [504, 2],
  [100, 1], [102, 1], [203, 1], [206, 1], [226, 1], [299, 1], [304, 1], [405, 1], [408, 1], [410, 1],
  [418, 1], [422, 1], [451, 1], [499, 1], [505, 1], [511, 1], [599, 1], [600, 1], [999, 1],
];
const REDIRECTS = [301, 302, 303, 307, 308];
const SETTINGS_FIELDS: [string, number, number][] = [
  ['uplinkIntervalS', 10, 86400], ['movingIntervalS', 5, 86400], ['heartbeatS', 60, 604800],
  ['backfillBatchSize', 1, 500], ['gnssTimeoutS', 5, 600], ['sendIntervalS', 0, 86400],
];
/** In-range settings a chaos connect may set: moderate, so that honesty is not hidden for days. */
const VALID_RANGES: Record<string, [number, number]> = {
  uplinkIntervalS: [60, 900], movingIntervalS: [60, 900], heartbeatS: [600, 7200],
  backfillBatchSize: [1, 500], gnssTimeoutS: [5, 120], sendIntervalS: [0, 900],
};

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(0, items.length - 1)];
}

function weighted<T>(rng: Rng, items: readonly (readonly [T, number])[]): T {
  let total = 0;
  for (const [, w] of items) total += w;
  let r = rng.next() * total;
  for (const [v, w] of items) {
    r -= w;
    if (r < 0) return v;
  }
  return items[items.length - 1][0];
}

/** A random offset between lo and hi ms, spread over orders of magnitude. */
function logUniform(rng: Rng, lo: number, hi: number): number {
  return Math.round(Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo))));
}

export interface DrawContext {
  /** Hosts a reset may move the device to (the board's allow-list). */
  allowHosts: string[];
  factoryHost: string;
  /** Probability that an answer is chaos rather than honest (before honesty). */
  chaosRate: number;
  /** Probability of a Date trick on an answer. */
  dateRate: number;
}

export function drawDecision(rng: Rng, endpoint: ChaosEndpoint, ctx: DrawContext): ChaosDecision {
  const date = rng.chance(ctx.dateRate) ? drawDate(rng) : ({ kind: 'honest' } as const);
  if (!rng.chance(ctx.chaosRate)) return { answer: { kind: 'honest' }, date };
  const answer = drawAnswer(rng, endpoint, ctx);
  // A Retry-After date is read against the answer's Date or the device's clock: with an honest
  // Date both say the same (within the hour drawn), so a lying Date never stretches the wait.
  if (answer.kind === 'status' && answer.retryAfter?.startsWith('@')) return { answer, date: { kind: 'honest' } };
  return { answer, date };
}

type Class = 'status' | 'statusAfter' | 'redirect' | 'garbage' | 'garbageAfter' | 'counts' | 'ack' | 'drop' | 'lost' | 'hang' | 'hangAfter' | 'slow' | 'connect' | 'reset';

function drawAnswer(rng: Rng, endpoint: ChaosEndpoint, ctx: DrawContext): ChaosAnswer {
  const uplinks = endpoint === 'uplink' || endpoint === 'backfill';
  const classes: [Class, number][] = [
    ['status', 20], ['statusAfter', 8], ['redirect', 4], ['garbage', 8], ['garbageAfter', 6],
    ['drop', 6], ['lost', 8], ['hang', 3], ['hangAfter', 3], ['slow', 6],
  ];
  if (uplinks) classes.push(['counts', 10], ['ack', 4]);
  if (endpoint === 'connect') classes.push(['connect', 30]);
  if (endpoint === 'reset') classes.push(['reset', 30]);
  const c = weighted(rng, classes);
  switch (c) {
    case 'status':
    case 'statusAfter': {
      let status = weighted(rng, STATUSES);
      const after = c === 'statusAfter';
      // 409 says "already had it": for uplinks the cloud must then have them (drawn as 'ack').
      if (uplinks && status === 409) return after ? { kind: 'ack', form: '409' } : { kind: 'status', status: 503, after };
      if (endpoint === 'reset' && rng.chance(0.3)) status = rng.chance(0.5) ? 401 : 403;
      const a: ChaosAnswer = { kind: 'status', status, after };
      if ((status === 429 || status === 503 || rng.chance(0.1)) && rng.chance(0.7)) a.retryAfter = drawRetryAfter(rng);
      return a;
    }
    case 'redirect': {
      const host = rng.chance(0.5) ? ctx.factoryHost : pick(rng, ['evil.chaos.test', ...ctx.allowHosts]);
      return { kind: 'redirect', status: pick(rng, REDIRECTS), after: rng.chance(0.5), location: `https://${host}/elsewhere` };
    }
    case 'garbage':
    case 'garbageAfter': {
      const g = drawGarbage(rng);
      let status = rng.chance(0.8) ? pick(rng, [200, 200, 201, 202]) : weighted(rng, STATUSES);
      if (uplinks && status === 409) status = 200; // a 409 acknowledges, whatever its body
      return { kind: 'body', status, after: c === 'garbageAfter', body: g.body, what: g.what };
    }
    case 'counts':
      return { kind: 'counts', status: pick(rng, [200, 200, 201, 202]), after: rng.chance(0.5), lie: rng.int(0, COUNT_LIES - 1) };
    case 'ack':
      return { kind: 'ack', form: rng.chance(0.5) ? '409' : 'counts' };
    case 'drop':
      return { kind: 'drop', after: false };
    case 'lost':
      return { kind: 'drop', after: true };
    case 'hang':
      return { kind: 'hang', after: false };
    case 'hangAfter':
      return { kind: 'hang', after: true };
    case 'slow':
      return { kind: 'slow', ms: logUniform(rng, 200, 60_000) };
    case 'connect':
      return drawConnect(rng);
    case 'reset':
      return drawReset(rng, ctx);
  }
}

function drawRetryAfter(rng: Rng): string {
  switch (rng.int(0, 5)) {
    case 0: return String(rng.int(0, 5));
    case 1: return String(rng.int(5, 3600));
    case 2: return pick(rng, ['', 'soon', '-5', '1e3', '3600.5', '0x10', ' 7 ', 'Wed, 32 Foo 2026 99:99:99 GMT']);
    case 3: return `+${rng.int(1, 600)}`;
    default: return `@${rng.int(-3600, 3600)}`; // an HTTP date relative to now, rendered when answering
  }
}

/** Renders a drawn Retry-After: `@n` is the HTTP date n seconds from now. */
export function renderRetryAfter(v: string, utcNow: number): string {
  if (v.startsWith('@')) return imfFixdate(utcNow + Number(v.slice(1)) * 1000);
  return v;
}

function drawGarbage(rng: Rng): { body: string; what: string } {
  switch (rng.int(0, 13)) {
    case 0: return { body: '{"accepted":1,"dupl', what: 'truncated JSON' };
    case 1: return { body: 'null', what: 'null' };
    case 2: return { body: '<html><body><h1>502 Bad Gateway</h1></body></html>', what: 'HTML' };
    case 3: return { body: '[]', what: 'an array' };
    case 4: return { body: '"ok"', what: 'a string' };
    case 5: return { body: '42', what: 'a number' };
    case 6: return { body: '{"status":"ok","id":7}', what: 'an object of another shape' };
    case 7: return { body: '', what: 'empty' };
    case 8: return { body: '{'.repeat(rng.int(10, 5000)), what: 'deep nesting' };
    case 9: return { body: 'x'.repeat(rng.int(2_000, 70_000)), what: 'huge' };
    case 10: return { body: String.fromCharCode(...Array.from({ length: 64 }, () => rng.int(0, 255))), what: 'binary' };
    case 11: return { body: '{"accepted":1,"duplicates":0', what: 'truncated counts' };
    case 12: return { body: '{"settings":{"type":"tracker"},"apiKey":"', what: 'truncated object' };
    default: return { body: '{"accepted":true,"duplicates":false}', what: 'booleans for counts' };
  }
}

const COUNT_LIES = 9;

/** A counts body that does not acknowledge `sent` uplinks. */
export function renderCountsLie(lie: number, sent: number): string {
  switch (lie) {
    case 0: return JSON.stringify({ accepted: Math.max(0, sent - 1), duplicates: 0 });
    case 1: return JSON.stringify({ accepted: sent, duplicates: 1 });
    case 2: return JSON.stringify({ accepted: 0, duplicates: 0 });
    case 3: return JSON.stringify({ accepted: String(sent), duplicates: 0 });
    case 4: return JSON.stringify({ accepted: -1, duplicates: sent + 1 });
    case 5: return JSON.stringify({ accepted: sent + 0.5, duplicates: -0.5 });
    case 6: return JSON.stringify({ accepted: sent });
    case 7: return JSON.stringify({ duplicates: sent });
    default: return JSON.stringify({ accepted: sent * 1000 + 7, duplicates: 0 });
  }
}

function drawConnect(rng: Rng): ChaosAnswer {
  const a: Extract<ChaosAnswer, { kind: 'connect' }> = { kind: 'connect' };
  if (rng.chance(0.6)) a.keyExpires = drawKeyExpires(rng);
  if (rng.chance(0.6) || !a.keyExpires) a.settings = drawSettings(rng);
  if (rng.chance(0.3)) a.topJunk = rng.int(1, 400);
  return a;
}

function drawKeyExpires(rng: Rng): KeyExpiresTrick {
  switch (rng.int(0, 5)) {
    case 0: return { kind: 'past', agoMs: logUniform(rng, 1_000, 400 * 86_400_000) };
    case 1: return { kind: 'soon', inMs: rng.int(1, 120) * 1000 };
    case 2:
    case 3: return { kind: 'repeated' };
    case 4: return { kind: 'far', inMs: logUniform(rng, 86_400_000, 50 * 365 * 86_400_000) };
    default: return { kind: 'malformed', raw: pick(rng, ['"tomorrow"', '"2026-13-45T25:61:00Z"', '12345', 'null', '{}', '""', '"2026-11-23"', '"9999999-01-01T00:00:00Z"']) };
  }
}

function drawSettings(rng: Rng): SettingsTrick {
  switch (rng.int(0, 8)) {
    case 0:
    case 1: return { kind: 'unknownFields', count: rng.int(33, 600), seed: rng.u32() };
    case 2: return { kind: 'nested', depth: rng.int(2, 60), width: rng.int(1, 20) };
    case 3: {
      const [field, lo, hi] = pick(rng, SETTINGS_FIELDS);
      const raw = pick(rng, [String(lo - 1), String(hi + 1), '-1', '1e9', '100.5', '99999999999999999999', String(hi * 10)]);
      return { kind: 'outOfRange', field, raw };
    }
    case 4: return { kind: 'wrongType', raw: pick(rng, ['"300"', 'true', 'null', '[300]', '{"v":300}']) };
    case 5: {
      const [field] = pick(rng, SETTINGS_FIELDS.filter(([f]) => f !== 'sendIntervalS'));
      const base = VALID_RANGES[field][0];
      return { kind: 'numberForms', field, raw: pick(rng, [`${base}.0`, `${base / 10}e1`, `${base}E0`, `${base * 10}e-1`]) };
    }
    case 6:
    case 7: {
      const values: Record<string, number> = {};
      for (const [f, [lo, hi]] of Object.entries(VALID_RANGES)) if (rng.chance(0.4)) values[f] = rng.int(lo, hi);
      return { kind: 'valid', values };
    }
    default: return { kind: 'notObject', raw: pick(rng, ['null', '[]', '"tracker"', '7', '{"type":"camera"}', '{"type":null}']) };
  }
}

function drawReset(rng: Rng, ctx: DrawContext): ChaosAnswer {
  const r = rng.int(0, 9);
  if (r < 4) {
    // An allowed host, in any letter case (the allow-list is case-insensitive), on any port.
    const host = pick(rng, ctx.allowHosts);
    return { kind: 'reset', move: `https://${rng.chance(0.2) ? host.toUpperCase() : host}${rng.chance(0.1) ? ':8443' : ''}` };
  }
  if (r < 7) {
    const f = ctx.factoryHost;
    return {
      kind: 'reset',
      move: pick(rng, [
        'https://evil.chaos.test', `https://${f}.evil.test`, `http://${f}`, `https://${f}@evil.chaos.test`,
        `https://evil.chaos.test/${f}`, `https://evil.chaos.test:443`, `ftp://${f}`, 'https://chaos.test',
      ]),
    };
  }
  return { kind: 'reset', rewrite: pick(rng, ['otherDevice', 'otherTenant', 'shortKey', 'keyWithSpace', 'noKey', 'keyNotString', 'noEnvironment'] as const) };
}

function drawDate(rng: Rng): DateTrick {
  switch (rng.int(0, 6)) {
    case 0: return { kind: 'absent' };
    case 1: return { kind: 'raw', value: '', what: 'empty' };
    case 2: return { kind: 'raw', value: pick(rng, ['yesterday', 'Fri, 99 Foo 2026 25:00:00 GMT', '0', '-1', 'Thu, 01 Jan 1970 00:00:00', 'Mon, 30 Feb 2026 00:00:00 GMT', '2026-11-23 10:00:00']), what: 'malformed' };
    case 3:
    case 4: return { kind: 'offset', ms: (rng.chance(0.5) ? 1 : -1) * logUniform(rng, 2 * 3_600_000, 80 * 365 * 86_400_000), form: 'imf' };
    case 5: return { kind: 'offset', ms: (rng.chance(0.5) ? 1 : -1) * logUniform(rng, 2 * 3_600_000, 30 * 86_400_000), form: 'iso' };
    // The issue's poisoned clock, at a random hour of 2100: two such answers never agree.
    default: return { kind: 'raw', value: imfFixdate(Date.UTC(2100, 0, 1) + rng.int(0, 365 * 24) * 3_600_000), what: 'year 2100' };
  }
}

/** The Date header value of an answer under a trick; undefined: no Date header at all. */
export function renderDate(trick: DateTrick, utcNow: number, honest: string | undefined): string | undefined {
  switch (trick.kind) {
    case 'honest': return honest;
    case 'absent': return undefined;
    case 'raw': return trick.value;
    case 'offset': {
      const t = Math.min(253_402_300_799_000, Math.max(0, utcNow + trick.ms));
      return trick.form === 'imf' ? imfFixdate(t) : new Date(t).toISOString();
    }
  }
}

/** A short label of a decision, for the trace and reports. */
export function labelOf(d: ChaosDecision): string {
  const a = d.answer;
  let s: string;
  switch (a.kind) {
    case 'honest': s = 'honest'; break;
    case 'status': s = `${a.status}${a.after ? ' after handling' : ''}${a.retryAfter !== undefined ? ` retry-after ${JSON.stringify(a.retryAfter)}` : ''}`; break;
    case 'redirect': s = `${a.status} to ${a.location}${a.after ? ' after handling' : ''}`; break;
    case 'body': s = `${a.status} ${a.what}${a.after ? ' after handling' : ''}`; break;
    case 'counts': s = `${a.status} wrong counts #${a.lie}${a.after ? ' after handling' : ''}`; break;
    case 'ack': s = `stored, ${a.form === '409' ? '409' : 'counts'}`; break;
    case 'drop': s = a.after ? 'answer lost after handling' : 'dropped'; break;
    case 'hang': s = a.after ? 'hang after handling' : 'hang'; break;
    case 'slow': s = `slow ${a.ms} ms`; break;
    case 'connect': s = `connect${a.keyExpires ? ` keyExpires ${a.keyExpires.kind}` : ''}${a.settings ? ` settings ${a.settings.kind}` : ''}${a.topJunk ? ` +${a.topJunk} top fields` : ''}`; break;
    case 'reset': s = a.move ? `reset to ${a.move}` : `reset answer ${a.rewrite}`; break;
  }
  if (d.date.kind !== 'honest') s += `, date ${d.date.kind === 'raw' ? d.date.what : d.date.kind === 'offset' ? `${d.date.ms > 0 ? '+' : ''}${Math.round(d.date.ms / 3_600_000)} h` : 'absent'}`;
  return s;
}

// ---- rewriting handled answers ----

/** A connect answer (the cloud's 200 body) with the tricks applied; raw JSON text. */
export function rewriteConnect(body: string, a: Extract<ChaosAnswer, { kind: 'connect' }>, utcNow: number, repeatedExpiry: number): string {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return body;
  }
  const raws = new Map<string, string>();
  const raw = (text: string) => {
    const token = `@@raw${raws.size}@@`;
    raws.set(`"${token}"`, text);
    return token;
  };
  if (a.keyExpires) {
    const k = a.keyExpires;
    if (k.kind === 'past') parsed.keyExpires = new Date(utcNow - k.agoMs).toISOString();
    else if (k.kind === 'soon') parsed.keyExpires = new Date(utcNow + k.inMs).toISOString();
    else if (k.kind === 'far') parsed.keyExpires = new Date(Math.min(253_402_300_799_000, utcNow + k.inMs)).toISOString();
    else if (k.kind === 'repeated') parsed.keyExpires = new Date(repeatedExpiry).toISOString();
    else parsed.keyExpires = raw(k.raw);
  }
  if (a.settings) {
    const s = a.settings;
    const settings: Record<string, unknown> = typeof parsed.settings === 'object' && parsed.settings !== null ? { ...(parsed.settings as Record<string, unknown>) } : {};
    if (s.kind === 'unknownFields') {
      let h = s.seed >>> 0;
      for (let i = 0; i < s.count; i++) {
        h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
        const v = h % 5;
        settings[`x${i}_${(h >>> 8).toString(36)}`] = v === 0 ? h : v === 1 ? `s${h}` : v === 2 ? null : v === 3 ? [h, 'a'] : { k: h };
      }
    } else if (s.kind === 'nested') {
      let junk: unknown = 1;
      for (let i = 0; i < s.depth; i++) junk = i % 2 === 0 ? { n: junk, w: Array.from({ length: s.width }, (_, j) => j) } : [junk, 'x'];
      settings.junk = junk;
      settings.moreJunk = { deeper: junk };
    } else if (s.kind === 'outOfRange' || s.kind === 'numberForms') {
      settings[s.field] = raw(s.raw);
    } else if (s.kind === 'wrongType') {
      settings.uplinkIntervalS = raw(s.raw);
    } else if (s.kind === 'valid') {
      Object.assign(settings, s.values);
    }
    parsed.settings = s.kind === 'notObject' ? raw(s.raw) : settings;
  }
  if (a.topJunk) for (let i = 0; i < a.topJunk; i++) parsed[`top${i}`] = i % 3 === 0 ? { a: [i, { b: null }] } : i % 3 === 1 ? `v${i}` : i;
  let text = JSON.stringify(parsed);
  for (const [token, value] of raws) text = text.replace(token, value);
  return text;
}

/** A reset answer (the cloud's 200 body) rewritten to be refused by a careful device. */
export function rewriteReset(body: string, how: ResetRewrite): string {
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return body;
  }
  switch (how) {
    case 'otherDevice': p.deviceId = `${String(p.deviceId)}-other`; break;
    case 'otherTenant': p.tenantId = `${String(p.tenantId)}x`; break;
    case 'shortKey': p.apiKey = 'short'; break;
    case 'keyWithSpace': p.apiKey = `${String(p.apiKey).slice(0, 10)} ${String(p.apiKey).slice(10)}`; break;
    case 'noKey': delete p.apiKey; break;
    case 'keyNotString': p.apiKey = 12345678901234567; break;
    case 'noEnvironment': delete p.environment; break;
  }
  return JSON.stringify(p);
}
