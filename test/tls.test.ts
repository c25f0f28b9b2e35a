// The fake cloud over real TLS on loopback (a test CA made at run time): the server counts
// full and resumed handshakes (isSessionReused), and the in-process energy model's count of
// handshakes for the same device and the same events matches what the server measured.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { ENERGY } from '../host-sim/hal/energy.ts';
import { measuredTls } from '../tools/bench/energy.ts';

const HOUR = 3_600_000;

describe('fake cloud over TLS', () => {
  it('counts full and resumed handshakes on the server, and the model agrees with them', async () => {
    // The bench's real-TLS world: a production device, the socket transport, the server counting.
    // Each uplink sent at once (sendIntervalS 0): one exchange per uplink.
    const r = await measuredTls(4, { uplinkIntervalS: 120, movingIntervalS: 120, sendIntervalS: 0 });
    expect(r.uplinks).toBeGreaterThan(100);
    expect(r.acked).toBe(r.uplinks);
    const measured = r.measured;
    // Uplinks 120 s apart outlive the 60 s keep-alive: each needs a new connection, which resumes.
    expect(measured.full).toBe(1);
    expect(measured.resumed).toBeGreaterThan(100);
    expect(r.model).toEqual(measured);
  });

  it('a session older than its lifetime costs a full handshake, on the server and in the model', async () => {
    // Uplinks 10 min apart, sessions honoured 5 min: every connection but one (the first uplink
    // a minute or two after connect) is a full handshake.
    const r = await measuredTls(2, { uplinkIntervalS: 600, movingIntervalS: 600, heartbeatS: 604800 }, { keepAliveMs: ENERGY.tls.keepAliveMs, sessionLifetimeMs: 300_000 });
    const measured = r.measured;
    expect(measured.full).toBeGreaterThan(5);
    expect(measured.resumed).toBeLessThanOrEqual(1);
    expect(r.model).toEqual(measured);
  });
});

describe('trackagent-sim cloud --tls', () => {
  const BIN = path.resolve('host-sim/bin/trackagent-sim.js');

  it('serves HTTPS with the CA it writes, and tells full and resumed handshakes at exit', async () => {
    const caFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ta-ca-')), 'ca.pem');
    const p = spawn(process.execPath, [BIN, 'cloud', '--tls', '--ca-out', caFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stderr.on('data', (c) => (err += c));
    const url = await new Promise<string>((resolve) => p.stdout.on('data', (c) => {
      out += c;
      const m = /fake cloud: (https:\/\/\S+)/.exec(out);
      if (m && out.includes('Ctrl-C')) resolve(m[1]);
    }));
    const ca = fs.readFileSync(caFile, 'utf8');
    expect(ca).toMatch(/BEGIN CERTIFICATE/);
    expect(ca).not.toMatch(/PRIVATE KEY/);
    // Two requests on one agent that closes its connection between them: the second resumes.
    const agent = new https.Agent({ ca, keepAlive: false });
    for (let i = 0; i < 2; i++) {
      const status = await new Promise<number>((resolve, reject) => https.get(`${url}/nothing`, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); }).on('error', reject));
      expect(status).toBe(404);
    }
    const code = await new Promise<number | null>((resolve) => { p.on('close', resolve); p.kill('SIGINT'); });
    expect(code).toBe(0);
    expect(err).toMatch(/TLS handshakes: 1 full, 1 resumed/);
  });

  it('refuses --ca-out without --tls, and an http public URL with it: one line, exit 2', () => {
    for (const args of [['--ca-out', 'x.pem'], ['--tls', '--public-url', 'http://192.168.1.20:8080']]) {
      const r = spawnSync(process.execPath, [BIN, 'cloud', ...args], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('test harness option tls', () => {
  it('runs a dev board over HTTPS and the cloud counts its handshakes', async () => {
    const { Harness } = await import('./helpers/harness.ts');
    const h = await new Harness({ tls: true }).start();
    try {
      expect(h.url).toMatch(/^https:/);
      expect(h.boot()).toBe(0);
      await h.run(2 * HOUR);
      expect(h.uplinks().length).toBeGreaterThan(10);
      expect(h.handshakes.full).toBe(1);
      expect(h.handshakes.resumed).toBeGreaterThan(0);
    } finally {
      await h.stop();
    }
  });
});
