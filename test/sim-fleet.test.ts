// The fleet runner under each fault profile, checked from the cloud's side: nothing lost, no
// duplicate delivered, no request before a Retry-After, no retry closer than the back-off
// floor. The checks here read the cloud's own records (request log, stored uplinks), not the
// runner's summary, and then hold the summary to the same numbers.
import { describe, it, expect } from 'vitest';
import { runFleet, type FleetResult } from '../host-sim/fleet/fleet.ts';
import { UTC_START } from '../host-sim/fleet/shard.ts';
import { explainDevice, totals, worstDevices } from '../host-sim/fleet/summary.ts';
import { parseFaults, PROFILES } from '../host-sim/fleet/profiles.ts';
import { parseGpx } from '../host-sim/fleet/motion.ts';
import { makeSecret } from './helpers/harness.ts';
import { recordLogLine } from './helpers/secrets-log.ts';

const HOUR = 3_600_000;
const DEVICE_ENDPOINTS = new Set(['connect', 'reset', 'uplink', 'backfill']);

function fleet(opts: Partial<Parameters<typeof runFleet>[0]> & { faults: string }): Promise<FleetResult> {
  return runFleet({
    devices: 8, hours: 24, seed: 7, transport: 'memory', workers: 1,
    makeSecret, log: (_id, _level, line) => recordLogLine(line),
    ...opts,
  });
}

/** The delivery invariants, from the cloud's request log and stored uplinks alone. */
function checkFromCloudSide(r: FleetResult) {
  const cloud = r.cloud!;
  const out = { lost: 0, duplicatesDelivered: 0, retryAfterChecked: 0, backoffChecked: 0, tooEarly: [] as string[], tooSoon: [] as string[] };
  for (const d of r.summary.devices) {
    // What the cloud has: its stored uplinks, plus what the operator kept before deleting the device.
    const stored = cloud.uplinksOf(d.deviceId).map((u) => u.id);
    const have = new Set([...stored, ...(r.archive?.[d.deviceId] ?? [])]);
    out.duplicatesDelivered += stored.length - new Set(stored).size;
    // Recorded ids 1..lastId; the newest `buffered` are still on the device; a full log may drop some.
    let missing = 0;
    for (let id = 1; id <= d.lastId - d.buffered; id++) if (!have.has(id)) missing++;
    out.lost += Math.max(0, missing - d.dropped);
  }
  const last = new Map<string, { t: number; status: number; retryAfterS?: number }>();
  for (const q of cloud.requests) {
    if (!DEVICE_ENDPOINTS.has(q.endpoint) || !q.deviceId) continue;
    const p = last.get(q.deviceId);
    last.set(q.deviceId, q);
    if (!p) continue;
    const gap = q.t - p.t;
    if (p.retryAfterS !== undefined) {
      out.retryAfterChecked++;
      if (gap < p.retryAfterS * 1000) out.tooEarly.push(`${q.deviceId} ${gap} ms after Retry-After ${p.retryAfterS} s`);
    }
    // A transient failure (no answer, 429, 5xx): the agent waits at least its 1 s floor.
    if (p.status === 0 || p.status === 429 || p.status >= 500) {
      out.backoffChecked++;
      if (gap < 1000) out.tooSoon.push(`${q.deviceId} retried ${gap} ms after HTTP ${p.status}`);
    }
  }
  return out;
}

function expectInvariants(r: FleetResult) {
  const c = checkFromCloudSide(r);
  expect(c.tooEarly).toEqual([]);
  expect(c.tooSoon).toEqual([]);
  expect(c.lost).toBe(0);
  expect(c.duplicatesDelivered).toBe(0);
  // The runner's summary says the same.
  const t = totals(r.summary);
  expect(t.lost).toBe(0);
  expect(t.duplicatesDelivered).toBe(0);
  expect(r.summary.violationCount).toBe(0);
  expect(r.summary.violations).toEqual([]);
  // Every request was stamped by the virtual clock of the run, and the devices, which learn UTC
  // from the cloud's Date header and from GNSS, stamped their uplinks on the same clock.
  const end = UTC_START + r.info.hours * HOUR;
  for (const q of r.cloud!.requests) {
    expect(q.t).toBeGreaterThanOrEqual(UTC_START);
    expect(q.t).toBeLessThanOrEqual(end);
  }
  for (const d of r.summary.devices) {
    for (const u of r.cloud!.uplinksOf(d.deviceId)) {
      const ts = Date.parse(u.timestamp);
      expect(ts).toBeGreaterThanOrEqual(UTC_START - 1000);
      expect(ts).toBeLessThanOrEqual(end);
    }
  }
  return c;
}

describe('fleet under each fault profile (in process, 8 devices x 24 h)', () => {
  it('none: everything recorded is delivered or still in flight at the end', async () => {
    const r = await fleet({ faults: 'none' });
    const c = expectInvariants(r);
    const t = totals(r.summary);
    expect(t.recorded).toBeGreaterThan(8 * 24 * 10);
    // At most what the factory sendIntervalS (600 s) may hold per device: the positions of the last
    // 600 s at 60 s, a health uplink and the one recorded now.
    expect(t.recorded - t.delivered).toBeLessThanOrEqual(8 * (600 / 60 + 2));
    expect(t.duplicatesRejected).toBe(0);
    expect(c.retryAfterChecked).toBe(0);
    expect(r.summary.faults).toEqual({});
    // Both sampling intervals were used: moving (60 s) and still (300 s) phases.
    expect(t.recorded).toBeGreaterThan((8 * 24 * 3600) / 300);
    expect(t.recorded).toBeLessThan((8 * 24 * 3600) / 60);
  });

  it('flaky: every kind of request fault is injected, both Retry-After forms honoured', async () => {
    const r = await fleet({ faults: 'flaky' });
    const c = expectInvariants(r);
    for (const k of ['drop', 'lost', 'timeout', '5xx', '429-seconds', '429-date', 'truncated', 'nonjson', 'empty', 'huge', 'slow']) {
      expect(r.summary.faults[k], k).toBeGreaterThan(0);
    }
    expect(c.retryAfterChecked).toBeGreaterThan(10);
    expect(c.backoffChecked).toBeGreaterThan(50);
    // Answers lost after the cloud stored the uplink come back as 409s, never as a second copy.
    expect(totals(r.summary).duplicatesRejected).toBeGreaterThan(0);
    // The request log shows both forms reached the devices.
    const ra = r.cloud!.requests.filter((q) => q.status === 429 && q.retryAfterS !== undefined);
    expect(ra.length).toBe(r.summary.faults['429-seconds'] + r.summary.faults['429-date']);
  });

  it('outage: the fleet buffers through the window and drains after it', async () => {
    const r = await fleet({ faults: 'outage' });
    expectInvariants(r);
    const w = r.info.outage!;
    expect(w.end - w.start).toBe(3 * HOUR);
    const s = r.summary.series;
    const at = (t: number) => s.total[s.t.findIndex((x) => x >= t)];
    expect(at(w.end - 10 * 60_000)).toBeGreaterThan(8 * 30); // hours of uplinks held on the devices
    expect(at(w.end + 3 * HOUR)).toBeLessThan(16); // and delivered after
    // Nothing succeeded during the window.
    const inWindow = r.cloud!.requests.filter((q) => DEVICE_ENDPOINTS.has(q.endpoint) && q.t >= UTC_START + w.start && q.t < UTC_START + w.end);
    expect(inWindow.length).toBeGreaterThan(0);
    expect(inWindow.filter((q) => q.status >= 200 && q.status < 300)).toEqual([]);
    expect(r.summary.faults['outage-503'] + r.summary.faults['outage-drop'] + r.summary.faults['outage-502']).toBe(inWindow.length);
  });

  it('hostile: keys revoked, devices disabled and re-enabled, one deleted, and still nothing lost', async () => {
    const r = await fleet({ faults: 'hostile', devices: 10 });
    expectInvariants(r);
    const f = r.summary.faults;
    expect(f.revoke).toBe(1);
    expect(f.disable).toBe(1);
    expect(f.enable).toBe(1);
    expect(f.delete).toBe(1);
    const t = totals(r.summary);
    expect(t.keyResets).toBeGreaterThanOrEqual(1); // the revoked key was replaced by a reset
    expect(t.deleted).toBe(1);
    const gone = r.summary.devices.find((d) => d.deleted)!;
    expect(r.cloud!.device(gone.deviceId)).toBeUndefined();
    expect(r.archive![gone.deviceId].length).toBeGreaterThan(0);
    expect(gone.buffered).toBeGreaterThan(0); // it keeps its data for a cloud that knows it again
    // The cloud saw the consequences: a 401 (revoked key), 403s (disabled), 404s (deleted).
    const statuses = new Set(r.cloud!.requests.filter((q) => DEVICE_ENDPOINTS.has(q.endpoint)).map((q) => q.status));
    for (const s of [401, 403, 404, 429, 503]) expect(statuses.has(s), String(s)).toBe(true);
  });
});

describe('fleet over loopback sockets', () => {
  it('flaky, 5 devices x 12 h: the same invariants hold over real HTTP', async () => {
    const r = await fleet({ faults: 'flaky', transport: 'socket', devices: 5, hours: 12 });
    expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const c = expectInvariants(r);
    expect(c.backoffChecked).toBeGreaterThan(5);
    expect(totals(r.summary).connections).toBeGreaterThanOrEqual(5);
    expect(r.summary.byEndpointStatus.operator?.['201']).toBe(5); // provisioned through the operator API
  });
});

describe('fleet over loopback sockets, hostile', () => {
  it('4 devices x 8 h: the operator acts over HTTP too, and nothing is lost', async () => {
    const r = await fleet({ faults: 'hostile', transport: 'socket', devices: 4, hours: 8 });
    expectInvariants(r);
    expect(r.summary.faults).toMatchObject({ revoke: 1, disable: 1, enable: 1, delete: 1 });
    const ops = r.cloud!.requests.filter((q) => q.endpoint === 'operator').map((q) => `${q.method} ${q.status}`);
    for (const op of ['POST 201', 'GET 200', 'PUT 200', 'DELETE 204']) expect(ops).toContain(op);
    expect(r.cloud!.requests.some((q) => q.status === 0)).toBe(true); // dropped or never answered, over a real socket
  });
});

describe('fleet runner', () => {
  it('repeats a seeded run exactly, and splitting it across worker threads changes nothing a device does', async () => {
    const pick = (r: FleetResult) => r.summary.devices.map((d) => [d.deviceId, d.recorded, d.acked, d.buffered, d.lastId, d.requests, d.delivered, d.duplicatesRejected]);
    const a = await runFleet({ devices: 6, hours: 6, seed: 3, transport: 'memory', faults: 'flaky+outage', workers: 1 });
    const b = await runFleet({ devices: 6, hours: 6, seed: 3, transport: 'memory', faults: 'flaky+outage', workers: 1 });
    const c = await runFleet({ devices: 6, hours: 6, seed: 3, transport: 'memory', faults: 'flaky+outage', workers: 2 });
    expect(c.info.workers).toBe(2);
    expect(pick(b)).toEqual(pick(a));
    expect(pick(c)).toEqual(pick(a));
    expect(c.summary.faults).toEqual(a.summary.faults);
    expect(c.summary.byEndpointStatus).toEqual(a.summary.byEndpointStatus);
    const d = await runFleet({ devices: 6, hours: 6, seed: 4, transport: 'memory', faults: 'flaky+outage', workers: 1 });
    expect(pick(d)).not.toEqual(pick(a));
  });

  it('reports progress up to the end and samples buffered uplinks across the run', async () => {
    const seen: number[] = [];
    const r = await runFleet({ devices: 3, hours: 4, seed: 1, transport: 'memory', faults: 'none', workers: 1, onProgress: (f) => seen.push(f) });
    expect(seen.length).toBeGreaterThan(10);
    expect(seen[seen.length - 1]).toBe(1);
    expect(seen.every((f, i) => i === 0 || f >= seen[i - 1])).toBe(true);
    expect(r.summary.series.t[0]).toBe(0);
    expect(r.summary.series.t[r.summary.series.t.length - 1]).toBe(4 * HOUR);
    expect(r.summary.tracks.length).toBe(3);
    expect(r.summary.perMinute['2xx'].length).toBe(240);
  });

  it('follows a GPX track, with stops', async () => {
    const pts = Array.from({ length: 60 }, (_, i) =>
      `<trkpt lat="${(46.5 + i * 0.002).toFixed(4)}" lon="${(6.6 + i * 0.003).toFixed(4)}"><time>${new Date(Date.UTC(2026, 0, 1, 8, i)).toISOString()}</time></trkpt>`).join('');
    const gpx = `<?xml version="1.0"?><gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>t</name><trkseg>${pts}</trkseg></trk></gpx>`;
    const track = parseGpx(gpx);
    expect(track.length).toBe(60);
    expect(track[59].t).toBe(59 * 60_000);
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gpx-')), 'route.gpx');
    fs.writeFileSync(file, gpx);
    const r = await runFleet({ devices: 2, hours: 12, seed: 1, transport: 'memory', faults: 'none', workers: 1, trackFile: file });
    for (const tr of r.summary.tracks) {
      for (const [lat, lon] of tr.points) {
        expect(lat).toBeGreaterThanOrEqual(46.5 - 1e-6);
        expect(lat).toBeLessThanOrEqual(46.5 + 59 * 0.002 + 1e-6);
        expect(lon).toBeGreaterThanOrEqual(6.6 - 1e-6);
      }
    }
    expect(() => parseGpx('<kml/>')).toThrow(/not a GPX/);
    expect(() => parseGpx('<gpx><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>')).toThrow(/at least two points/);
  });

  it('parses and composes fault profiles, and names what is wrong', () => {
    expect(parseFaults('none').rates).toEqual({});
    expect(parseFaults('flaky+429:0.2').rates['429']).toBe(0.2);
    expect(parseFaults('none+outage:2').outageHours).toBe(2);
    const h = parseFaults('hostile');
    expect(h.revokeFraction).toBeGreaterThan(0);
    expect(h.deleteCount).toBe(1);
    expect(Object.keys(PROFILES)).toEqual(expect.arrayContaining(['none', 'flaky', 'outage', 'hostile']));
    expect(() => parseFaults('flaky+nope')).toThrow(/unknown fault 'nope'/);
    expect(() => parseFaults('drop:2')).toThrow(/between 0 and 1/);
    expect(() => parseFaults('drop:0.6+5xx:0.6')).toThrow(/more than 1/);
    expect(() => parseFaults('flaky:3')).toThrow(/takes no value/);
  });
});

describe('fleet runner: what it tells per device', () => {
  it('hostile: per-device requests, faults, log and delivery agree with the cloud\'s own records', async () => {
    const r = await fleet({ faults: 'hostile', devices: 10 });
    const s = r.summary;
    const cloud = r.cloud!;
    // Requests by status, per device, as the cloud logged them.
    for (const d of s.devices) {
      const mine: Record<string, number> = {};
      for (const q of cloud.requests) if (q.deviceId === d.deviceId && DEVICE_ENDPOINTS.has(q.endpoint)) mine[q.status] = (mine[q.status] ?? 0) + 1;
      expect(d.requestsByStatus, d.deviceId).toEqual(mine);
    }
    // Faults per device add up to the fleet's counts, kind by kind (operator actions included).
    const sum: Record<string, number> = {};
    for (const d of s.devices) for (const [k, n] of Object.entries(d.faults)) sum[k] = (sum[k] ?? 0) + n;
    expect(sum).toEqual(s.faults);
    // Every warning and error is counted by kind; the first lines are kept verbatim, in order.
    for (const d of s.devices) {
      expect(Object.values(d.logKinds).reduce((a, b) => a + b, 0)).toBe(d.warnings + d.errors);
      expect(d.logLines.length).toBe(Math.min(30, d.warnings + d.errors));
      expect(d.logLines.every((l, i) => i === 0 || l.t >= d.logLines[i - 1].t)).toBe(true);
    }
    expect(totals(s).warnings).toBeGreaterThan(100);
    // Live deliveries are exactly the single-uplink requests that stored a new uplink; the rest came by backfill.
    const live = s.series.live!.reduce((a, b) => a + b, 0);
    const backfill = s.series.backfill!.reduce((a, b) => a + b, 0);
    const storedLive = cloud.requests.filter((q) => q.endpoint === 'uplink' && (q.status === 201 || q.handledStatus === 201)).length;
    expect(live).toBe(storedLive);
    expect(backfill).toBeGreaterThan(0);
    expect(live + backfill).toBe(totals(s).delivered);
    // Per device, the series add up to the fleet's, sample by sample.
    const n = s.series.t.length;
    for (let i = 0; i < n; i++) {
      expect(s.devices.reduce((a, d) => a + s.detail[d.deviceId].buffered[i], 0)).toBe(s.series.total[i]);
      expect(s.devices.reduce((a, d) => a + s.detail[d.deviceId].live[i] + s.detail[d.deviceId].backfill[i], 0)).toBe(s.series.live![i] + s.series.backfill![i]);
    }
    // The deleted device: still drawn from what the cloud had before deleting it, and explained.
    const gone = s.devices.find((d) => d.deleted)!;
    const deletedAt = gone.operator.find((a) => a.kind === 'delete')!.t;
    expect(s.detail[gone.deviceId].track.length).toBeGreaterThan(10);
    expect(gone.lastDeliveredMs).toBeLessThanOrEqual(deletedAt);
    expect(explainDevice(gone)).toMatch(new RegExp(`deleted by the operator at \\d\\d:\\d\\d.*${gone.buffered} still buffered at the end`));
    expect(worstDevices(s, 1)[0].deviceId).toBe(gone.deviceId); // the most still buffered
  });

  it('outage: nothing is delivered inside the window, and what was held comes by backfill after it', async () => {
    const r = await fleet({ faults: 'outage' });
    const s = r.summary;
    const w = r.info.outage!;
    const inside = (i: number) => s.series.t[i] > w.start + 10 * 60_000 && s.series.t[i] <= w.end;
    const after = (i: number) => s.series.t[i] > w.end && s.series.t[i] <= w.end + 2 * HOUR;
    const sum = (a: number[], f: (i: number) => boolean) => a.reduce((x, v, i) => x + (f(i) ? v : 0), 0);
    expect(sum(s.series.live!, inside) + sum(s.series.backfill!, inside)).toBe(0);
    expect(sum(s.series.backfill!, after)).toBeGreaterThan(8 * 30);
    expect(sum(s.series.live!, (i) => s.series.t[i] <= w.start)).toBeGreaterThan(0);
  });

  it('stops early when asked, in one thread or across workers, summarised up to where it got', async () => {
    for (const workers of [1, 2]) {
      const stop = new AbortController();
      const r = await runFleet({
        devices: 6, hours: 24 * 365, seed: 5, transport: 'memory', faults: 'flaky', workers, stop: stop.signal,
        onProgress: (f) => { if (f > 0) stop.abort(); },
      });
      const s = r.summary;
      expect(s.stoppedAtMs, `workers ${workers}`).toBeGreaterThan(0);
      expect(s.stoppedAtMs!).toBeLessThan(24 * 365 * HOUR / 10);
      expect(s.series.t.at(-1)).toBe(s.stoppedAtMs);
      const t = totals(s);
      expect(t.recorded).toBeGreaterThan(0);
      expect(t.lost).toBe(0);
      expect(t.duplicatesDelivered).toBe(0);
      expect(s.devices).toHaveLength(6);
    }
  });
});
