// The energy model (host-sim/hal/energy.ts): the breakdown adds up to the total, a setting
// that sends more costs more (and in GNSS and the radio, not in sleep), session reuse counts
// as the model says, and the fleet's --radio and --battery-mah flags are validated.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runFleet } from '../host-sim/fleet/fleet.ts';
import { ENERGY, ENERGY_PARTS, EnergyMeter, type EnergyReport, type RadioKind } from '../host-sim/hal/energy.ts';
import { world } from '../tools/bench/figures.ts';
import { STAT } from '../host-sim/device-host.ts';

const BIN = path.resolve('host-sim/bin/trackagent-sim.js');
const HOUR = 3_600_000;

/** One device for `hours` at the given settings, charged with `radio`: its energy report. */
async function charged(settings: Record<string, number>, radio: RadioKind, hours = 12): Promise<EnergyReport> {
  // The bench's world (one device, in-process cloud) with an energy meter.
  const meter = new EnergyMeter(radio);
  const w = world(settings, { energy: meter });
  await w.sched.runUntil(hours * HOUR);
  return meter.report(hours * HOUR, w.device.stat(STAT.acked));
}

describe('energy model', () => {
  it('the breakdown adds up to the total, per radio', async () => {
    for (const radio of ['wifi', 'ltem'] as const) {
      const r = await charged({}, radio);
      const sum = ENERGY_PARTS.reduce((n, k) => n + r.perDay[k], 0);
      expect(r.mAhPerDay).toBeGreaterThan(0);
      expect(Math.abs(sum - r.mAhPerDay)).toBeLessThan(1e-9 * r.mAhPerDay);
      expect(r.daysOnBattery).toBeCloseTo(r.batteryMah / r.mAhPerDay, 9);
      for (const k of ENERGY_PARTS) expect(r.perDay[k]).toBeGreaterThanOrEqual(0);
      expect(r.counts.exchanges).toBeGreaterThan(50); // 12 h of batches every sendIntervalS or so, and connects
      expect(r.counts.tlsFull).toBeGreaterThanOrEqual(1);
    }
  });

  const radioPart = (r: EnergyReport) => r.perDay.transfer + r.perDay.tlsFull + r.perDay.tlsResumed + r.perDay.radioWake + r.perDay.radioTail;

  it('doubling the position rate costs more: GNSS and radio energy rise, sleep does not', async () => {
    for (const radio of ['wifi', 'ltem'] as const) {
      // Each uplink at once: the radio's share follows the rate.
      const slow = await charged({ uplinkIntervalS: 600, movingIntervalS: 600, sendIntervalS: 0 }, radio);
      const fast = await charged({ uplinkIntervalS: 300, movingIntervalS: 300, sendIntervalS: 0 }, radio);
      expect(fast.mAhPerDay).toBeGreaterThan(slow.mAhPerDay);
      expect(fast.perDay.gnss).toBeGreaterThan(slow.perDay.gnss * 1.5);
      expect(radioPart(fast)).toBeGreaterThan(radioPart(slow) * 1.5);
      expect(fast.perDay.sleep).toBeLessThanOrEqual(slow.perDay.sleep);
      expect(fast.counts.bytesUp).toBeGreaterThan(slow.counts.bytesUp * 1.5);
    }
  });

  it('at the factory sendIntervalS, doubling the position rate raises GNSS and radio energy, and the radio less than the rate', async () => {
    for (const radio of ['wifi', 'ltem'] as const) {
      const slow = await charged({ uplinkIntervalS: 600, movingIntervalS: 600 }, radio);
      const fast = await charged({ uplinkIntervalS: 300, movingIntervalS: 300 }, radio);
      expect(fast.perDay.gnss).toBeGreaterThan(slow.perDay.gnss * 1.5);
      expect(radioPart(fast)).toBeGreaterThan(radioPart(slow));
      expect(radioPart(fast)).toBeLessThan(radioPart(slow) * 2); // the batches carry more, not more often
      expect(fast.perDay.sleep).toBeLessThanOrEqual(slow.perDay.sleep);
      expect(fast.counts.bytesUp).toBeGreaterThan(slow.counts.bytesUp * 1.5);
    }
  });

  it('connections and handshakes follow the keep-alive and the session lifetime', () => {
    const m = new EnergyMeter('wifi');
    const ka = ENERGY.tls.keepAliveMs;
    expect(m.exchange(0, 100, 100, true)).toBe('full');
    expect(m.exchange(ka - 1, 100, 100, true)).toBe('none'); // within the keep-alive: same connection
    expect(m.exchange(2 * ka + 1, 100, 100, true)).toBe('resumed'); // new connection, session alive
    expect(m.exchange(2 * ka + 2, 100, 100, false)).toBe('none'); // failed: the connection is gone
    expect(m.exchange(2 * ka + 3, 100, 100, true)).toBe('resumed');
    const late = 2 * ka + 3 + ENERGY.tls.sessionLifetimeMs + 1;
    expect(m.exchange(late, 100, 100, true)).toBe('full'); // the session expired
    expect(m.counts).toMatchObject({ connections: 4, tlsFull: 2, tlsResumed: 2, associations: 1, exchanges: 6 });
  });

  it('the fleet reports energy per device and for the fleet, on the radio asked for', async () => {
    const runs = await Promise.all((['wifi', 'ltem'] as const).map((radio) =>
      runFleet({ devices: 3, hours: 6, seed: 3, transport: 'memory', faults: 'none', radio, batteryMah: 1000 })));
    for (const [i, radio] of (['wifi', 'ltem'] as const).entries()) {
      const ds = runs[i].summary.devices;
      expect(ds).toHaveLength(3);
      for (const d of ds) {
        expect(d.energy!.radio).toBe(radio);
        expect(d.energy!.batteryMah).toBe(1000);
        expect(d.energy!.counts.exchanges).toBeGreaterThanOrEqual(d.requests);
      }
    }
    // The same devices, the same events: only the radio's charges differ.
    expect(runs[1].summary.devices[0].energy!.perDay.radioWake).toBeGreaterThan(0);
    expect(runs[0].summary.devices[0].energy!.perDay.radioWake).toBe(0);
    expect(runs[0].summary.devices[0].energy!.perDay.gnss).toBe(runs[1].summary.devices[0].energy!.perDay.gnss);
  });

  it('fleet --radio and --battery-mah: one-line errors, exit 2; --json carries the energy', () => {
    for (const [args, what] of [[['--radio', '5g'], /--radio '5g' is neither wifi nor ltem/], [['--battery-mah', '0'], /--battery-mah '0' is not a number above 0/], [['--battery-mah', 'lots'], /--battery-mah 'lots'/]] as const) {
      const r = spawnSync(process.execPath, [BIN, 'fleet', '--transport', 'memory', '--devices', '1', '--hours', '1', ...args], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(what);
    }
    const ok = spawnSync(process.execPath, [BIN, 'fleet', '--transport', 'memory', '--devices', '2', '--hours', '2', '--radio', 'ltem', '--battery-mah', '500', '--json', '--report', path.resolve('build/energy-test-report.html')], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const j = JSON.parse(ok.stdout);
    expect(j.energy.radio).toBe('ltem');
    expect(j.energy.batteryMah).toBe(500);
    expect(j.energy.daysOnBattery).toBeCloseTo(500 / j.energy.mAhPerDay, 6);
    expect(j.perDevice[0].energy.mAhPerDay).toBeGreaterThan(0);
    const report = fs.readFileSync(path.resolve('build/energy-test-report.html'), 'utf8');
    expect(report).toContain('days on a 500 mAh battery');
    expect(report).toContain(`${j.energy.mAhPerDay.toFixed(2)} mAh per day`);
    const help = spawnSync(process.execPath, [BIN, 'fleet', '--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/--radio R .*default\)/);
    expect(help.stdout).toMatch(/--battery-mah N .*default 2,000/);
  });
});
