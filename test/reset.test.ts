// Reset and key rotation: the answer is checked (ours, well formed, an allowed host, https
// unless the board is a development one), stored as one record, and a lost answer heals.
import { describe, it, expect, afterEach } from 'vitest';
import { harness, Harness, MIN, HOUR } from './helpers/harness.ts';
import { startCloudServer } from '../host-sim/cloud/server.ts';
import { decodeCred } from '../host-sim/device-records.ts';

let h: Harness;
afterEach(async () => { await h?.stop(); });

function credRecord(h: Harness): { environment: string; apiKey: string } | null {
  const c = decodeCred(h.kv.get('cred'));
  return c ? { environment: c.environment, apiKey: c.apiKey } : null;
}

describe('reset', () => {
  it('a reset whose answer is lost heals by itself', async () => {
    let lose = 1;
    h = await harness();
    h.faults = (ctx) => (ctx.endpoint === 'reset' && lose-- > 0 ? { kind: 'drop', afterHandling: true } : null);
    h.cloud.revokeKey(h.apiKey);
    h.boot();
    await h.run(30 * MIN);
    const resets = h.seen.filter((r) => r.endpoint === 'reset');
    expect(resets.length).toBe(2); // the first key issued was lost with its answer
    expect(credRecord(h)?.apiKey).toBe(h.cloud.apiKeyOf(h.deviceId));
    expect(h.uplinks().length).toBeGreaterThan(0);
    expect(h.stat('resets')).toBe(1);
  });

  it('refuses a reset to a host off the allow-list and keeps its key', async () => {
    // In process, so that a request to the evil host shows (h.sent) though nobody serves it.
    h = await harness({ transport: 'memory', board: { dev: true, allowHosts: ['cloud.example.com'] } });
    h.cloud.setEnvironment(h.deviceId, 'https://evil.example.net');
    h.cloud.revokeKey(h.apiKey);
    h.boot();
    await h.run(30 * MIN);
    expect(credRecord(h)).toBeNull();
    expect(h.logText()).toContain('reset: answer refused: environment host evil.example.net is not on the allow-list');
    expect(h.seen.filter((r) => r.endpoint === 'reset').length).toBeGreaterThanOrEqual(2);
    // Never a request to anything but the one cloud it knows: the evil host got nothing.
    const hosts = h.sent.map((r) => new URL(r.url).host);
    expect(hosts.length).toBeGreaterThanOrEqual(3);
    expect(hosts.filter((host) => host === 'evil.example.net')).toEqual([]);
    expect(new Set(hosts)).toEqual(new Set([new URL(h.url).host]));
  });

  it('accepts a reset to an allowed host and moves there', async () => {
    h = await harness({ board: { dev: true, allowHosts: ['localhost'] } });
    const second = await startCloudServer(h.cloud); // the same cloud on a second address
    try {
      const target = second.url.replace('127.0.0.1', 'localhost');
      h.cloud.setEnvironment(h.deviceId, target);
      h.cloud.revokeKey(h.apiKey);
      h.boot();
      await h.run(30 * MIN);
      expect(credRecord(h)).toEqual({ environment: target, apiKey: h.cloud.apiKeyOf(h.deviceId) });
      expect(h.uplinks().length).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });

  it('refuses a plain http:// environment under a production configuration', async () => {
    h = await harness({ board: { dev: false } });
    // A production board refuses an http:// factory environment outright...
    expect(h.boot()).toBe(-1);
    expect(h.logText()).toMatch(/identity: environment malformed: http:\/\/ refused by a production board/);
    expect(h.seen.length).toBe(0);
    await h.stop();
    // ...and, running on https, refuses a reset answer that moves it to http://.
    h = await harness({ board: { dev: false, allowHosts: ['cloud.test'] }, transport: 'memory' });
    h.cloud.setEnvironment(h.deviceId, 'http://cloud.test');
    h.cloud.revokeKey(h.apiKey);
    expect(h.boot()).toBe(0);
    await h.run(30 * MIN);
    expect(h.logText()).toContain('reset: answer refused: environment refused: http:// refused by a production board');
    expect(credRecord(h)).toBeNull();
    // Back on https, the same board takes the reset.
    h.cloud.setEnvironment(h.deviceId, 'https://cloud.test');
    await h.run(6 * HOUR);
    expect(credRecord(h)?.environment).toBe('https://cloud.test');
    expect(h.uplinks().length).toBeGreaterThan(0);
  });

  it('refuses answers that are not ours or malformed', async () => {
    const answers = [
      { deviceId: 'someone-else', tenantId: 't1', apiKey: 'k'.repeat(32), environment: 'x' },
      { deviceId: 'trk-1', tenantId: 't2', apiKey: 'k'.repeat(32), environment: 'x' },
      { deviceId: 'trk-1', tenantId: 't1', apiKey: 'short', environment: 'x' },
      { deviceId: 'trk-1', tenantId: 't1', apiKey: 'k'.repeat(32), environment: 'ftp://x' },
      { deviceId: 'trk-1', tenantId: 't1', apiKey: 'k'.repeat(32), environment: 'https://good@evil.example' },
      { deviceId: 'trk-1', tenantId: 't1', apiKey: 'k'.repeat(32) },
    ];
    let i = 0;
    h = await harness();
    h.faults = (ctx) => (ctx.endpoint === 'reset' && i < answers.length ? { kind: 'body', status: 200, body: JSON.stringify(answers[i++]) } : null);
    h.cloud.revokeKey(h.apiKey);
    h.boot();
    await h.run(12 * HOUR);
    expect(i).toBe(answers.length);
    expect(h.logs.filter((l) => l.line.startsWith('reset: answer refused')).length).toBe(answers.length);
    // After the bad answers, a real one: the device recovers.
    expect(credRecord(h)?.apiKey).toBe(h.cloud.apiKeyOf(h.deviceId));
    expect(h.uplinks().length).toBeGreaterThan(0);
  });

  it('a refused reset secret: long back-off, condition reported, data kept', async () => {
    h = await harness();
    h.cloud.revokeKey(h.apiKey);
    h.cloud.revokeKey(h.resetSecret);
    h.boot();
    await h.run(24 * HOUR);
    const resets = h.seen.filter((r) => r.endpoint === 'reset').map((r) => r.t);
    expect(resets.length).toBeGreaterThanOrEqual(1);
    expect(resets.length).toBeLessThanOrEqual(5);
    expect(h.logText()).toContain('reset secret refused');
    expect(h.stat('buffered')).toBe(h.stat('lastId'));
  });

  it('rotates the key before keyExpires', async () => {
    h = await harness();
    const expires = h.sched.utcNow() + 3 * 86_400_000;
    h.cloud.setKeyExpiry(h.apiKey, expires);
    h.boot();
    await h.run(3 * 86_400_000 + HOUR);
    const reset = h.seen.find((r) => r.endpoint === 'reset');
    expect(reset).toBeDefined();
    expect(reset!.t).toBeLessThan(expires);
    expect(h.stat('resets')).toBeGreaterThanOrEqual(1);
    // No request was ever refused with 401: the rotation came first.
    expect(h.cloud.requests.filter((r) => r.status === 401).length).toBe(0);
    expect(h.stat('buffered')).toBeLessThanOrEqual(h.waitingAtMost());
  });
});
