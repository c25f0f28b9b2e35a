// Time (DEVICE-API.md "Time"): UTC comes from Date headers and GNSS fixes; an uplink recorded
// before UTC was known is re-anchored when it becomes known in the same boot, goes with
// "timeUnknown" when that cannot be, and is never sent with a guessed time. One hint never
// moves UTC back by more than a minute.
import { describe, it, expect, afterEach } from 'vitest';
import { harness, Harness, T0, MIN, HOUR } from './helpers/harness.ts';

let h: Harness;
afterEach(async () => { await h?.stop(); });

const DAY = 24 * HOUR;

describe('time', () => {
  it('re-anchors uplinks recorded before UTC was known, in the same boot', async () => {
    let offline = true;
    h = await harness({ gnss: { timeoutRate: 1 } }); // no GNSS time either
    h.faults = (ctx) => (offline && ctx.endpoint !== 'operator' ? { kind: 'drop' } : null);
    h.boot();
    await h.run(2 * HOUR);
    expect(h.stat('utcKnown')).toBe(0);
    offline = false;
    await h.run(2 * HOUR);
    expect(h.stat('utcKnown')).toBe(1);
    const ups = h.uplinks();
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(ups.length + h.stat('buffered')).toBe(h.stat('lastId'));
    // The first uplink (health, at boot) carries the boot instant exactly.
    expect(ups[0].topic).toBe('health');
    // (within the one-second resolution of the Date header it learned UTC from).
    expect(Math.abs(Date.parse(ups[0].timestamp) - T0)).toBeLessThanOrEqual(1000);
    for (const u of ups) expect((u.data as Record<string, unknown>).timeUnknown).toBeUndefined();
    // Positions recorded offline are 5 minutes apart (the still interval plus the GNSS timeout drift).
    const positions = ups.filter((u) => u.topic === 'position' && Date.parse(u.timestamp) < T0 + 2 * HOUR);
    expect(positions.length).toBeGreaterThan(10);
    for (let i = 1; i < positions.length; i++) {
      const gap = Date.parse(positions[i].timestamp) - Date.parse(positions[i - 1].timestamp);
      expect(gap).toBeGreaterThanOrEqual(60_000);
      expect(gap).toBeLessThanOrEqual(300_000 + 95_000);
    }
  });

  it('sends uplinks of an earlier boot whose time was never known with timeUnknown and no timestamp', async () => {
    let offline = true;
    h = await harness({ gnss: { timeoutRate: 1 } });
    h.faults = (ctx) => (offline && ctx.endpoint !== 'operator' ? { kind: 'drop' } : null);
    h.boot();
    await h.run(HOUR);
    const firstBootLast = h.stat('lastId');
    const firstBootRecorded = h.stat('recorded');
    expect(firstBootLast).toBeGreaterThan(3);
    h.reboot();
    await h.run(10 * MIN);
    offline = false;
    await h.run(2 * HOUR);
    const ups = h.uplinks();
    // Ids jump after a reboot (a reserved block is never reused), so count what was recorded.
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
    expect(ups.length + h.stat('buffered')).toBe(firstBootRecorded + h.stat('recorded'));
    // The cloud fills in its receive time when none is sent; the device marks the uplink.
    const received = new Map(h.bodiesOf('backfill').flatMap((b) => (b.uplinks as Record<string, unknown>[])).map((u) => [u.id as number, u]));
    for (const u of ups) {
      const sent = received.get(u.id) ?? h.bodiesOf('uplink').find((b) => b.id === u.id)!;
      if (u.id <= firstBootLast) {
        expect(sent.timestamp).toBeUndefined();
        expect((sent.data as Record<string, unknown>).timeUnknown).toBe(true);
      } else {
        // The second boot's: its own time, kept by the cloud, within that boot (from 1 h on,
        // UTC learned from a Date header to the second).
        expect(sent.timestamp).toBe(u.timestamp);
        expect(Date.parse(u.timestamp)).toBeGreaterThanOrEqual(T0 + HOUR - 1000);
        expect(Date.parse(u.timestamp)).toBeLessThanOrEqual(T0 + HOUR + 10 * MIN + 2 * HOUR);
        expect((sent.data as Record<string, unknown>).timeUnknown).toBeUndefined();
      }
    }
  });

  it('takes UTC from a GNSS fix when no cloud answers', async () => {
    let offline = true;
    h = await harness({ gnss: { timeoutRate: 0 } });
    h.faults = (ctx) => (offline && ctx.endpoint !== 'operator' ? { kind: 'drop' } : null);
    h.boot();
    // The satellites' UTC runs a day behind the cloud's: a time that came from a fix shows.
    h.device.utcAtBootMs -= DAY;
    await h.run(10 * MIN);
    expect(h.stat('utcKnown')).toBe(1);
    const recordedOffline = h.stat('lastId');
    expect(recordedOffline).toBeGreaterThan(1);
    // Back online: the cloud's Date does not outrank a fix that agreed within 6 h, so every
    // uplink recorded offline is stamped on the GNSS clock: a day back, in its 10 minutes.
    offline = false;
    await h.run(30 * MIN);
    const ups = h.uplinks().filter((u) => u.id <= recordedOffline);
    expect(ups.length).toBe(recordedOffline);
    for (const u of ups) {
      const sinceBoot = Date.parse(u.timestamp) - (T0 - DAY);
      expect(sinceBoot).toBeGreaterThanOrEqual(-1000);
      expect(sinceBoot).toBeLessThanOrEqual(10 * MIN);
    }
  });

  it('never moves UTC back by more than a minute on one hint', async () => {
    let n = 0;
    h = await harness({ gnss: { timeoutRate: 1 } });
    // Every third answer claims the time is an hour earlier than it is.
    h.faults = (ctx) => (ctx.endpoint === 'uplink' && ++n % 3 === 0
      ? { kind: 'status', status: 201, afterHandling: true, headers: { date: new Date(ctx.now - HOUR).toUTCString() } }
      : null);
    h.boot();
    await h.run(6 * HOUR);
    const ts = h.uplinks().map((u) => Date.parse(u.timestamp));
    expect(ts.length).toBeGreaterThan(20);
    let back = 0;
    for (let i = 1; i < ts.length; i++) back = Math.max(back, ts[i - 1] - ts[i]);
    expect(back).toBeLessThanOrEqual(60_000);
    // And the device's clock stays within a few minutes of the truth.
    const last = h.uplinks().at(-1)!;
    expect(Math.abs(Date.parse(last.timestamp) - Date.parse(last.receivedAt))).toBeLessThan(10 * MIN);
  });
});
