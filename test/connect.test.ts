// Connect: what the device reports of itself, and strict settings (the ranges table of
// DEVICE-API.md; a bad object rejected whole; the last good settings kept across reboots).
import { describe, it, expect, afterEach } from 'vitest';
import { harness, Harness, MIN, HOUR } from './helpers/harness.ts';

let h: Harness;
afterEach(async () => { await h?.stop(); });

const FACTORY = { uplinkIntervalS: 300, movingIntervalS: 60, heartbeatS: 3600, backfillBatchSize: 100, gnssTimeoutS: 90, sendIntervalS: 600 };

function settingsInForce(h: Harness) {
  return {
    uplinkIntervalS: h.stat('uplinkIntervalS'), movingIntervalS: h.stat('movingIntervalS'), heartbeatS: h.stat('heartbeatS'),
    backfillBatchSize: h.stat('backfillBatchSize'), gnssTimeoutS: h.stat('gnssTimeoutS'), sendIntervalS: h.stat('sendIntervalS'),
  };
}

describe('connect', () => {
  it('reports firmware, buffered uplinks and the last uplink id', async () => {
    // The first 30 min nothing answers, so that uplinks are buffered when a connect gets
    // through. Over sockets the device is between calls while the cloud serves it: what it
    // holds then is what its connect must report.
    let offline = true;
    const atConnect: { buffered: number; lastId: number; body: Record<string, unknown> }[] = [];
    h = await harness();
    h.faults = (ctx) => {
      if (ctx.endpoint === 'operator') return null;
      if (offline) return { kind: 'drop' };
      if (ctx.endpoint === 'connect') {
        atConnect.push({ buffered: h.stat('buffered'), lastId: h.stat('lastId'), body: JSON.parse(new TextDecoder().decode(ctx.req.body)) });
      }
      return null;
    };
    expect(h.boot()).toBe(0);
    await h.run(30 * MIN);
    offline = false;
    await h.run(2 * HOUR); // the transient back-off waits up to an hour
    expect(atConnect.length).toBeGreaterThanOrEqual(1);
    const body = atConnect[0].body;
    expect(body.firmware).toBe('1.2.0');
    expect(atConnect[0].buffered).toBeGreaterThan(1);
    expect(body.bufferedUplinks).toBe(atConnect[0].buffered);
    expect(body.lastUplinkId).toBe(atConnect[0].lastId);
    expect(body.droppedUplinks).toBe(0);
    expect(body.settingsRejected).toBeUndefined();
    expect(h.uplinks().length).toBeGreaterThan(0);
  });

  it('applies valid settings, accepts 1e2 and 100.0 as integers, and keeps them across a reboot', async () => {
    h = await harness();
    h.cloud.updateDevice(h.deviceId, { settings: { type: 'tracker', uplinkIntervalS: 1.2e2, backfillBatchSize: 50.0, sendIntervalS: 0, unknownField: [1, { a: 2 }] } });
    h.boot();
    await h.run(5 * MIN);
    expect(settingsInForce(h)).toEqual({ ...FACTORY, uplinkIntervalS: 120, backfillBatchSize: 50, sendIntervalS: 0 });
    // The cloud now sends nothing usable; the stored settings must survive a power cycle.
    h.cloud.updateDevice(h.deviceId, { settings: { type: 'tracker' } });
    expect(h.reboot()).toBe(0);
    expect(settingsInForce(h)).toEqual({ ...FACTORY, uplinkIntervalS: 120, backfillBatchSize: 50, sendIntervalS: 0 });
    // An older module's store holds only the first record: its settings stay, sendIntervalS is the factory's.
    h.kv.damage('settings2');
    expect(h.reboot()).toBe(0);
    expect(settingsInForce(h)).toEqual({ ...FACTORY, uplinkIntervalS: 120, backfillBatchSize: 50 });
  });

  const bad: [string, unknown, string][] = [
    ['out of range', { type: 'tracker', uplinkIntervalS: 9 }, 'uplinkIntervalS: out of range 10-86400'],
    ['not an integer', { type: 'tracker', heartbeatS: 100.5 }, 'heartbeatS: not an integer'],
    ['a string number', { type: 'tracker', movingIntervalS: '300' }, 'movingIntervalS: expected an integer, got string'],
    ['null', { type: 'tracker', gnssTimeoutS: null }, 'gnssTimeoutS: expected an integer, got null'],
    ['a huge number', { type: 'tracker', backfillBatchSize: 99999999999 }, 'backfillBatchSize: out of range 1-500'],
    ['a negative send interval', { type: 'tracker', sendIntervalS: -1 }, 'sendIntervalS: out of range 0-86400'],
    ['another type', { type: 'beacon', uplinkIntervalS: 60 }, "type: not 'tracker'"],
    ['no type', { uplinkIntervalS: 60 }, 'type: missing'],
    ['not an object', [1, 2, 3], 'settings: not an object'],
  ];
  for (const [name, settings, reason] of bad) {
    it(`rejects settings whole when a field is ${name}, reports it at the next connect, keeps the last good`, async () => {
      h = await harness();
      // Good settings first, then a bad object that also carries a valid change.
      h.cloud.updateDevice(h.deviceId, { settings: { type: 'tracker', uplinkIntervalS: 600 } });
      h.boot();
      await h.run(MIN);
      expect(h.stat('uplinkIntervalS')).toBe(600);
      const mixed = Array.isArray(settings) ? settings : { ...(settings as object), movingIntervalS: (settings as Record<string, unknown>).movingIntervalS ?? 30 };
      h.cloud.updateDevice(h.deviceId, { settings: mixed });
      h.reboot();
      await h.run(MIN);
      expect(settingsInForce(h)).toEqual({ ...FACTORY, uplinkIntervalS: 600 });
      h.reboot(); // the rejection must survive a reboot until it is reported
      await h.run(MIN);
      const body = h.cloud.lastConnectBody(h.deviceId) as Record<string, unknown>;
      expect(body.settingsRejected).toBe(reason);
      // Reported once: the connect after that carries no rejection unless a new one occurred.
      h.cloud.updateDevice(h.deviceId, { settings: { type: 'tracker', uplinkIntervalS: 600 } });
      h.reboot();
      await h.run(2 * MIN);
      h.reboot();
      await h.run(MIN);
      expect((h.cloud.lastConnectBody(h.deviceId) as Record<string, unknown>).settingsRejected).toBeUndefined();
    });
  }

  it('survives a connect answer that is not JSON and reports it', async () => {
    let n = 0;
    h = await harness({
      faults: (ctx) => (ctx.endpoint === 'connect' && n++ === 0 ? { kind: 'body', status: 200, body: '<html>oops' } : null),
    });
    h.boot();
    await h.run(2 * HOUR);
    expect(settingsInForce(h)).toEqual(FACTORY);
    const connects = h.bodiesOf('connect');
    expect(connects.length).toBeGreaterThanOrEqual(2);
    expect(connects[1].settingsRejected).toMatch(/^settings: answer unreadable/);
    expect(h.uplinks().length).toBeGreaterThan(5);
  });
});
