// Identity and start: the agent refuses to start, with one clear line naming the field, when
// any factory value is missing or malformed; a bad board configuration or flash geometry is
// refused the same way; a rotated-credentials record of an unknown shape falls back safely.
import { describe, it, expect, afterEach } from 'vitest';
import { harness, Harness, MIN } from './helpers/harness.ts';

let h: Harness;
afterEach(async () => { await h?.stop(); });

const enc = new TextEncoder();

describe('identity', () => {
  const cases: [string, string | null, RegExp][] = [
    ['tenantId', null, /^identity: tenantId missing: provision/],
    ['tenantId', 'bad tenant!', /^identity: tenantId malformed/],
    ['deviceId', null, /^identity: deviceId missing/],
    ['deviceId', 'x'.repeat(65), /^identity: deviceId malformed/],
    ['environment', null, /^identity: environment missing/],
    ['environment', 'ftp://cloud', /^identity: environment malformed: not an http\(s\):\/\/ URI/],
    ['environment', 'https://cloud.example/api?x=1', /^identity: environment malformed: query, fragment/],
    ['environment', 'https://user@cloud.example', /^identity: environment malformed: bad character in host/],
    ['environment', `https://${'a'.repeat(130)}.example`, /^identity: environment malformed: longer than 128 bytes/],
    ['apiKey', null, /^identity: apiKey missing/],
    ['apiKey', 'short', /^identity: apiKey malformed/],
    ['apiKey', 'has a space in it somewhere', /^identity: apiKey malformed/],
    ['resetSecret', null, /^identity: resetSecret missing/],
    ['resetSecret', 'é'.repeat(20), /^identity: resetSecret malformed/],
  ];
  for (const [field, value, message] of cases) {
    it(`refuses to start when ${field} is ${value === null ? 'missing' : `malformed (${JSON.stringify(value.slice(0, 24))})`}`, async () => {
      h = await harness();
      if (value === null) h.kv.map.delete(field);
      else h.kv.set(field, enc.encode(value));
      expect(h.boot()).toBe(-1);
      const errors = h.logs.filter((l) => l.level === 0);
      expect(errors.length).toBe(1);
      expect(errors[0].line).toMatch(message);
      expect(errors[0].line).not.toContain('\n');
      await h.run(10 * MIN);
      expect(h.seen.length).toBe(0);
    });
  }

  it('refuses a malformed board configuration and an unusable flash geometry', async () => {
    h = await harness({ board: { dev: true, allowHosts: ['bad host!'] } });
    expect(h.boot()).toBe(-2);
    expect(h.logs.at(-1)!.line).toMatch(/^board config: bad allow_host 'bad host!': fix the board configuration$/);
    await h.stop();
    h = await harness({ flash: { sectorSize: 1000, sectorCount: 8, progSize: 4 } });
    expect(h.boot()).toBe(-3);
    expect(h.logs.at(-1)!.line).toMatch(/^flash geometry unusable/);
  });

  it('ignores a rotated-credentials record of an unknown shape and heals through a reset', async () => {
    h = await harness();
    h.kv.set('cred', enc.encode('garbage that is not a record'));
    h.cloud.revokeKey(h.apiKey); // as if the factory key had been rotated away
    expect(h.boot()).toBe(0);
    await h.run(10 * MIN);
    expect(h.seen.map((r) => r.endpoint).slice(0, 3)).toEqual(['connect', 'reset', 'connect']);
    expect(h.uplinks().length).toBeGreaterThan(0);
  });

  it('survives stored settings and state of any shape', async () => {
    h = await harness();
    h.kv.set('settings', enc.encode('\u0001garbage'));
    h.kv.set('state', new Uint8Array(3));
    h.kv.set('ids', new Uint8Array(200).fill(0xff));
    expect(h.boot()).toBe(0);
    expect(h.stat('uplinkIntervalS')).toBe(300);
    // The id counter is damaged, so this is no new device, and its request budget record is
    // missing: it counts as an hour spent (budget.ts), then the device delivers.
    await h.run(70 * MIN);
    expect(h.uplinks().length).toBeGreaterThan(0);
    expect(h.logText()).toContain('stored settings unreadable: factory used');
    expect(h.logText()).toContain('stored state unreadable: counters reset');
    expect(h.logText()).toMatch(/uplink ids: id counter record missing or damaged: new epoch \d+/);
  });

  it('a request budget record of no known shape counts as an hour spent: silent for that hour, then delivering', async () => {
    h = await harness();
    h.kv.set('budget', enc.encode('x'));
    expect(h.boot()).toBe(0);
    await h.run(50 * MIN);
    expect(h.deviceRequests()).toHaveLength(0);
    expect(h.logText()).toMatch(/request budget spent \(60 an hour\): next request in \d+ s/);
    await h.run(20 * MIN);
    expect(h.uplinks().length).toBeGreaterThan(0);
  });
});
