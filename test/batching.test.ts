// sendIntervalS (issue 14 item 1; DEVICE-API.md "Batching"): recorded uplinks wait until the
// oldest unsent one is sendIntervalS old, then what is buffered goes in backfill batches; a
// health uplink reporting a new problem goes at once; 0 sends each at once; a reboot in the
// middle of a wait neither loses nor storms. Judged from the cloud: every (epoch, id) once.
import { describe, it, expect, afterEach } from 'vitest';
import { harness, Harness, MIN, HOUR } from './helpers/harness.ts';

let h: Harness;
afterEach(async () => { await h?.stop(); });

type Sent = { epoch: number; id: number; timestamp?: string; topic?: string; data?: Record<string, unknown> };

/** Each uplink request the cloud saw: when, and the uplinks it carried. */
function sends(h: Harness): { t: number; uplinks: Sent[] }[] {
  return h.seen.filter((r) => (r.endpoint === 'uplink' || r.endpoint === 'backfill') && r.body.length > 0).map((r) => {
    const b = JSON.parse(r.body);
    return { t: r.t, uplinks: r.endpoint === 'backfill' ? b.uplinks as Sent[] : [b as Sent] };
  });
}

/** Every (epoch, id) the cloud holds is there once, dense from 1 within each epoch; returns the count. */
function expectEachOnce(h: Harness): number {
  const byEpoch = new Map<number, number[]>();
  for (const u of h.uplinks()) (byEpoch.get(u.epoch) ?? byEpoch.set(u.epoch, []).get(u.epoch)!).push(u.id);
  let n = 0;
  for (const [epoch, ids] of byEpoch) {
    ids.sort((a, b) => a - b);
    expect(ids, `epoch ${epoch}: each id once, no gap`).toEqual(ids.map((_, i) => i + 1));
    n += ids.length;
  }
  expect(h.cloud.duplicatesOf(h.deviceId)).toBe(0);
  return n;
}

/** The age of each uplink when its request left, ms (only uplinks with a timestamp). */
function agesAtSend(h: Harness): number[] {
  return sends(h).flatMap((s) => s.uplinks.filter((u) => u.timestamp !== undefined).map((u) => s.t - Date.parse(u.timestamp!)));
}

describe('sendIntervalS', () => {
  it('at the factory settings, uplinks arrive in batches, none older than sendIntervalS + 1 min when sent, nothing lost', async () => {
    h = await harness();
    h.boot();
    await h.run(12 * HOUR);
    expect(h.stat('sendIntervalS')).toBe(600);
    const ages = agesAtSend(h);
    expect(ages.length).toBeGreaterThan(200);
    expect(Math.max(...ages)).toBeLessThanOrEqual((600 + 60) * 1000);
    // Batched: many fewer requests than uplinks, most carrying several.
    const s = sends(h);
    const carried = s.reduce((n, x) => n + x.uplinks.length, 0);
    expect(carried).toBe(h.uplinks().length);
    expect(s.length).toBeLessThan(carried / 3);
    // Nothing lost: what the cloud lacks is what still waits on the device.
    const n = expectEachOnce(h);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(n + h.stat('buffered')).toBe(h.stat('lastId'));
  });

  it('0 sends each uplink at once, one request each', async () => {
    h = await harness();
    h.cloud.updateDevice(h.deviceId, { settings: { type: 'tracker', sendIntervalS: 0 } });
    h.boot();
    await h.run(6 * HOUR);
    expect(h.stat('sendIntervalS')).toBe(0);
    // After the first connect each uplink goes alone, within the seconds its GNSS fix takes.
    const after = sends(h).filter((s) => s.t > h.seen.find((r) => r.endpoint === 'connect')!.t + MIN);
    expect(after.length).toBeGreaterThan(100);
    // One a request, but for a health and a position recorded in the same step.
    for (const s of after) expect(s.uplinks.length).toBeLessThanOrEqual(2);
    expect(after.filter((s) => s.uplinks.length === 1).length).toBeGreaterThan(after.length * 0.9);
    for (const s of after) for (const u of s.uplinks) expect(s.t - Date.parse(u.timestamp!)).toBeLessThan(5_000);
    const n = expectEachOnce(h);
    expect(h.stat('buffered')).toBe(0);
    expect(n).toBe(h.stat('lastId'));
  });

  it('a health uplink that reports a problem goes at once, one without waits for company', async () => {
    // The cloud answers no connect for the first 5 min, so the heartbeat's connects fall 5 min
    // after the health uplinks (every heartbeatS from boot), never together with them.
    const run = async (settings: Record<string, unknown>) => {
      h = await harness();
      h.cloud.updateDevice(h.deviceId, { settings });
      h.faults = (ctx) => (ctx.endpoint === 'connect' && h.sched.now < 5 * MIN ? { kind: 'status', status: 503 } : null);
      h.boot();
      await h.run(HOUR + 2 * MIN);
      const health = sends(h).flatMap((s) => s.uplinks.map((u) => ({ t: s.t, u }))).filter((x) => x.u.topic === 'health' && x.u.id > 1);
      const delays = health.map((x) => x.t - Date.parse(x.u.timestamp!));
      await h.stop();
      return delays;
    };
    // A bad settings object (rejected at the first connect): the next health uplink reports it.
    const problem = await run({ type: 'tracker', uplinkIntervalS: 9 });
    expect(problem.length).toBe(1);
    expect(problem[0]).toBeLessThan(5_000);
    // Good settings: the health uplink at 60 min has nothing to report and waits.
    const quiet = await run({ type: 'tracker' });
    expect(quiet.length).toBe(0);
  });

  it('a reboot in the middle of a wait neither loses nor storms', async () => {
    h = await harness();
    h.boot();
    await h.run(2 * HOUR);
    // Into a wait: uplinks buffered, none yet due.
    while (h.stat('buffered') < 2) await h.run(MIN);
    const before = h.deviceRequests().length;
    expect(h.reboot()).toBe(0);
    await h.run(10 * MIN);
    // The power-on connects as always and sends what was buffered on that connection: a
    // connect, perhaps a second one (the clock's confirmation), and one batch; no more.
    const afterReboot = h.deviceRequests().slice(before);
    expect(afterReboot.filter((r) => r.endpoint === 'connect').length).toBeLessThanOrEqual(2);
    expect(afterReboot.filter((r) => r.endpoint === 'uplink' || r.endpoint === 'backfill').length).toBeLessThanOrEqual(2);
    // A boot loop, a power-on every 3 min for 2 h: a few requests a boot, never a storm.
    const loopStart = h.deviceRequests().length;
    for (let i = 0; i < 40; i++) {
      await h.run(3 * MIN);
      expect(h.reboot()).toBe(0);
    }
    const perBoot = (h.deviceRequests().length - loopStart) / 40;
    expect(perBoot).toBeLessThanOrEqual(3);
    // And then the device settles: the usual batches, every uplink once.
    await h.run(3 * HOUR);
    const n = expectEachOnce(h);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(n + h.stat('buffered')).toBe(h.stat('lastId'));
    const late = agesAtSend(h).slice(-20);
    expect(Math.max(...late)).toBeLessThanOrEqual((600 + 60) * 1000);
  });
});
