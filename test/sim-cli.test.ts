// The trackagent-sim command line, run as a person or CI would: the bin as a child process.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeCloud } from '../host-sim/cloud/fake-cloud.ts';
import { startCloudServer, type CloudServer } from '../host-sim/cloud/server.ts';
import { makeSecret } from './helpers/harness.ts';
import { recordLogLine, recordSecret } from './helpers/secrets-log.ts';

const BIN = path.resolve('host-sim/bin/trackagent-sim.js');

interface Ran { code: number | null; stdout: string; stderr: string }

function run(args: string[], timeoutMs = 50_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`trackagent-sim ${args.join(' ')} did not finish`)); }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      // The module's log lines reach the leak scan (global-setup.ts) like every suite's.
      for (const line of stderr.split('\n')) if (line.startsWith('[')) recordLogLine(line);
      resolve({ code, stdout, stderr });
    });
  });
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'trackagent-sim-'));

let server: CloudServer | null = null;
let child: ChildProcess | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = null;
});

/** A fake cloud started apart from the CLI, with one device on it. */
async function separateCloud(deviceId = 'trk-cli') {
  const cloud = new FakeCloud({ makeSecret });
  server = await startCloudServer(cloud);
  const d = cloud.createDevice({ tenantId: 'acme', deviceId });
  const flags = ['--environment', server.url, '--tenant', 'acme', '--device', deviceId, '--api-key', d.apiKey, '--reset-secret', d.resetSecret, '--dev'];
  return { cloud, d, flags, url: server.url };
}

function expectOneLineError(r: Ran, pattern: RegExp) {
  expect(r.code).toBe(2);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^trackagent-sim: .+: .+/);
  expect(lines[0]).toMatch(pattern);
}

describe('trackagent-sim --help', () => {
  it('has help for the program and each command', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/fleet/);
    expect(top.stdout).toMatch(/device/);
    const fleet = await run(['fleet', '--help']);
    expect(fleet.code).toBe(0);
    for (const f of ['--devices', '--hours', '--seed', '--faults', '--track', '--transport', '--report', '--state', 'hostile', 'flaky', 'outage']) expect(fleet.stdout).toContain(f);
    const device = await run(['device', '--help']);
    expect(device.code).toBe(0);
    for (const f of ['--environment', '--tenant', '--device', '--api-key', '--reset-secret', '--allow-host', '--dev', '--hours', '--realtime', '--flash', '--json']) expect(device.stdout).toContain(f);
    const cloud = await run(['cloud', '--help']);
    expect(cloud.code).toBe(0);
    expect(cloud.stdout).toContain('--state');
  });
});

describe('trackagent-sim fleet', () => {
  it('runs 3 devices for 2 hours in process: progress, summary, an offline HTML report with the plots', async () => {
    const dir = tmp();
    const report = path.join(dir, 'report.html');
    const r = await run(['fleet', '--devices', '3', '--hours', '2', '--transport', 'memory', '--report', report]);
    expect(r.code).toBe(0);
    for (const row of ['uplinks recorded', 'delivered', 'duplicates rejected by the cloud', 'lost', 'key resets', 'bytes sent', 'connect', 'uplink']) expect(r.stdout).toContain(row);
    expect(r.stdout).toMatch(/lost\s+0\s+ok/);
    expect(r.stderr).toMatch(/fleet: 100%/); // not a TTY: one line per tenth
    expect(r.stderr).toContain(`report: ${report}`);
    const html = fs.readFileSync(report, 'utf8');
    for (const id of ['tracks', 'buffered', 'perMinute']) expect(html).toContain(`<canvas id="${id}">`);
    expect(html).toContain('Chart.js v4'); // the library is inlined...
    expect(html).not.toMatch(/<script[^>]+src=/); // ...and nothing is loaded from elsewhere
    expect(html).not.toMatch(/<link[^>]+href=/);
  });

  it('--json prints the summary as one JSON object', async () => {
    const r = await run(['fleet', '--devices', '2', '--hours', '1', '--transport', 'memory', '--faults', 'flaky', '--json', '--report', path.join(tmp(), 'r.html')]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ devices: 2, hours: 1, transport: 'memory', faults: 'flaky', lost: 0, duplicatesDelivered: 0, violations: 0 });
    expect(s.recorded).toBeGreaterThan(0);
  });

  it('keeps the cloud in --state DIR across runs', async () => {
    const dir = tmp();
    const a = await run(['fleet', '--devices', '2', '--hours', '1', '--transport', 'memory', '--state', dir, '--report', path.join(dir, 'a.html')]);
    expect(a.code).toBe(0);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'cloud.json'), 'utf8'));
    expect(saved.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['sim-0001', 'sim-0002']);
    for (const k of saved.keys) recordSecret(k.secret);
    const b = await run(['fleet', '--devices', '2', '--hours', '1', '--transport', 'memory', '--state', dir, '--report', path.join(dir, 'b.html')]);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/loaded from and saved to/);
    const again = JSON.parse(fs.readFileSync(path.join(dir, 'cloud.json'), 'utf8'));
    expect(again.adminKey).toBe(saved.adminKey);
    expect(again.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['sim-0001', 'sim-0002', 'sim2-0001', 'sim2-0002']);
    expect(again.devices[0].uplinks.length).toBe(saved.devices[0].uplinks.length); // the first run's uplinks are still there
  });

  it('refuses bad flags with one line and exit 2', async () => {
    expectOneLineError(await run(['fleet', '--devices', 'many']), /--devices 'many'/);
    expectOneLineError(await run(['fleet', '--faults', 'flaky+gremlins']), /unknown fault 'gremlins'/);
    expectOneLineError(await run(['fleet', '--transport', 'carrier-pigeon']), /--transport/);
    expectOneLineError(await run(['fleet', '--track', '/nonexistent.gpx']), /--track/);
    expectOneLineError(await run(['fleet', '--bogus']), /unknown flag --bogus/);
    expectOneLineError(await run(['fleet', '--wasm', '/nonexistent.wasm', '--devices', '1', '--hours', '1']), /module/);
    expectOneLineError(await run(['launch']), /unknown command 'launch'/);
  });
});

describe('trackagent-sim device', () => {
  it('runs against a separately started fake cloud with the identity flags, exits 0, --json summary', async () => {
    const { cloud, flags } = await separateCloud();
    const r = await run(['device', ...flags, '--hours', '3', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ deviceId: 'trk-cli', tenantId: 'acme', identitySource: 'flags', hours: 3, realtime: false, resets: 0, dropped: 0, boots: 1, traps: 0 });
    for (const k of ['uplinksRecorded', 'uplinksAcked', 'buffered', 'lastUplinkId', 'requests']) expect(typeof s[k]).toBe('number');
    expect(s.uplinksAcked).toBeGreaterThan(30);
    const stored = cloud.uplinksOf('trk-cli').map((u) => u.id);
    expect(stored.length).toBe(s.uplinksAcked);
    expect(stored[stored.length - 1]).toBeLessThanOrEqual(s.lastUplinkId);
    expect(cloud.connectsOf('trk-cli')).toBeGreaterThanOrEqual(3); // a connect per virtual hour
    expect(r.stderr).toMatch(/info: started: device trk-cli/); // the module's log, on stderr
  });

  it('--flash FILE keeps the store: the second run uses the stored identity (with a notice), even a rotated key', async () => {
    const { cloud, d, flags } = await separateCloud('trk-flash');
    const file = path.join(tmp(), 'board.bin');
    const one = await run(['device', ...flags, '--hours', '1', '--flash', file, '--json']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout).identitySource).toBe('flags');
    expect(fs.statSync(file).size).toBe(32 * 4096);
    expect(fs.existsSync(`${file}.kv`)).toBe(true);
    // The operator revokes the key: the next run meets a 401, resets and stores a new key.
    cloud.revokeKey(d.apiKey);
    const two = await run(['device', ...flags, '--hours', '1', '--flash', file, '--json']);
    expect(two.code).toBe(0);
    expect(two.stderr).toMatch(/notice: .*board\.bin\.kv already holds device trk-flash of tenant acme: using the stored identity/);
    const s2 = JSON.parse(two.stdout);
    expect(s2).toMatchObject({ identitySource: 'store', resets: 1, boots: 2 });
    expect(s2.lastUplinkId).toBeGreaterThan(JSON.parse(one.stdout).lastUplinkId); // ids continue, never reused
    // Third run, still given the old key on the command line: the stored, rotated key wins.
    const before401 = cloud.requests.filter((q) => q.status === 401).length;
    const three = await run(['device', ...flags, '--hours', '1', '--flash', file, '--json']);
    expect(three.code).toBe(0);
    // The reset counter was stored with the reset: a restart still shows it.
    expect(JSON.parse(three.stdout)).toMatchObject({ identitySource: 'store', boots: 3, resets: 1 });
    expect(cloud.requests.filter((q) => q.status === 401).length).toBe(before401);
    const ids = cloud.uplinksOf('trk-flash').map((u) => u.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('exits 0 when the duration ends even if the cloud never answers', async () => {
    const { flags, url } = await separateCloud('trk-down');
    await server!.close(); // nothing listens there any more
    server = null;
    const r = await run(['device', ...flags.map((f) => (f === url ? url : f)), '--hours', '2', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.uplinksAcked).toBe(0);
    expect(s.buffered).toBeGreaterThan(0);
  });

  it('refuses bad flags and a broken store with one line and exit 2', async () => {
    const { flags } = await separateCloud('trk-bad');
    expectOneLineError(await run(['device', ...flags, '--hours', 'soon']), /--hours 'soon'/);
    expectOneLineError(await run(['device', ...flags, '--color']), /unknown flag --color/);
    expectOneLineError(await run(['device', '--tenant', 'acme']), /--environment, --device, --api-key, --reset-secret missing/);
    expectOneLineError(await run(['device', ...flags.filter((f) => f !== '--dev')]), /plain http:\/\/.*--dev/);
    const withShortSecret = [...flags.slice(0, flags.indexOf('--reset-secret')), '--reset-secret', 'short', '--dev'];
    expectOneLineError(await run(['device', ...withShortSecret]), /refused its identity.*resetSecret/);
    const dir = tmp();
    // A store file of garbage is damage, not a reason to stop (contract: the device falls back to
    // its factory values): without an identity anywhere, what is missing is said.
    fs.writeFileSync(path.join(dir, 'b.kv'), '{not json');
    expectOneLineError(await run(['device', '--flash', path.join(dir, 'b'), '--hours', '1']), /--environment, --tenant, --device, --api-key, --reset-secret missing/);
    fs.writeFileSync(path.join(dir, 'c'), Buffer.alloc(100));
    expectOneLineError(await run(['device', ...flags, '--flash', path.join(dir, 'c'), '--hours', '1']), /broken store: flash image .* is 100 bytes/);
  });
});

describe('trackagent-sim cloud', () => {
  it('serves the fake cloud for device runs and keeps its state in --state DIR', async () => {
    const dir = tmp();
    const start = () => new Promise<{ p: ChildProcess; out: string }>((resolve, reject) => {
      const p = spawn(process.execPath, [BIN, 'cloud', '--state', dir, '--provision', 'trk-st', '--tenant', 'acme'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = p;
      let out = '';
      p.stdout!.on('data', (c) => { out += c; if (out.includes('Ctrl-C')) resolve({ p, out }); });
      p.on('exit', (code) => reject(new Error(`cloud exited ${code}: ${out}`)));
    });
    const stop = (p: ChildProcess) => new Promise<number | null>((resolve) => { p.removeAllListeners('exit'); p.on('exit', (c) => resolve(c)); p.kill('SIGINT'); });
    const first = await start();
    const line = first.out.split('\n').find((l) => l.includes('--api-key'))!;
    for (const m of line.matchAll(/--(?:api-key|reset-secret) (\S+)/g)) recordSecret(m[1]);
    const deviceFlags = line.trim().split(/\s+/);
    const r = await run(['device', ...deviceFlags, '--hours', '2', '--json']);
    expect(r.code).toBe(0);
    const acked = JSON.parse(r.stdout).uplinksAcked;
    expect(acked).toBeGreaterThan(0);
    expect(await stop(first.p)).toBe(0);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'cloud.json'), 'utf8'));
    expect(saved.devices[0].deviceId).toBe('trk-st');
    expect(saved.devices[0].uplinks.length).toBe(acked);
    const second = await start();
    expect(second.out).toMatch(/state loaded from/);
    expect(second.out).toMatch(/device trk-st exists/);
    expect(await stop(second.p)).toBe(0);
  });
});
