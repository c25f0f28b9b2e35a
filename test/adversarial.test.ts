// Clouds that lie, refuse or loop, judged from the cloud's side (issue 10): each case that once
// made the agent storm, lose or reuse uplinks, or date them wrongly, through the release module.
// Budget: at most 60 requests in any hour beyond those acknowledging uplinks (contract).
import { describe, it, expect, afterEach } from 'vitest';
import { harness, Harness, T0, MIN, HOUR } from './helpers/harness.ts';
import type { RequestLogEntry } from '../host-sim/cloud/fake-cloud.ts';
import { decodeState } from '../host-sim/device-records.ts';

let h: Harness;
afterEach(async () => { await h?.stop(); });

const DAY = 24 * HOUR;

/** A request that delivered uplinks and was acknowledged as the contract says (no fault replaced the answer). */
function acknowledged(r: RequestLogEntry): boolean {
  return (r.endpoint === 'uplink' || r.endpoint === 'backfill') && r.fault === undefined && ((r.status >= 200 && r.status < 300) || r.status === 409);
}

/** The most requests in any sliding hour that acknowledged nothing, from the cloud's request log. */
function worstUnackedHour(h: Harness): number {
  const t = h.deviceRequests().filter((r) => !acknowledged(r)).map((r) => r.t);
  let worst = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i] - t[j] >= HOUR) j++;
    worst = Math.max(worst, i - j + 1);
  }
  return worst;
}

/** Every (epoch, id) the cloud holds is unique, and each epoch's ids are 1..n with no gap. */
function expectDenseAndUnique(h: Harness): Map<number, number> {
  const byEpoch = new Map<number, number[]>();
  for (const u of h.uplinks()) (byEpoch.get(u.epoch) ?? byEpoch.set(u.epoch, []).get(u.epoch)!).push(u.id);
  const max = new Map<number, number>();
  for (const [epoch, ids] of byEpoch) {
    ids.sort((a, b) => a - b);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids, `epoch ${epoch} has gaps`).toEqual(ids.map((_, i) => i + 1));
    max.set(epoch, ids.length);
  }
  return max;
}

describe('no storm, whatever the cloud answers', () => {
  it('connect 200, every uplink 401, every reset 200: within the budget, virtual time moves, nothing lost', async () => {
    let hostile = true;
    h = await harness({ transport: 'memory' });
    h.faults = (ctx) => (hostile && ctx.endpoint === 'uplink' || hostile && ctx.endpoint === 'backfill' ? { kind: 'status', status: 401 } : null);
    h.boot();
    await h.run(DAY);
    expect(h.deviceRequests().length).toBeLessThan(24 * 61);
    expect(worstUnackedHour(h)).toBeLessThanOrEqual(60);
    expect(h.stat('resets')).toBeLessThan(24 * 30);
    hostile = false;
    await h.run(3 * HOUR);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expectDenseAndUnique(h);
    expect(h.uplinks().length + h.stat('buffered')).toBe(h.stat('lastId'));
  });

  it('a fresh key that connect keeps refusing: the wait grows, the budget holds', async () => {
    h = await harness({ transport: 'memory' });
    h.faults = (ctx) => (ctx.endpoint === 'connect' ? { kind: 'status', status: 401 } : null);
    h.boot();
    await h.run(DAY);
    const reqs = h.deviceRequests();
    expect(worstUnackedHour(h)).toBeLessThanOrEqual(60);
    // In the last hours the device tries about hourly, not every second.
    expect(reqs.filter((r) => r.t > T0 + 20 * HOUR).length).toBeLessThan(4 * 6);
  });

  it('keyExpires already past on every connect: at most one rotation an hour', async () => {
    h = await harness({ transport: 'memory', gnss: { timeoutRate: 0 } });
    h.faults = (ctx) => (ctx.endpoint === 'connect'
      ? { kind: 'body', status: 200, afterHandling: true, body: '{"settings":{"type":"tracker"},"keyExpires":"2020-01-01T00:00:00Z"}' }
      : null);
    h.boot();
    await h.run(12 * HOUR);
    const resets = h.deviceRequests().filter((r) => r.endpoint === 'reset').map((r) => r.t);
    expect(resets.length).toBeGreaterThanOrEqual(8); // it does rotate, hourly
    for (const t of resets) expect(resets.filter((u) => u > t - HOUR && u <= t)).toHaveLength(1);
    expect(worstUnackedHour(h)).toBeLessThanOrEqual(60);
    expect(h.logText()).toMatch(/keyExpires asks for a rotation within the hour of the last: held back an hour/);
    expect(h.stat('buffered')).toBe(0);
  });

  it('every key the cloud issues expires seconds later: the budget holds, uplinks still arrive', async () => {
    h = await harness({ transport: 'memory', gnss: { timeoutRate: 0 } });
    h.cloud.apiKeyTtlMs = 5_000;
    h.boot();
    await h.run(12 * HOUR);
    expect(worstUnackedHour(h)).toBeLessThanOrEqual(60);
    expect(h.deviceRequests().filter((r) => r.endpoint === 'reset').length).toBeLessThan(12 * 31);
    h.cloud.apiKeyTtlMs = undefined;
    await h.run(3 * HOUR);
    expect(h.stat('buffered')).toBe(0);
    expect(h.uplinks().length).toBe(h.stat('lastId'));
  });
});

describe('only a verified acknowledgement drops an uplink', () => {
  it('a backfill answered 409 is acknowledged: nothing dropped, nothing lost', async () => {
    let offline = true;
    h = await harness({ transport: 'memory' });
    h.faults = (ctx) => {
      if (offline && ctx.endpoint !== 'operator') return { kind: 'drop' };
      // The cloud took the batch and says it already had it.
      if (ctx.endpoint === 'backfill') return { kind: 'status', status: 409, afterHandling: true };
      return null;
    };
    h.boot();
    await h.run(3 * HOUR);
    expect(h.stat('buffered')).toBeGreaterThan(20);
    offline = false;
    await h.run(2 * HOUR);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(h.uplinks().length + h.stat('buffered')).toBe(h.stat('lastId'));
  });

  it('2xx answers that are not the acknowledgement (truncated, null, HTML, other shapes, wrong counts) keep the uplinks', async () => {
    const bodies = ['{"accepted":1,"dupl', 'null', '<html>ok</html>', '[1]', '{"id":7}', '{"accepted":0,"duplicates":0}', '{"accepted":5,"duplicates":5}', ''];
    let n = 0;
    let lying = true;
    h = await harness({ transport: 'memory' });
    h.faults = (ctx) => (lying && (ctx.endpoint === 'uplink' || ctx.endpoint === 'backfill')
      ? { kind: 'body', status: [200, 201, 202, 204][n % 4], body: bodies[n++ % bodies.length], afterHandling: n % 2 === 0 }
      : null);
    h.boot();
    await h.run(6 * HOUR);
    expect(n).toBeGreaterThan(20);
    expect(h.stat('unverifiedAnswers')).toBeGreaterThanOrEqual(n - 1);
    expect(h.stat('acked')).toBe(0);
    expect(worstUnackedHour(h)).toBeLessThanOrEqual(60);
    lying = false;
    await h.run(2 * HOUR);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(h.uplinks().length + h.stat('buffered')).toBe(h.stat('lastId'));
    expectDenseAndUnique(h);
  });
});

describe('uplink names: (epoch, id), dense, never reused', () => {
  it('a device whose store is lost starts a new epoch: the cloud keeps both runs', async () => {
    h = await harness({ transport: 'memory' });
    h.boot();
    await h.run(2 * HOUR);
    const first = h.stat('epoch');
    const firstCount = h.uplinks().length;
    expect(firstCount).toBeGreaterThan(5);
    // Re-flashed: key-value store and log gone, factory identity provisioned again.
    const keep = ['tenantId', 'deviceId', 'environment', 'apiKey', 'resetSecret'].map((k) => [k, h.kv.get(k)!] as const);
    h.kv.map.clear();
    for (const [k, v] of keep) h.kv.set(k, v);
    h.flash.image.fill(0xff);
    h.reboot();
    await h.run(2 * HOUR);
    expect(h.stat('epoch')).not.toBe(first);
    const counts = expectDenseAndUnique(h);
    expect(counts.get(first)).toBe(firstCount);
    expect(counts.get(h.stat('epoch'))).toBe(h.stat('lastId'));
    expect(h.cloud.duplicatesOf(h.deviceId)).toBe(0);
  });

  it('reboots and traps skip no id within an epoch', async () => {
    h = await harness({ transport: 'memory', board: { dev: true, faultInjection: true } });
    h.boot();
    for (let i = 0; i < 6; i++) {
      await h.run(37 * MIN);
      if (i % 2 === 0) h.reboot();
      else h.device.injectTrap(h.sched.now);
    }
    await h.run(HOUR);
    const counts = expectDenseAndUnique(h);
    expect(counts.size).toBe(1);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(h.uplinks().length + h.stat('buffered')).toBe(h.stat('lastId'));
  });
});

describe('time that lies', () => {
  it('one answer dated 2100: no uplink is stamped 2100, GNSS time wins', async () => {
    let poisoned = 0;
    h = await harness({ transport: 'memory', gnss: { timeoutRate: 0 } });
    h.faults = (ctx) => (ctx.endpoint === 'connect' && poisoned++ === 0
      ? { kind: 'status', status: 200, afterHandling: true, body: '{"settings":{"type":"tracker"}}', headers: { date: 'Fri, 01 Jan 2100 00:00:00 GMT' } }
      : null);
    h.boot();
    await h.run(6 * HOUR);
    const stamped = h.uplinks().filter((u) => typeof u.timestamp === 'string' && !(u.data as { timeUnknown?: boolean }).timeUnknown);
    expect(stamped.length).toBeGreaterThan(30);
    for (const u of stamped) expect(Math.abs(Date.parse(u.timestamp) - Date.parse(u.receivedAt))).toBeLessThan(HOUR);
  });

  it('one answer dated 2100 and no GNSS: still no uplink stamped 2100', async () => {
    let n = 0;
    h = await harness({ transport: 'memory', gnss: { timeoutRate: 1 } });
    h.faults = (ctx) => (ctx.endpoint !== 'operator' && n++ === 0
      ? { kind: 'status', status: 200, afterHandling: true, body: '{"settings":{"type":"tracker"}}', headers: { date: 'Fri, 01 Jan 2100 00:00:00 GMT' } }
      : null);
    h.boot();
    await h.run(6 * HOUR);
    const sent = h.bodiesOf('uplink').concat(h.bodiesOf('backfill').flatMap((b) => b.uplinks as Record<string, unknown>[]));
    for (const u of sent) if (typeof u.timestamp === 'string') expect(Date.parse(u.timestamp)).toBeLessThan(T0 + DAY);
    expect(h.stat('utcKnown')).toBe(1);
  });

  it('the same wrong Date on answers that come together (retries a second apart), no GNSS: no uplink is stamped with it', async () => {
    // One fixed Date four hours ahead, on three answers in a row after the clock is trusted:
    // read within a second or two, the lie agrees with itself; it must not move the clock.
    const lie = new Date(T0 + 2 * HOUR + 4 * HOUR).toUTCString();
    let lied = 0;
    h = await harness({ transport: 'memory', gnss: { timeoutRate: 1 } });
    h.faults = (ctx) => {
      if (ctx.endpoint !== 'uplink' || ctx.now < T0 + 2 * HOUR || lied >= 3) return null;
      lied++;
      return lied < 3
        ? { kind: 'status', status: 500, headers: { date: lie } }
        : { kind: 'status', status: 201, afterHandling: true, body: '{"accepted":1,"duplicates":0}', headers: { date: lie } };
    };
    h.boot();
    await h.run(6 * HOUR);
    expect(lied).toBe(3);
    const stamped = h.uplinks().filter((u) => typeof u.timestamp === 'string' && !(u.data as { timeUnknown?: boolean }).timeUnknown);
    expect(stamped.length).toBeGreaterThan(30);
    // No uplink is stamped later than the cloud received it (the lie was ahead).
    for (const u of stamped) expect(Date.parse(u.timestamp)).toBeLessThanOrEqual(Date.parse(u.receivedAt) + MIN);
  });

  it('a damaged state record between boots: uplinks of the earlier boot without UTC go timeUnknown, never an invented time', async () => {
    let offline = true;
    h = await harness({ transport: 'memory', gnss: { timeoutRate: 1 } });
    h.faults = (ctx) => (offline && ctx.endpoint !== 'operator' ? { kind: 'drop' } : null);
    h.boot();
    await h.run(HOUR);
    const firstBoot = h.stat('lastId');
    expect(firstBoot).toBeGreaterThan(3);
    h.kv.damage('state');
    h.kv.damage('ids');
    h.reboot();
    offline = false;
    await h.run(2 * HOUR);
    const sent = h.bodiesOf('uplink').concat(h.bodiesOf('backfill').flatMap((b) => b.uplinks as Record<string, unknown>[]));
    const old = sent.filter((u) => u.epoch !== h.stat('epoch'));
    expect(old.length).toBe(firstBoot);
    for (const u of old) {
      expect(u.timestamp).toBeUndefined();
      expect((u.data as Record<string, unknown>).timeUnknown).toBe(true);
    }
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
  });
});

describe('a store that is damaged, a settings object that is large', () => {
  it('every stored record damaged between boots: the device runs on factory values and delivers', async () => {
    h = await harness({ transport: 'memory' });
    h.boot();
    await h.run(HOUR);
    for (const k of ['state', 'ids', 'budget', 'settings', 'cred']) h.kv.damage(k);
    h.reboot();
    await h.run(2 * HOUR);
    expect(h.stat('buffered')).toBe(0);
    expect(expectDenseAndUnique(h).size).toBe(2);
    expect(decodeState(h.kv.get('state'))).toBeDefined();
  });

  it('more than 32 unknown fields, nested deep, in settings and in the connect answer: ignored, settings applied', async () => {
    const junk = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x${i}`, i % 3 ? i : { deep: [[[{ a: [i] }]]] }]));
    h = await harness({ transport: 'memory' });
    h.cloud.updateDevice(h.deviceId, { settings: { type: 'tracker', ...junk, uplinkIntervalS: 600 } });
    h.boot();
    await h.run(10 * MIN);
    expect(h.stat('uplinkIntervalS')).toBe(600);
    expect(h.logText()).not.toMatch(/settings rejected/);
  });
});
