// The trackagent-sim command line, run as a person or CI would: the bin as a child process.
// Every error case asserts one line on stderr, its exit code, no stack trace, and that no
// value given for a secret comes back.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeCloud } from '../host-sim/cloud/fake-cloud.ts';
import { startCloudServer, type CloudServer } from '../host-sim/cloud/server.ts';
import { Progress } from '../host-sim/fleet/progress.ts';
import { internalError } from '../host-sim/cli.ts';
import { NVS_KEYS, NVS_NAMESPACE } from '../host-sim/nvs-csv.ts';
import { makeSecret } from './helpers/harness.ts';
import { recordLogLine, recordSecret } from './helpers/secrets-log.ts';

const BIN = path.resolve('host-sim/bin/trackagent-sim.js');
const VERSION = JSON.parse(fs.readFileSync('package.json', 'utf8')).version;

interface Ran { code: number | null; stdout: string; stderr: string }

// Children still running when a test ends (it failed or hung) are killed: nothing outlives a test.
const children = new Set<ChildProcess>();

function spawnBin(args: string[]): ChildProcess {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', TRACKAGENT_DEBUG: '' } });
  children.add(p);
  p.on('exit', () => children.delete(p));
  return p;
}

/** Runs the bin to its end. No time limit of its own: vitest's hang timeout is the only one. */
function run(args: string[], onStderr?: (text: string, p: ChildProcess) => void): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawnBin(args);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c) => (stdout += c));
    p.stderr!.on('data', (c) => { stderr += c; onStderr?.(stderr, p); });
    p.on('close', (code) => {
      // The module's log lines reach the leak scan (global-setup.ts) like every suite's.
      for (const line of stderr.split('\n')) if (line.startsWith('[')) recordLogLine(line);
      resolve({ code, stdout, stderr });
    });
  });
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'trackagent-sim-'));

let server: CloudServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

/** A fake cloud started apart from the CLI (on the wall clock), with one device on it. */
async function separateCloud(deviceId = 'trk-cli') {
  const cloud = new FakeCloud({ makeSecret });
  server = await startCloudServer(cloud);
  const d = cloud.createDevice({ tenantId: 'acme', deviceId });
  const flags = ['--environment', server.url, '--tenant', 'acme', '--device', deviceId, '--api-key', d.apiKey, '--reset-secret', d.resetSecret, '--dev'];
  return { cloud, d, flags, url: server.url };
}

function expectNoStack(text: string) {
  expect(text).not.toMatch(/^\s+at .+[:(]\d+/m);
  expect(text).not.toMatch(/node:internal|\.ts:\d+:\d+|Error: /);
}

function expectOneLineError(r: Ran, pattern: RegExp, code = 2) {
  expect(r.code).toBe(code);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^trackagent-sim: .+: .+/);
  expect(lines[0]).toMatch(pattern);
  expectNoStack(r.stderr);
}

describe('trackagent-sim --help and --version', () => {
  it('has help for the program and each command, and prints its version', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/fleet/);
    expect(top.stdout).toMatch(/device/);
    expect(top.stdout).toMatch(/--version/);
    const fleet = await run(['fleet', '--help']);
    expect(fleet.code).toBe(0);
    for (const f of ['--devices', '--hours', '--seed', '--faults', '--track', '--transport', '--report', '--state', '--log', 'hostile', 'flaky', 'outage', 'Ctrl-C']) expect(fleet.stdout).toContain(f);
    const device = await run(['device', '--help']);
    expect(device.code).toBe(0);
    for (const f of ['--environment', '--tenant', '--device', '--api-key', '--reset-secret', '--allow-host', '--dev', '--hours', '--realtime', '--flash', '--json']) expect(device.stdout).toContain(f);
    const cloud = await run(['cloud', '--help']);
    expect(cloud.code).toBe(0);
    for (const f of ['--state', '--public-url', '--nvs-csv', '--host']) expect(cloud.stdout).toContain(f);
    for (const flag of ['--version', '-V']) {
      const v = await run([flag]);
      expect(v.code).toBe(0);
      expect(v.stdout).toBe(`trackagent-sim ${VERSION}\n`);
    }
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
    expect(html).toContain('<svg id="map"');
    for (const id of ['delivered', 'buffered', 'perMinute', 'device-chart']) expect(html).toContain(`<canvas id="${id}">`);
    expect(html).toContain('<select id="device"');
    expect(html).toContain('Chart.js v4'); // the library is inlined...
    expect(html).not.toMatch(/<script[^>]+src=/); // ...and nothing is loaded from elsewhere
    expect(html).not.toMatch(/<link[^>]+href=/);
  });

  it('--json prints the summary as one JSON object, every device in perDevice', async () => {
    const r = await run(['fleet', '--devices', '2', '--hours', '1', '--transport', 'memory', '--faults', 'flaky', '--json', '--report', path.join(tmp(), 'r.html')]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ devices: 2, hours: 1, transport: 'memory', faults: 'flaky', lost: 0, duplicatesDelivered: 0, violations: 0 });
    expect(s.recorded).toBeGreaterThan(0);
    expect(s.perDevice.map((d: { deviceId: string }) => d.deviceId)).toEqual(['sim-0001', 'sim-0002']);
    const recorded = s.perDevice.reduce((a: number, d: { recorded: number }) => a + d.recorded, 0);
    expect(recorded).toBe(s.recorded);
    for (const d of s.perDevice) {
      expect(Object.values(d.requestsByStatus as Record<string, number>).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(typeof d.why).toBe('string');
      expect(d.warnings).toBe(Object.values(d.logKinds as Record<string, number>).reduce((a, b) => a + b, 0) - d.errors);
    }
  });

  it('--log warn prints the module warnings it counts, each with its device and virtual time', async () => {
    const r = await run(['fleet', '--devices', '2', '--hours', '2', '--transport', 'memory', '--faults', 'none+5xx:0.3', '--log', 'warn', '--json', '--report', path.join(tmp(), 'r.html')]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    const lines = r.stderr.split('\n').filter((l) => /^\[\d\d:\d\d\] sim-000[12] (warn|error): /.test(l));
    expect(s.warnings).toBeGreaterThan(5);
    expect(lines.length).toBe(s.warnings + s.errors);
    expect(Object.values(s.logKinds as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(s.warnings + s.errors);
    expectOneLineError(await run(['fleet', '--log', 'loud']), /--log 'loud' is not a level/);
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

  it('Ctrl-C stops a long run early and still writes the summary and the report, across worker threads', async () => {
    const dir = tmp();
    const report = path.join(dir, 'partial.html');
    let sent = false;
    // A year of 200 devices would take minutes: the signal comes at the first progress line.
    const r = await run(['fleet', '--devices', '200', '--workers', '2', '--hours', '8760', '--transport', 'memory', '--json', '--report', report], (text, p) => {
      if (!sent && /fleet: 0%/.test(text)) { sent = true; p.kill('SIGINT'); }
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    const s = JSON.parse(r.stdout);
    expect(s.stoppedAtHours).toBeGreaterThan(0);
    expect(s.stoppedAtHours).toBeLessThan(8760);
    expect(s.perDevice).toHaveLength(200);
    expect(s.recorded).toBeGreaterThan(0);
    expect(s.lost).toBe(0);
    expect(r.stderr).toMatch(/stopped by a signal at \d+:\d\d of 8760:00 virtual/);
    expectNoStack(r.stderr);
    const html = fs.readFileSync(report, 'utf8');
    expect(html).toMatch(/Stopped early \(Ctrl-C\) at \d+:\d\d of 8760:00 virtual/);
  });

  it('refuses bad flags with one line and exit 2, before running anything', async () => {
    const dir = tmp();
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    expectOneLineError(await run(['fleet', '--devices', 'many']), /--devices 'many'/);
    // Negative numbers are values, not flags: each is refused (or taken) for what it is.
    expectOneLineError(await run(['fleet', '--devices', '-5']), /--devices '-5' is not a whole number from 1/);
    expectOneLineError(await run(['fleet', '--hours', '-1']), /--hours '-1' is not a number above 0/);
    expectOneLineError(await run(['fleet', '--hours', '-0.5']), /--hours '-0.5' is not a number above 0/);
    expectOneLineError(await run(['fleet', '--faults', 'flaky+gremlins']), /unknown fault 'gremlins'/);
    expectOneLineError(await run(['fleet', '--transport', 'carrier-pigeon']), /--transport/);
    expectOneLineError(await run(['fleet', '--bogus']), /unknown flag --bogus/);
    expectOneLineError(await run(['fleet', '--devices']), /--devices needs a value/);
    expectOneLineError(await run(['fleet', '--wasm', '/nonexistent.wasm', '--devices', '1', '--hours', '1']), /module/);
    expectOneLineError(await run(['fleet', '--state', file, '--devices', '1', '--hours', '1']), /--state .*a-file is a file, not a folder/);
    expectOneLineError(await run(['fleet', '--report', path.join(dir, 'a-file', 'r.html'), '--devices', '1', '--hours', '1']), /--report .*a-file is not a folder/);
    expectOneLineError(await run(['launch']), /unknown command 'launch'/);
    // No value given for a secret, or typed where none belongs, is ever printed back.
    const secret = 'ak_Do-not-print-this-0123456789';
    for (const args of [['fleet', `--api-key=${secret}`], ['fleet', '--api-key', secret], ['fleet', secret], ['cloud', `--reset-secret=${secret}`]]) {
      const r = await run(args);
      expectOneLineError(r, /unknown flag --(api-key|reset-secret)|unexpected argument/);
      expect(r.stderr).not.toContain(secret.slice(3, 11));
    }
  });

  it('a negative --seed is a seed like any other, also without =', async () => {
    const base = ['fleet', '--devices', '2', '--hours', '1', '--transport', 'memory', '--json', '--report', path.join(tmp(), 'r.html')];
    const a = await run([...base, '--seed', '-1']);
    const b = await run([...base, '--seed=-1']);
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout).seed).toBe(-1);
    const pick = (r: Ran) => JSON.parse(r.stdout).perDevice.map((d: { recorded: number; requests: number }) => [d.recorded, d.requests]);
    expect(pick(a)).toEqual(pick(b));
  });

  it('GPX errors say what is wrong with the file, in words', async () => {
    const dir = tmp();
    const w = (name: string, text: string) => { const f = path.join(dir, name); fs.writeFileSync(f, text); return f; };
    const gpx = (pts: string) => `<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>${pts}</trkseg></trk></gpx>`;
    expectOneLineError(await run(['fleet', '--track', path.join(dir, 'none.gpx')]), /--track .*none\.gpx: cannot read .* \(no such file or folder\)/);
    expectOneLineError(await run(['fleet', '--track', dir]), /cannot read .* \(it is a folder\)/);
    const broken = await run(['fleet', '--track', w('broken.gpx', '<gpx><trk><trkseg>')]);
    expectOneLineError(broken, /not well-formed XML \(unclosed xml tag\(s\): gpx, trk, trkseg, line 1 column \d+\)/);
    expect(broken.stderr).not.toMatch(/Reporting|caused|\[xmldom/);
    expectOneLineError(await run(['fleet', '--track', w('lat.gpx', gpx('<trkpt lat="999" lon="8"/><trkpt lat="47" lon="8"/>'))]), /point 1 has latitude 999, outside -90 to 90/);
    expectOneLineError(await run(['fleet', '--track', w('lon.gpx', gpx('<trkpt lat="47" lon="8"/><trkpt lat="47" lon="-181"/>'))]), /point 2 has longitude -181, outside -180 to 180/);
    expectOneLineError(await run(['fleet', '--track', w('kml.gpx', '<kml/>')]), /not a GPX document/);
  });
});

describe('trackagent-sim device', () => {
  it('runs against a separately started fake cloud with the identity flags, exits 0, --json summary; says when its clock runs ahead of the cloud', async () => {
    const { cloud, flags } = await separateCloud();
    const r = await run(['device', ...flags, '--hours', '3', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ deviceId: 'trk-cli', tenantId: 'acme', identitySource: 'flags', hours: 3, realtime: false, resets: 0, dropped: 0, boots: 1, traps: 0 });
    for (const k of ['uplinksRecorded', 'uplinksAcked', 'buffered', 'lastUplinkId', 'requests', 'httpAnswers']) expect(typeof s[k]).toBe('number');
    expect(s.uplinksAcked).toBeGreaterThan(30);
    expect(s.httpAnswers).toBeGreaterThan(15); // batches every sendIntervalS (600 s) or so, and connects
    const stored = cloud.uplinksOf('trk-cli').map((u) => u.id);
    expect(stored.length).toBe(s.uplinksAcked);
    expect(stored[stored.length - 1]).toBeLessThanOrEqual(s.lastUplinkId);
    expect(cloud.connectsOf('trk-cli')).toBeGreaterThanOrEqual(3); // a connect per virtual hour
    expect(r.stderr).toMatch(/info: started: device trk-cli/); // the module's log, on stderr
    // Three virtual hours against a cloud on the wall clock: the stamps run ahead, and it is said, once.
    expect(s.cloudClockAheadS).toBeGreaterThan(2 * 3600);
    const notices = r.stderr.split('\n').filter((l) => /notice: the cloud's clock .* ahead of the cloud's time.*--realtime/.test(l));
    expect(notices).toHaveLength(1);
    const text = await run(['device', ...flags, '--hours', '2']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/clock: uplinks stamped up to \d+ h \d+ min ahead of the cloud's clock/);
  });

  it('--flash FILE keeps the store (0600, it holds the keys): the second run uses the stored identity (with a notice), even a rotated key', async () => {
    const { cloud, d, flags } = await separateCloud('trk-flash');
    const file = path.join(tmp(), 'board.bin');
    const one = await run(['device', ...flags, '--hours', '1', '--flash', file, '--json']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout).identitySource).toBe('flags');
    expect(fs.statSync(file).size).toBe(32 * 4096);
    expect(fs.existsSync(`${file}.kv`)).toBe(true);
    expect((fs.statSync(`${file}.kv`).mode & 0o777).toString(8)).toBe('600');
    // The operator revokes the key: the next run meets a 401, resets and stores a new key.
    cloud.revokeKey(d.apiKey);
    const two = await run(['device', ...flags, '--hours', '1', '--flash', file, '--json']);
    expect(two.code).toBe(0);
    expect(two.stderr).toMatch(/notice: .*board\.bin\.kv already holds device trk-flash of tenant acme: using the stored identity/);
    const s2 = JSON.parse(two.stdout);
    expect(s2).toMatchObject({ identitySource: 'store', resets: 1, boots: 2 });
    expect(s2.lastUplinkId).toBeGreaterThan(JSON.parse(one.stdout).lastUplinkId); // ids continue, never reused
    expect((fs.statSync(`${file}.kv`).mode & 0o777).toString(8)).toBe('600'); // still, after the rotated key was stored
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

  it('exits 1 and says so when the cloud never answered (a wrong port)', async () => {
    const { flags, url } = await separateCloud('trk-down');
    await server!.close(); // nothing listens there any more
    server = null;
    const r = await run(['device', ...flags, '--hours', '2', '--json']);
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout); // the summary still comes
    expect(s.uplinksAcked).toBe(0);
    expect(s.httpAnswers).toBe(0);
    expect(s.buffered).toBeGreaterThan(0);
    const last = r.stderr.trim().split('\n').pop()!;
    expect(last).toBe(`trackagent-sim: device: the cloud at ${url} never answered (connection refused or host not found x${s.transportFailures['connection refused or host not found']}): check --environment (host and port) and that the cloud is running`);
    expectNoStack(r.stderr);
  });

  it('refuses bad flags and a broken store with one line and exit 2', async () => {
    const { flags } = await separateCloud('trk-bad');
    expectOneLineError(await run(['device', ...flags, '--hours', 'soon']), /--hours 'soon'/);
    expectOneLineError(await run(['device', ...flags, '--hours', '-1']), /--hours '-1' is not a number above 0/);
    expectOneLineError(await run(['device', ...flags, '--color']), /unknown flag --color/);
    expectOneLineError(await run(['device', '--tenant', 'acme']), /--environment, --device, --api-key, --reset-secret missing/);
    expectOneLineError(await run(['device', ...flags.filter((f) => f !== '--dev')]), /plain http:\/\/.*--dev/);
    const withShortSecret = [...flags.slice(0, flags.indexOf('--reset-secret')), '--reset-secret', 'short-secret-x', '--dev'];
    const short = await run(['device', ...withShortSecret]);
    expectOneLineError(short, /refused its identity.*resetSecret/);
    expect(short.stderr).not.toContain('short-secret-x');
    const dir = tmp();
    // A store file of garbage is damage, not a reason to stop (contract: the device falls back to
    // its factory values): without an identity anywhere, what is missing is said.
    fs.writeFileSync(path.join(dir, 'b.kv'), '{not json');
    expectOneLineError(await run(['device', '--flash', path.join(dir, 'b'), '--hours', '1']), /--environment, --tenant, --device, --api-key, --reset-secret missing/);
    fs.writeFileSync(path.join(dir, 'c'), Buffer.alloc(100));
    expectOneLineError(await run(['device', ...flags, '--flash', path.join(dir, 'c'), '--hours', '1']), /broken store: flash image .* is 100 bytes/);
    expectOneLineError(await run(['device', ...flags, '--flash', '/nonexistent/dir/f.bin', '--hours', '1']), /cannot write --flash \/nonexistent\/dir\/f\.bin \(\/nonexistent\/dir: no such file or folder\)/);
    expectOneLineError(await run(['device', ...flags, '--flash', dir, '--hours', '1']), /--flash .* is a folder/);
  });
});

/** A `cloud` child running until stopped: resolves with what it printed once it is ready. */
function startCloud(args: string[]) {
  return new Promise<{ p: ChildProcess; out: string; err: () => string }>((resolve, reject) => {
    const p = spawnBin(['cloud', ...args]);
    let out = '';
    let err = '';
    p.stderr!.on('data', (c) => (err += c));
    p.stdout!.on('data', (c) => { out += c; if (out.includes('Ctrl-C')) resolve({ p, out, err: () => err }); });
    p.on('exit', (code) => reject(new Error(`cloud exited ${code}: ${out}${err}`)));
  });
}
const stopCloud = (p: ChildProcess) => new Promise<number | null>((resolve) => { p.removeAllListeners('exit'); p.on('exit', (c) => resolve(c)); p.kill('SIGINT'); });

/** The string entries of an NVS partition image (ESP-IDF's format, version 2): namespace -> key -> value. */
function readNvs(image: Buffer): Record<string, Record<string, string>> {
  const PAGE = 4096, ENTRY = 32, FIRST = 64, ENTRIES = 126;
  const names = new Map<number, string>();
  const strings: { ns: number; key: string; value: string }[] = [];
  for (let page = 0; page + PAGE <= image.length; page += PAGE) {
    if (image.readUInt32LE(page) === 0xffffffff) continue; // an empty page
    for (let i = 0; i < ENTRIES;) {
      const e = page + FIRST + i * ENTRY;
      if (image.subarray(e, e + ENTRY).every((b) => b === 0xff)) { i++; continue; }
      const ns = image[e], type = image[e + 1], span = Math.max(1, image[e + 2]);
      const key = image.subarray(e + 8, e + 24).toString('latin1').replace(/\0.*$/s, '');
      if (ns === 0 && type === 0x01) names.set(image[e + 24], key);
      if (type === 0x21) {
        const size = image.readUInt16LE(e + 24);
        strings.push({ ns, key, value: image.subarray(e + ENTRY, e + ENTRY + size).toString('utf8').replace(/\0$/, '') });
      }
      i += span;
    }
  }
  const out: Record<string, Record<string, string>> = {};
  for (const s of strings) (out[names.get(s.ns) ?? `#${s.ns}`] ??= {})[s.key] = s.value;
  return out;
}

/** ESP-IDF's NVS partition generator from PyPI: installed by .ci/run; installed here when missing. */
function nvsGenerator(): { ok: true } | { ok: false; why: string } {
  const have = () => spawnSync('python3', ['-c', 'import esp_idf_nvs_partition_gen'], { stdio: 'ignore' }).status === 0;
  if (have()) return { ok: true };
  const pip = spawnSync('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--break-system-packages', 'esp-idf-nvs-partition-gen'], { encoding: 'utf8' });
  if (have()) return { ok: true };
  return { ok: false, why: `pip could not install esp-idf-nvs-partition-gen (no network to PyPI?): ${(pip.stderr || pip.error?.message || '').split('\n').filter(Boolean).pop() ?? ''}` };
}

describe('trackagent-sim cloud', () => {
  it('serves the fake cloud for device runs and keeps its state in --state DIR', async () => {
    const dir = tmp();
    const args = ['--state', dir, '--provision', 'trk-st', '--tenant', 'acme'];
    const first = await startCloud(args);
    const line = first.out.split('\n').find((l) => l.includes('--api-key'))!;
    for (const m of line.matchAll(/--(?:api-key|reset-secret) (\S+)/g)) recordSecret(m[1]);
    const deviceFlags = line.trim().split(/\s+/);
    const r = await run(['device', ...deviceFlags, '--hours', '2', '--json']);
    expect(r.code).toBe(0);
    const acked = JSON.parse(r.stdout).uplinksAcked;
    expect(acked).toBeGreaterThan(0);
    expect(await stopCloud(first.p)).toBe(0);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'cloud.json'), 'utf8'));
    expect(saved.devices[0].deviceId).toBe('trk-st');
    expect(saved.devices[0].uplinks.length).toBe(acked);
    const second = await startCloud(args);
    expect(second.out).toMatch(/state loaded from/);
    expect(second.out).toMatch(/device trk-st exists/);
    expect(await stopCloud(second.p)).toBe(0);
  });

  it('--public-url is what boards are told; --nvs-csv writes the factory NVS CSV that ESP-IDF\'s generator takes', async (ctx) => {
    const dir = tmp();
    const csv = path.join(dir, 'factory.csv');
    const c = await startCloud(['--public-url', 'http://192.0.2.10', '--provision', 'trk-0001', '--tenant', 'acme', '--nvs-csv', csv]);
    const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(c.out)?.[1];
    expect(port).toBeDefined();
    const url = `http://192.0.2.10:${port}`; // the port listened on, since the URL named none
    expect(c.out).toContain(`fake cloud: ${url} (listening on http://127.0.0.1:${port})`);
    const line = c.out.split('\n').find((l) => l.includes('--api-key'))!;
    expect(line).toContain(`--environment ${url} --dev --tenant acme --device trk-0001`);
    const apiKey = /--api-key (\S+)/.exec(line)![1], resetSecret = /--reset-secret (\S+)/.exec(line)![1];
    recordSecret(apiKey);
    recordSecret(resetSecret);
    expect(c.out).toContain(`written to ${csv} (mode 0600`);
    expect(await stopCloud(c.p)).toBe(0);
    expect((fs.statSync(csv).mode & 0o777).toString(8)).toBe('600');
    const rows = fs.readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows).toEqual([
      'key,type,encoding,value', `${NVS_NAMESPACE},namespace,,`,
      'tenantId,data,string,acme', 'deviceId,data,string,trk-0001', `environment,data,string,${url}`,
      `apiKey,data,string,${apiKey}`, `resetSecret,data,string,${resetSecret}`,
    ]);
    // The board's partition (boards/esp32/partitions.csv: nvs, 24 KiB), made by ESP-IDF's own generator.
    const gen = nvsGenerator();
    if (!gen.ok) { ctx.skip(gen.why); return; }
    const bin = path.join(dir, 'nvs.bin');
    const g = spawnSync('python3', ['-m', 'esp_idf_nvs_partition_gen', 'generate', csv, bin, '0x6000'], { encoding: 'utf8' });
    expect(g.status, g.stdout + g.stderr).toBe(0);
    const image = fs.readFileSync(bin);
    expect(image.length).toBe(0x6000);
    expect(readNvs(image)).toEqual({ [NVS_NAMESPACE]: { tenantId: 'acme', deviceId: 'trk-0001', environment: url, apiKey, resetSecret } });
    expect(NVS_KEYS.every((k) => k.length <= 15)).toBe(true);
  });

  it('refuses what no board could use, and a --state that is a file, at once with one line', async () => {
    const dir = tmp();
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    expectOneLineError(await run(['cloud', '--state', file]), /--state .*a-file is a file, not a folder/);
    expectOneLineError(await run(['cloud', '--host', '0.0.0.0']), /--host 0\.0\.0\.0 listens on every address.*--public-url/);
    expectOneLineError(await run(['cloud', '--host', 'nonsense.invalid']), /--host nonsense\.invalid is not an address of this machine/);
    expectOneLineError(await run(['cloud', '--port', '-1']), /--port '-1' is not a port from 0 to 65535/);
    expectOneLineError(await run(['cloud', '--port', '70000']), /--port '70000' is not a port/);
    expectOneLineError(await run(['cloud', '--public-url', 'ftp://x']), /--public-url ftp:\/\/x is not http\(s\)/);
    expectOneLineError(await run(['cloud', '--public-url', 'http://x:1/api']), /has a path/);
    expectOneLineError(await run(['cloud', '--provision', 'a', '--nvs-csv', path.join(dir, 'f.csv')]), /loopback address.*--public-url/);
    expectOneLineError(await run(['cloud', '--public-url', 'http://192.0.2.1:1', '--provision', 'a', '--provision', 'b', '--nvs-csv', path.join(dir, 'f.csv')]), /exactly one --provision/);
    expectOneLineError(await run(['cloud', '--public-url', 'http://192.0.2.1:1', '--provision', 'a', '--nvs-csv', path.join(file, 'f.csv')]), /--nvs-csv .*a-file is not a folder/);
    // A port in use: the message says so, and what to do.
    const taken = await startCloudServer(new FakeCloud());
    server = taken;
    expectOneLineError(await run(['cloud', '--port', new URL(taken.url).port]), /port \d+ on 127\.0\.0\.1 is in use: pick another --port/);
  });
});

describe('a failure nobody foresaw', () => {
  it('is one line that says how to get more, and the stack only when asked for', () => {
    const e = new Error('boom\nsecond line');
    const before = process.env.TRACKAGENT_DEBUG;
    try {
      delete process.env.TRACKAGENT_DEBUG;
      expect(internalError(e)).toBe('trackagent-sim: internal error: boom: please report it (TRACKAGENT_DEBUG=1 shows where)\n');
      process.env.TRACKAGENT_DEBUG = '1';
      expect(internalError(e)).toContain(e.stack!);
    } finally {
      if (before === undefined) delete process.env.TRACKAGENT_DEBUG;
      else process.env.TRACKAGENT_DEBUG = before;
    }
  });
});

describe('progress bar', () => {
  it('never draws wider than the terminal, so that \\r redraws it in place', () => {
    for (const columns of [40, 60, 80, 100, 200]) {
      let out = '';
      const stream = { isTTY: true, columns, write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WriteStream;
      const p = new Progress({ durationMs: 8760 * 3_600_000, devices: 100_000, stream });
      for (let i = 1; i <= 50; i++) { p.update(i / 51); (p as unknown as { lastDraw: number }).lastDraw = -1e9; }
      p.done();
      const frames = out.split('\r').filter(Boolean).map((f) => f.replace('\x1b[K', '').replace(/\n$/, ''));
      expect(frames.length).toBeGreaterThan(10);
      for (const f of frames) {
        expect(f.length, `${columns} columns: ${f}`).toBeLessThan(columns);
        expect(f).not.toContain('\n');
        expect(f).toMatch(/^fleet .*\d+%/);
      }
      if (columns >= 60) expect(frames.at(-1)).toMatch(/\[#+\] 100%/);
    }
  });
});
