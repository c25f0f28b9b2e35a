// The chaos checker's own tests: hand-made traces that must pass, and for every invariant
// traces that must fail it (and nothing else), so that a clean chaos run means something.
// Also the one decoder of flash records and the shrinker's search, on made-up inputs.
import { describe, expect, it } from 'vitest';
import { checkTrace, INVARIANT_NAMES, SecretScan, type Invariant } from '../host-sim/chaos/checker.ts';
import type { DeviceTrace, RecordObs, RequestObs } from '../host-sim/chaos/trace.ts';
import { decodeRecordProgram, encodePayloadV2, encodeRecordProgram, KIND_HEALTH, KIND_POSITION } from '../host-sim/chaos/record-format.ts';
import { bisectLength, ddmin, shrinkRun } from '../host-sim/chaos/shrink.ts';
import { SIM_START_UTC } from '../host-sim/scheduler.ts';

const T0 = SIM_START_UTC;
const MIN = 60_000;
const HOUR = 60 * MIN;
const API_KEY = 'Kq7Zr2Lm9Xp4Tt6Vw8Yb1Nc3Hd5Jf0Gs';
const RESET_SECRET = 'Sa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk';
const EPOCH = 2882400018;
const BASE = `https://cloud.test/api/t/devices/dev-1`;

const iso = (at: number) => new Date(T0 + at).toISOString().replace('.000Z', 'Z');

function emptyTrace(): DeviceTrace {
  return {
    deviceId: 'dev-1', index: 0, utcStart: T0, factoryHost: 'cloud.test', allowHosts: ['b.test'],
    honestAt: HOUR, recordUntil: 10 * HOUR, endAt: 12 * HOUR,
    secrets: [{ kind: 'apiKey', value: API_KEY }, { kind: 'resetSecret', value: RESET_SECRET }],
    records: [], requests: [], logs: [], traps: [], pastWakes: [], kvDamage: [], startFailures: [],
  };
}

function record(epoch: number | null, id: number, at: number, extra: Partial<RecordObs> = {}): RecordObs {
  return { key: `${epoch === null ? '-' : epoch}:${id}`, epoch, id, kind: KIND_POSITION, at, complete: true, payloadHash: 0, ...extra };
}

type Up = Record<string, unknown>;
function position(id: number, at: number, extra: Up = {}): Up {
  return { epoch: EPOCH, id, timestamp: iso(at), topic: 'position', data: { latitude: 47.1, longitude: 8.5, accuracyM: 4.5, battery: 80 }, ...extra };
}

function req(at: number, path: string, body: unknown, status: number, answer: unknown, handled: number | undefined = status, extra: Partial<RequestObs> = {}): RequestObs {
  return {
    at, method: 'POST', url: `${BASE}${path}`, headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
    body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body), status,
    answerBody: typeof answer === 'string' ? answer : JSON.stringify(answer), handledStatus: handled, chaos: 'honest', ...extra,
  };
}

const ack = (n: number) => ({ accepted: n, duplicates: 0 });
const connectAt = (at: number, dropped = 0) => req(at, '/connect', { firmware: '1', epoch: EPOCH, droppedUplinks: dropped }, 200, { settings: { type: 'tracker' } });

/** A clean run: connect, five positions recorded and each delivered with a verified ack. */
function cleanTrace(): DeviceTrace {
  const t = emptyTrace();
  t.requests.push(connectAt(1_000));
  for (let id = 1; id <= 5; id++) {
    const at = id * 5 * MIN;
    t.records.push(record(EPOCH, id, at));
    t.requests.push(req(at + 500, '/uplinks', position(id, at), 201, ack(1)));
  }
  t.logs.push({ at: 1_000, level: 2, line: 'connected to cloud.test' });
  return t;
}

function only(t: DeviceTrace, inv: Invariant): string[] {
  const r = checkTrace(t);
  const others = INVARIANT_NAMES.filter((k) => k !== inv && r.counts[k] > 0);
  expect(others, `only ${inv} broken, but also ${others.join(', ')}: ${r.violations.map((v) => v.detail).join(' | ')}`).toEqual([]);
  expect(r.counts[inv], `${inv} is broken`).toBeGreaterThan(0);
  return r.violations.filter((v) => v.invariant === inv).map((v) => v.detail);
}

describe('chaos checker: a clean trace', () => {
  it('passes with every invariant held, and its figures add up', () => {
    const r = checkTrace(cleanTrace());
    expect(r.violations).toEqual([]);
    expect(r.figures).toMatchObject({ requests: 6, recorded: 5, delivered: 5, dropped: 0, uplinkSends: 5, verifiedAcks: 5, worstRequestsPerHour: 1 });
    // Everything recorded before honesty (1 h) was at the cloud before it: recovery 0.
    expect(r.figures.recoveryMs).toBe(0);
  });

  it('passes a backfill, resends answered 409 and a legacy trace without epochs', () => {
    const t = cleanTrace();
    t.records.push(record(EPOCH, 6, 50 * MIN), record(EPOCH, 7, 55 * MIN));
    t.requests.push(req(56 * MIN, '/uplinks/backfill', { uplinks: [position(6, 50 * MIN), position(7, 55 * MIN)] }, 200, ack(2)));
    t.requests.push(req(57 * MIN, '/uplinks', position(7, 55 * MIN), 409, { status: 409 }, 409));
    expect(checkTrace(t).violations).toEqual([]);

    const legacy = emptyTrace();
    legacy.records.push(record(null, 1, MIN));
    legacy.requests.push(req(2 * MIN, '/uplinks', { id: 1, timestamp: iso(MIN), topic: 'position', data: {} }, 201, ack(1)));
    const r = checkTrace(legacy);
    expect(r.counts.naming).toBe(1); // the only complaint: no epoch
    expect(r.figures.delivered).toBe(1);
  });
});

describe('chaos checker: each invariant fails on its own violation', () => {
  it('naming: an uplink without epoch, or with one that is not a u32, or an id below 1', () => {
    for (const epoch of [undefined, -1, 2 ** 32, 1.5, '7']) {
      const t = cleanTrace();
      const u = position(3, 15 * MIN, { epoch });
      t.requests[3] = req(15 * MIN + 500, '/uplinks', u, 201, ack(1));
      // The uplink is then also not the record the flash holds (other name): only check naming.
      const r = checkTrace(t);
      expect(r.counts.naming, `epoch ${String(epoch)}`).toBe(1);
    }
    const t = cleanTrace();
    t.requests.push(req(30 * MIN, '/uplinks/backfill', { uplinks: [position(0, 20 * MIN)] }, 200, ack(1)));
    expect(checkTrace(t).violations.some((v) => v.invariant === 'naming' && v.detail.includes('id 0'))).toBe(true);
    const bad = cleanTrace();
    bad.requests.push(req(30 * MIN, '/uplinks/backfill', '{"uplinks":[', 400, ''));
    expect(checkTrace(bad).counts.naming).toBe(1);
  });

  it('content: one (epoch, id) with two data or two timestamps, or one never recorded', () => {
    const t = cleanTrace();
    t.requests.push(req(40 * MIN, '/uplinks', position(2, 10 * MIN, { data: { latitude: 1, longitude: 2 } }), 409, '', 409));
    expect(only(t, 'content')[0]).toContain('other topic/data');

    const ts = cleanTrace();
    ts.requests.push(req(40 * MIN, '/uplinks', position(2, 10 * MIN, { timestamp: iso(10 * MIN + 1000) }), 409, '', 409));
    expect(only(ts, 'content')[0]).toContain('timestamp');

    const made = cleanTrace();
    made.requests.push(req(40 * MIN, '/uplinks', position(6, 39 * MIN), 201, ack(1)));
    expect(only(made, 'content')[0]).toContain('never recorded');
  });

  it('content: going once without a timestamp and once with one is no conflict', () => {
    const t = cleanTrace();
    const u = position(2, 10 * MIN);
    delete u.timestamp;
    u.data = { ...(u.data as Up), timeUnknown: true };
    t.requests.splice(2, 0, req(10 * MIN + 100, '/uplinks', u, 503, '', undefined));
    expect(checkTrace(t).violations).toEqual([]);
  });

  it('delivery: a recorded uplink that never reaches the cloud', () => {
    const t = cleanTrace();
    t.records.push(record(EPOCH, 6, 2 * HOUR));
    // Sent, but the cloud refused it (401): not delivered.
    t.requests.push(req(2 * HOUR + 500, '/uplinks', position(6, 2 * HOUR), 401, '', 401));
    expect(only(t, 'delivery')[0]).toContain('never delivered');
  });

  it('delivery: not required for a record cut while programming, or recorded during the drain', () => {
    const t = cleanTrace();
    t.records.push(record(EPOCH, 6, 2 * HOUR, { complete: false }), record(EPOCH, 6, 10 * HOUR + MIN));
    expect(checkTrace(t).violations).toEqual([]);
  });

  it('delivery: a record erased before delivery is dropped, not lost, when the device counted it', () => {
    const t = cleanTrace();
    t.records.push(record(EPOCH, 6, 2 * HOUR, { erasedAt: 3 * HOUR }));
    t.records.push(record(EPOCH, 7, 2 * HOUR + 5 * MIN));
    t.requests.push(connectAt(4 * HOUR, 1));
    t.requests.push(req(4 * HOUR + 500, '/uplinks', position(7, 2 * HOUR + 5 * MIN), 201, ack(1)));
    const r = checkTrace(t);
    expect(r.violations).toEqual([]);
    expect(r.figures.dropped).toBe(1);
  });

  it('dropsCounted: erased before delivery and not counted in droppedUplinks', () => {
    const t = cleanTrace();
    t.records.push(record(EPOCH, 6, 2 * HOUR, { erasedAt: 3 * HOUR }));
    t.records.push(record(EPOCH, 7, 2 * HOUR + 5 * MIN));
    t.requests.push(connectAt(4 * HOUR, 0));
    t.requests.push(req(4 * HOUR + 500, '/uplinks', position(7, 2 * HOUR + 5 * MIN), 201, ack(1)));
    expect(only(t, 'dropsCounted')[0]).toContain('reported 0');
    // Store damage after the drop may restart the counter: then it is not held against it.
    t.kvDamage.push({ at: 3 * HOUR + MIN, key: 'state' });
    expect(checkTrace(t).violations).toEqual([]);
  });

  it('dense: a gap within an epoch at the cloud', () => {
    const t = cleanTrace();
    // Id 6 skipped: the device recorded 7 after 5.
    t.records.push(record(EPOCH, 7, 2 * HOUR));
    t.requests.push(req(2 * HOUR + 500, '/uplinks', position(7, 2 * HOUR), 201, ack(1)));
    expect(only(t, 'dense')[0]).toContain('id 6 is missing');
    // Another epoch starting at 1 is no gap.
    const e2 = cleanTrace();
    e2.records.push(record(5, 1, 2 * HOUR));
    e2.requests.push(req(2 * HOUR + 500, '/uplinks', position(1, 2 * HOUR, { epoch: 5 }), 201, ack(1)));
    expect(checkTrace(e2).violations).toEqual([]);
  });

  it('budget: 61 requests in an hour without a verified acknowledgement', () => {
    const fill = (n: number, spacing: number, status = 503, answer: unknown = '') => {
      const t = cleanTrace();
      for (let i = 0; i < n; i++) t.requests.push(req(2 * HOUR + i * spacing, '/connect', {}, status, answer, status));
      return t;
    };
    // The connect at 1 s is in its own hour; 60 more in one hour is the limit, 61 is over.
    expect(checkTrace(fill(60, MIN - 1)).violations).toEqual([]);
    expect(checkTrace(fill(60, MIN - 1)).figures.worstRequestsPerHour).toBe(60);
    expect(only(fill(61, MIN - 1), 'budget')[0]).toContain('61 requests');
    expect(checkTrace(fill(61, MIN + 1)).violations).toEqual([]);
    expect(only(fill(61, 1000, -3), 'budget')).toHaveLength(1); // broken connections count too
    expect(only(fill(61, 1000, 200, { settings: {} }), 'budget')).toHaveLength(1); // and connects answered 200
  });

  it('budget: only a 409 or counts that add up acknowledge', () => {
    const uplinks = (answer: unknown, status = 200) => {
      const t = cleanTrace();
      for (let i = 0; i < 61; i++) t.requests.push(req(2 * HOUR + i * 30_000, '/uplinks', position(5, 25 * MIN), status, answer, 200));
      return t;
    };
    expect(checkTrace(uplinks('', 409)).counts.budget).toBe(0);
    expect(checkTrace(uplinks({ accepted: 0, duplicates: 1 })).counts.budget).toBe(0);
    expect(checkTrace(uplinks({ accepted: 1, duplicates: 0, extra: 'ignored' })).counts.budget).toBe(0);
    for (const lie of [{ accepted: 2, duplicates: 0 }, { accepted: 1 }, { accepted: '1', duplicates: 0 }, { accepted: -1, duplicates: 2 }, null, [], 'ok', { id: 5 }]) {
      expect(checkTrace(uplinks(lie)).counts.budget, JSON.stringify(lie)).toBe(1);
    }
    expect(checkTrace(uplinks('{"accepted":1,"dupl')).counts.budget).toBe(1);
    expect(checkTrace(uplinks(ack(1), 500)).counts.budget).toBe(1);
  });

  it('secrets: a key in a log line, a body, a URL or another header; the reset secret anywhere but reset', () => {
    const log = cleanTrace();
    log.logs.push({ at: 2 * HOUR, level: 0, line: `reset failed for key ${API_KEY}` });
    expect(only(log, 'secrets')[0]).toContain('log line');
    const piece = cleanTrace(); // twelve consecutive characters are enough
    piece.logs.push({ at: 2 * HOUR, level: 3, line: `debug: ${RESET_SECRET.slice(9, 21)}...` });
    expect(only(piece, 'secrets')[0]).toContain('reset secret');
    const short = cleanTrace(); // eleven are not
    short.logs.push({ at: 2 * HOUR, level: 3, line: `debug: ${RESET_SECRET.slice(9, 20)}...` });
    expect(checkTrace(short).violations).toEqual([]);

    const body = cleanTrace();
    body.requests.push(req(2 * HOUR, '/connect', { firmware: '1', note: RESET_SECRET }, 200, {}));
    expect(only(body, 'secrets')[0]).toContain('body');
    const url = cleanTrace();
    url.requests.push(req(2 * HOUR, `/connect?k=${API_KEY}`, {}, 404, ''));
    expect(only(url, 'secrets')[0]).toContain('URL');
    const header = cleanTrace();
    header.requests.push(req(2 * HOUR, '/connect', {}, 200, {}, 200, { headers: { 'x-api-key': API_KEY, authorization: `Bearer ${API_KEY}` } }));
    expect(only(header, 'secrets')[0]).toContain('header authorization');
    const wrong = cleanTrace();
    wrong.requests.push(req(2 * HOUR, '/connect', {}, 401, '', 401, { headers: { 'x-api-key': RESET_SECRET } }));
    expect(only(wrong, 'secrets')[0]).toContain('reset secret sent as the key of a connect');

    const right = cleanTrace();
    right.requests.push(req(2 * HOUR, '/connections/reset', undefined, 200, { apiKey: 'new' }, 200, { headers: { 'x-api-key': RESET_SECRET } }));
    expect(checkTrace(right).violations).toEqual([]);
  });

  it('hosts: a host off the allow-list, plain http; the allow-list is case-insensitive and holds host names', () => {
    const to = (url: string) => {
      const t = cleanTrace();
      t.requests.push({ ...req(2 * HOUR, '/connect', {}, -2, '', undefined), url });
      return t;
    };
    expect(only(to('https://evil.test/api/t/devices/dev-1/connect'), 'hosts')[0]).toContain('evil.test');
    expect(only(to('http://cloud.test/api/t/devices/dev-1/connect'), 'hosts')[0]).toContain('http:');
    expect(checkTrace(to('https://cloud.test:8443/api/t/devices/dev-1/connect')).violations).toEqual([]); // the host is allowed
    expect(only(to('https://cloud.test@evil.test/api/t/devices/dev-1/connect'), 'hosts')[0]).toContain('evil.test');
    expect(checkTrace(to('https://B.TEST/api/t/devices/dev-1/connect')).violations).toEqual([]);
  });

  it('timestamps: more than 60 s from the true time, or none without timeUnknown', () => {
    const off = (ms: number) => {
      const t = cleanTrace();
      t.requests[2] = req(10 * MIN + 500, '/uplinks', position(2, 10 * MIN, { timestamp: iso(10 * MIN + ms) }), 201, ack(1));
      return t;
    };
    expect(checkTrace(off(59_000)).violations).toEqual([]);
    expect(checkTrace(off(-59_000)).violations).toEqual([]);
    expect(only(off(61_000), 'timestamps')[0]).toContain('61 s');
    expect(only(off(-3 * HOUR), 'timestamps')[0]).toContain('-3.0 h');

    const none = cleanTrace();
    const u = position(2, 10 * MIN);
    delete u.timestamp;
    none.requests[2] = req(10 * MIN + 500, '/uplinks', u, 201, ack(1));
    expect(only(none, 'timestamps')[0]).toContain('no timeUnknown');
    u.data = { ...(u.data as Up), timeUnknown: true };
    none.requests[2] = req(10 * MIN + 500, '/uplinks', u, 201, ack(1));
    expect(checkTrace(none).violations).toEqual([]);

    const both = cleanTrace();
    both.requests[2] = req(10 * MIN + 500, '/uplinks', position(2, 10 * MIN, { data: { timeUnknown: true } }), 201, ack(1));
    expect(only(both, 'timestamps')[0]).toContain('together with timeUnknown');
    const bad = cleanTrace();
    bad.requests[2] = req(10 * MIN + 500, '/uplinks', position(2, 10 * MIN, { timestamp: 'Mon, 23 Nov 2026 00:10:00 GMT' }), 201, ack(1));
    expect(only(bad, 'timestamps')[0]).toContain('not an ISO 8601');
  });

  it('recovery: what was recorded before honesty must be at the cloud within 2 h of it', () => {
    const late = (after: number) => {
      const t = cleanTrace();
      t.records.push(record(EPOCH, 6, 50 * MIN));
      t.requests.push(req(HOUR + after, '/uplinks', position(6, 50 * MIN), 201, ack(1)));
      return t;
    };
    const ok = checkTrace(late(2 * HOUR - 1000));
    expect(ok.violations).toEqual([]);
    expect(ok.figures.recoveryMs).toBe(2 * HOUR - 1000);
    expect(only(late(2 * HOUR + 1000), 'recovery')[0]).toContain('1 uplinks recorded before honesty');
    // Never delivered at all: lost, and no recovery either.
    const never = cleanTrace();
    never.records.push(record(EPOCH, 6, 50 * MIN));
    const r = checkTrace(never);
    expect(r.counts.recovery).toBe(1);
    expect(r.counts.delivery).toBe(1);
    expect(r.figures.recoveryMs).toBe(Infinity);
  });

  it('liveness: a trap not injected, a wake-up in the past, 11 requests in a virtual second, a stopped run', () => {
    const trap = cleanTrace();
    trap.traps.push({ at: HOUR, injected: true, where: 'debug_trap' });
    expect(checkTrace(trap).violations).toEqual([]);
    trap.traps.push({ at: 2 * HOUR, injected: false, where: 'unreachable' });
    expect(only(trap, 'liveness')[0]).toContain('trapped');

    const wake = cleanTrace();
    wake.pastWakes.push({ at: HOUR, now: 5000, wake: 4000 });
    expect(only(wake, 'liveness')[0]).toContain('in the past');

    const burst = (n: number) => {
      const t = cleanTrace();
      for (let i = 0; i < n; i++) t.requests.push(req(2 * HOUR + i * 90, '/connect', {}, 200, {}));
      return t;
    };
    expect(checkTrace(burst(10)).violations).toEqual([]);
    expect(only(burst(11), 'liveness')[0]).toContain('11 requests within one second');
    // A sliding second: 11 requests 95 ms apart straddle two calendar seconds, still a burst.
    const straddle = cleanTrace();
    for (let i = 0; i < 11; i++) straddle.requests.push(req(2 * HOUR + 500 + i * 95, '/connect', {}, 200, {}));
    expect(only(straddle, 'liveness')).toHaveLength(1);
    // 11 requests 100 ms apart are 10 in any second.
    const paced = cleanTrace();
    for (let i = 0; i < 11; i++) paced.requests.push(req(2 * HOUR + i * 100, '/connect', {}, 200, {}));
    expect(checkTrace(paced).violations).toEqual([]);

    const stopped = cleanTrace();
    stopped.records.push(record(EPOCH, 6, 2 * HOUR)); // never delivered: not judged, the run stopped
    stopped.aborted = { at: 3 * HOUR, reason: 'request storm' };
    expect(only(stopped, 'liveness')[0]).toContain('request storm');

    const start = cleanTrace();
    start.startFailures.push({ at: HOUR, status: -1 });
    expect(only(start, 'liveness')[0]).toContain('agent_start returned -1');
  });
});

describe('chaos checker: its tools', () => {
  it('the secret scan finds any 12 consecutive characters of any secret, and nothing else', () => {
    const s = new SecretScan([API_KEY, RESET_SECRET, 'short'], 12);
    for (let i = 0; i + 12 <= API_KEY.length; i++) expect(s.find(`x${API_KEY.slice(i, i + 12)}y`)).toBe(API_KEY);
    expect(s.find(`${API_KEY.slice(0, 11)}|${API_KEY.slice(11, 22)}`)).toBeNull();
    expect(s.find('a short one')).toBe('short');
    expect(s.find('{"id":1,"timestamp":"2026-11-23T00:00:00Z"}')).toBeNull();
  });

  it('the record decoder reads a version-2 record behind fill, a version-1 one, and nothing else', () => {
    const p2 = encodePayloadV2(KIND_HEALTH, 0xdeadbeef, 3, 1234, true, 80);
    const prog = new Uint8Array([0, 0, 0, 0, ...encodeRecordProgram(4711, p2, 4)]);
    expect(decodeRecordProgram(prog, 4)).toMatchObject({ id: 4711, epoch: 0xdeadbeef, kind: KIND_HEALTH, version: 2 });
    const p1 = new Uint8Array(26);
    p1[0] = KIND_POSITION;
    p1[1] = 1; // boot time
    expect(decodeRecordProgram(encodeRecordProgram(9, p1, 4), 4)).toMatchObject({ id: 9, epoch: null, kind: KIND_POSITION, version: 1 });
    const a = encodeRecordProgram(9, new Uint8Array(0), 4);
    a[0] = 0x41; // an acknowledgement
    expect(decodeRecordProgram(a, 4)).toBeNull();
    expect(decodeRecordProgram(new Uint8Array(16).fill(0), 4)).toBeNull();
  });

  it('the shrinker bisects the length and finds a 1-minimal set of events', async () => {
    // Fails from hour 7 on, when events 3 and 11 are both active.
    const len = await bisectLength(48 * HOUR, HOUR, async (l) => l >= 7 * HOUR);
    expect(len).toBe(7 * HOUR);
    const items = Array.from({ length: 40 }, (_, i) => i);
    const d = await ddmin(items, async (s) => s.includes(3) && s.includes(11));
    expect(d.items.sort((a, b) => a - b)).toEqual([3, 11]);
    expect(d.complete).toBe(true);
    const none = await ddmin(items, async () => true);
    expect(none.items).toEqual([]);

    const s = await shrinkRun<number>({
      fullLengthMs: 48 * HOUR,
      fails: async (l, keep) => l >= 5 * HOUR && (keep === null || keep.includes(17)),
      firedAt: async () => items,
    });
    expect(s).toMatchObject({ reproducedAlone: true, lengthMs: 5 * HOUR, events: [17], minimal: true });
  });
});
