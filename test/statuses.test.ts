// What the agent does with every status of the contract: 401 resets, 403 and 404 back off
// without a reset, 429/5xx/transport errors back off exponentially with jitter, Retry-After is
// honoured in both forms and never undercut, and a reboot does not shorten a back-off.
import { describe, it, expect, afterEach } from 'vitest';
import { harness, Harness, MIN, HOUR } from './helpers/harness.ts';
import type { FaultAction, FaultContext } from '../host-sim/cloud/faults.ts';

let h: Harness;
afterEach(async () => { await h?.stop(); });

/** Answers `action` to every request of the device's endpoints while `on()` is true. */
function whileOn(on: () => boolean, action: FaultAction | ((ctx: FaultContext) => FaultAction)) {
  return (ctx: FaultContext) => (on() && ctx.endpoint !== 'operator' ? (typeof action === 'function' ? action(ctx) : action) : null);
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]);
}

describe('statuses', () => {
  it('401 on connect: resets with the reset secret, stores the new key, connects with it', async () => {
    h = await harness();
    h.cloud.revokeKey(h.apiKey);
    h.boot();
    await h.run(10 * MIN);
    const eps = h.seen.map((r) => r.endpoint);
    expect(eps.slice(0, 3)).toEqual(['connect', 'reset', 'connect']);
    const newKey = h.cloud.apiKeyOf(h.deviceId);
    expect(newKey).not.toBe(h.apiKey);
    expect(h.seen[2].key).toBe(newKey);
    expect(h.stat('resets')).toBe(1);
    expect(h.uplinks().length).toBeGreaterThan(0);
    // The reset secret went to the reset endpoint and nowhere else.
    for (const r of h.seen) expect(r.key === h.resetSecret).toBe(r.endpoint === 'reset');
    // The rotated key survives a power cycle: no second reset.
    h.reboot();
    expect(h.stat('resets')).toBe(1); // the count is stored with the reset, not later
    await h.run(10 * MIN);
    expect(h.seen.filter((r) => r.endpoint === 'reset').length).toBe(1);
  });

  it('a 401 when the cloud comes back after a long outage: the reset goes at once, not after the outage\'s wait', async () => {
    let down = true;
    h = await harness();
    h.faults = whileOn(() => down, { kind: 'drop' });
    h.boot();
    await h.run(3 * HOUR); // many failures: the transient wait is long now
    expect(h.stat('backoffAttempt')).toBeGreaterThan(6);
    h.cloud.revokeKey(h.apiKey); // revoked while the device was cut off
    down = false;
    const from = h.seen.length;
    await h.run(3 * HOUR);
    const after = h.seen.slice(from);
    expect(after.slice(0, 3).map((r) => r.endpoint)).toEqual(['connect', 'reset', 'connect']);
    expect(after[1].t - after[0].t).toBeLessThan(5_000);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(h.uplinks().length + h.stat('buffered')).toBe(h.stat('lastId'));
  });

  it('403: backs off without a reset, and recovers when the device is enabled again', async () => {
    h = await harness();
    h.cloud.updateDevice(h.deviceId, { isEnabled: false });
    h.boot();
    await h.run(6 * HOUR);
    const connects = h.seen.filter((r) => r.endpoint === 'connect').map((r) => r.t);
    expect(h.seen.some((r) => r.endpoint === 'reset')).toBe(false);
    expect(connects.length).toBeGreaterThanOrEqual(2);
    expect(connects.length).toBeLessThan(12);
    for (const g of gaps(connects)) expect(g).toBeGreaterThanOrEqual(60_000);
    expect(h.uplinks().length).toBe(0);
    const buffered = h.stat('buffered');
    expect(buffered).toBeGreaterThan(10);
    // Disabled, every request was refused with 403.
    const refused = h.deviceRequests();
    expect(refused.map((r) => r.status)).toEqual(refused.map(() => 403));
    const enabledAt = h.sched.utcNow();
    h.cloud.updateDevice(h.deviceId, { isEnabled: true });
    await h.run(8 * HOUR);
    // Enabled: the next retry of the 403 back-off (at most its 6 h cap and 1 min floor after
    // the last refusal) is accepted, and so is every request from then on.
    const after = h.deviceRequests().filter((r) => r.t >= enabledAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0].t - refused.at(-1)!.t).toBeLessThanOrEqual(6 * HOUR + MIN);
    expect(after.filter((r) => r.status < 200 || r.status >= 300)).toEqual([]);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(h.uplinks().length + h.stat('buffered')).toBe(h.stat('lastId'));
  });

  it('404: long back-off, data kept', async () => {
    h = await harness();
    h.cloud.deleteDevice(h.deviceId);
    h.boot();
    await h.run(24 * HOUR);
    const connects = h.seen.filter((r) => r.endpoint === 'connect').map((r) => r.t);
    expect(connects.length).toBeGreaterThanOrEqual(2);
    for (const g of gaps(connects)) expect(g).toBeGreaterThanOrEqual(HOUR);
    expect(h.seen.some((r) => r.endpoint === 'reset')).toBe(false);
    expect(h.stat('buffered')).toBe(h.stat('lastId'));
    expect(h.stat('dropped')).toBe(0);
  });

  for (const form of ['seconds', 'date'] as const) {
    it(`429 with Retry-After as ${form}: no request before it`, async () => {
      let until = 0;
      h = await harness();
      h.faults = (ctx) => {
        if (ctx.endpoint === 'operator' || ctx.now >= until) return null;
        const retryAfter = form === 'seconds' ? { seconds: Math.ceil((until - ctx.now) / 1000) } : { date: until };
        return { kind: 'status', status: 429, retryAfter };
      };
      until = h.sched.utcNow() + 2 * HOUR;
      h.boot();
      await h.run(3 * HOUR);
      const times = h.seen.map((r) => r.t);
      expect(times.length).toBeGreaterThanOrEqual(2);
      // The first request is refused; the next one must not come before the date given.
      expect(times[1]).toBeGreaterThanOrEqual(until);
      expect(h.uplinks().length).toBeGreaterThan(0);
    });
  }

  it('5xx, timeouts and dropped connections: exponential back-off with jitter, never giving up', async () => {
    let mode = 0;
    h = await harness();
    h.faults = whileOn(() => true, (): FaultAction => {
      mode++;
      return mode % 3 === 0 ? { kind: 'drop' } : mode % 3 === 1 ? { kind: 'status', status: 503 } : { kind: 'hang' };
    });
    h.boot();
    await h.run(12 * HOUR);
    const times = h.seen.map((r) => r.t);
    const g = gaps(times);
    expect(g.length).toBeGreaterThan(8);
    // Growing waits: the late ones are far longer than the first ones, and all are spaced.
    for (const x of g) expect(x).toBeGreaterThanOrEqual(1_000);
    const early = g.slice(0, 3).reduce((a, b) => a + b, 0) / 3;
    const late = g.slice(-3).reduce((a, b) => a + b, 0) / 3;
    expect(late).toBeGreaterThan(10 * early);
    // And with a cap: never more than an hour (plus the floor and a timeout) apart.
    for (const x of g) expect(x).toBeLessThanOrEqual(HOUR + 32_000);
    expect(h.stat('backoffAttempt')).toBe(g.length + 1);
    // The cloud comes back: everything recorded is delivered.
    h.faults = null;
    await h.run(2 * HOUR);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(h.uplinks().length + h.stat('buffered')).toBe(h.stat('lastId'));
  });

  it('a reboot in the middle of a back-off does not shorten it, nor does a reboot loop storm', async () => {
    h = await harness();
    h.faults = whileOn(() => true, { kind: 'status', status: 503 });
    h.boot();
    await h.run(3 * HOUR); // several failures: the back-off is long now
    const attempt = h.stat('backoffAttempt');
    expect(attempt).toBeGreaterThan(4);
    const before = h.seen.length;
    // Reboot every 30 s for 10 minutes: no request at all may be made.
    for (let i = 0; i < 20; i++) {
      h.reboot();
      await h.run(30_000);
    }
    expect(h.seen.length).toBe(before);
    expect(h.stat('backoffAttempt')).toBe(attempt);
    expect(h.stat('boots')).toBe(21);
  });
});
