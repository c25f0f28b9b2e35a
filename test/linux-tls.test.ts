// The Linux board (boards/linux, libcurl) against the fake cloud over real TLS
// (trackagent-sim cloud --tls), the handshakes counted on the SERVER side: with keep-alive,
// one full handshake and every later request on the reused connection; with the server
// closing each connection, later connections resume the TLS session from the board's shared
// session cache instead of a full handshake each. Needs `npm run build:board`.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LINUX_BOARD } from './scenarios/dut.ts';
import { FACTORY_TRACKER_SETTINGS } from '../host-sim/cloud/fake-cloud.ts';

const BIN = path.resolve('host-sim/bin/trackagent-sim.js');

/** Runs the board for `hours` virtual hours against `cloud --tls [extra]`; the server's counts. */
async function boardOverTls(hours: number, extra: string[]) {
  const caFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ta-board-ca-')), 'ca.pem');
  const cloud = spawn(process.execPath, [BIN, 'cloud', '--tls', '--ca-out', caFile, '--tenant', 't1', '--provision', 'd1', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  cloud.stderr.on('data', (c) => (err += c));
  const flags = await new Promise<string[]>((resolve, reject) => {
    cloud.on('exit', (code) => reject(new Error(`cloud exited ${code}: ${err}`)));
    cloud.stdout.on('data', (c) => {
      out += c;
      const m = /^\s+(--environment .*)$/m.exec(out);
      if (m && out.includes('Ctrl-C')) resolve(m[1].trim().split(/\s+/));
    });
  });
  const board = spawnSync(path.resolve(LINUX_BOARD), [...flags, '--cacert', caFile, '--hours', String(hours), '--json', '--log-level', '1'], { encoding: 'utf8' });
  cloud.removeAllListeners('exit');
  const code = await new Promise<number | null>((resolve) => { cloud.on('close', resolve); cloud.kill('SIGINT'); });
  expect(code).toBe(0);
  expect(board.status, board.stderr).toBe(0);
  const run = JSON.parse(board.stdout);
  const m = /TLS handshakes: (\d+) full, (\d+) resumed/.exec(err);
  expect(m, err).not.toBeNull();
  return { full: Number(m![1]), resumed: Number(m![2]), requests: run.requests as number, acked: run.uplinksAcked as number, recorded: run.uplinksRecorded as number };
}

/** What the factory sendIntervalS may still hold when a run ends: its last 600 s of positions, a health uplink, the one recorded now. */
const WAITING = FACTORY_TRACKER_SETTINGS.sendIntervalS / FACTORY_TRACKER_SETTINGS.movingIntervalS + 2;

describe.skipIf(!fs.existsSync(LINUX_BOARD))('Linux board over TLS (server-side handshake counts)', () => {
  it('keep-alive: one full handshake, every later request on the reused connection', async () => {
    const r = await boardOverTls(2, []);
    expect(r.recorded - r.acked).toBeLessThanOrEqual(WAITING);
    expect(r.requests).toBeGreaterThan(8); // 2 h of batches (sendIntervalS 600) and connects
    expect(r).toMatchObject({ full: 1, resumed: 0 });
  });

  it('the server closes every connection: later connections resume the TLS session', async () => {
    const r = await boardOverTls(2, ['--no-keep-alive']);
    expect(r.recorded - r.acked).toBeLessThanOrEqual(WAITING);
    expect(r.full + r.resumed).toBe(r.requests); // a new connection per request
    // libcurl 7.88 with OpenSSL over TLS 1.3 resumes every other connection (the ticket of a
    // resumed connection is not kept): at least that, and never a full handshake each.
    expect(r.resumed).toBeGreaterThanOrEqual(Math.floor((r.requests - 1) / 2));
    expect(r.full).toBeLessThan(r.requests);
  });
});
