// The hardware-in-the-loop scenarios, written once against DeviceUnderTest (dut.ts) and run
// for every driver. Assertions are made from the cloud's side and from the device's summary,
// never on timing: a board keeps its own virtual clock, the cloud keeps the wall clock.
import { expect } from 'vitest';
import { FACTORY_TRACKER_SETTINGS, FakeCloud } from '../../host-sim/cloud/fake-cloud.ts';
import { startCloudServer } from '../../host-sim/cloud/server.ts';
import type { FaultHook } from '../../host-sim/cloud/faults.ts';
import type { DeviceUnderTest } from './dut.ts';
import { makeSecret } from '../helpers/harness.ts';

export interface Rig {
  cloud: FakeCloud;
  dut: DeviceUnderTest;
  deviceId: string;
  apiKey: string;
  resetSecret: string;
  /** Endpoints the device called, in order. */
  endpoints(): string[];
  ids(): number[];
}

export async function withRig(dut: DeviceUnderTest, faults: FaultHook | null, body: (rig: Rig) => Promise<void>, settings?: Record<string, number>): Promise<void> {
  const cloud = new FakeCloud({ makeSecret, faults: faults ?? undefined });
  // A real board reaches the cloud over its network: TRACKAGENT_CLOUD_HOST is this machine's
  // address on the rig's network (loopback otherwise).
  const server = await startCloudServer(cloud, { host: process.env.TRACKAGENT_CLOUD_HOST });
  const deviceId = 'hil-1';
  const d = cloud.createDevice({ tenantId: 't1', deviceId, settings: { ...FACTORY_TRACKER_SETTINGS, ...settings } });
  try {
    await dut.provision({ environment: server.url, tenantId: 't1', deviceId, apiKey: d.apiKey, resetSecret: d.resetSecret });
    await body({
      cloud, dut, deviceId, apiKey: d.apiKey, resetSecret: d.resetSecret,
      endpoints: () => cloud.requests.filter((r) => r.deviceId === deviceId && r.endpoint !== 'operator').map((r) => r.endpoint),
      ids: () => cloud.uplinksOf(deviceId).map((u) => u.id),
    });
  } finally {
    await dut.dispose();
    await server.close();
  }
}

/**
 * The most uplinks the factory sendIntervalS may still hold at the end of a run with the cloud
 * up: the positions of its last 600 s at the moving interval, a health uplink and the one recorded now.
 */
const WAITING = FACTORY_TRACKER_SETTINGS.sendIntervalS / FACTORY_TRACKER_SETTINGS.movingIntervalS + 2;

/** Every uplink recorded is in the cloud once, but for `buffered` still waiting on the device. */
function expectDeliveredOnce(rig: Rig, recorded: number, buffered = 0) {
  const ids = rig.ids();
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.length).toBe(recorded - buffered);
  for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
}

/** Whether the hostile phase of a two-phase scenario is on (its fault hook reads it). */
const HOSTILE = { on: false };

export interface Scenario {
  name: string;
  faults?: () => FaultHook;
  /** Over the cloud's factory settings. */
  settings?: Record<string, number>;
  run(rig: Rig): Promise<void>;
}

/** Answers `action` to the first `n` device requests. */
function firstN(n: number, action: Parameters<FaultHook>[0] extends never ? never : ReturnType<FaultHook>): FaultHook {
  let left = n;
  return (ctx) => (ctx.endpoint !== 'operator' && left-- > 0 ? action : null);
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'handshake: connect, then every uplink delivered once',
    async run(rig) {
      const s = (await rig.dut.run({ hours: 2 }))!;
      expect(rig.endpoints()[0]).toBe('connect');
      expect(s.uplinksRecorded).toBeGreaterThan(20);
      expect(s.buffered).toBeLessThanOrEqual(WAITING);
      expectDeliveredOnce(rig, s.uplinksRecorded, s.buffered);
      const body = rig.cloud.lastConnectBody(rig.deviceId) as Record<string, unknown>;
      expect(body.firmware).toBe('hil');
    },
  },
  {
    name: 'key rotation: a revoked key is replaced through the reset endpoint',
    async run(rig) {
      rig.cloud.revokeKey(rig.apiKey);
      const s = (await rig.dut.run({ hours: 1 }))!;
      expect(rig.endpoints().slice(0, 3)).toEqual(['connect', 'reset', 'connect']);
      expect(s.resets).toBe(1);
      expect(rig.cloud.apiKeyOf(rig.deviceId)).not.toBe(rig.apiKey);
      expect(s.buffered).toBeLessThanOrEqual(WAITING);
      expectDeliveredOnce(rig, s.uplinksRecorded, s.buffered);
    },
  },
  {
    name: '403: the device backs off, never resets, keeps its data',
    async run(rig) {
      rig.cloud.updateDevice(rig.deviceId, { isEnabled: false });
      const s = (await rig.dut.run({ hours: 3 }))!;
      expect(rig.endpoints().every((e) => e === 'connect')).toBe(true);
      expect(rig.endpoints().length).toBeLessThan(12);
      expect(s.buffered).toBe(s.uplinksRecorded);
      rig.cloud.updateDevice(rig.deviceId, { isEnabled: true });
      const t = (await rig.dut.run({ hours: 8 }))!;
      expect(t.buffered).toBeLessThanOrEqual(WAITING);
      expectDeliveredOnce(rig, s.uplinksRecorded + t.uplinksRecorded, t.buffered);
    },
  },
  {
    name: '404: long back-off, no reset, data kept',
    async run(rig) {
      rig.cloud.deleteDevice(rig.deviceId);
      const s = (await rig.dut.run({ hours: 12 }))!;
      expect(rig.endpoints().includes('reset')).toBe(false);
      expect(rig.endpoints().length).toBeLessThanOrEqual(4);
      expect(s.buffered).toBe(s.uplinksRecorded);
      expect(s.dropped).toBe(0);
    },
  },
  {
    name: '429 and 5xx: retried until delivered',
    faults: () => {
      let n = 0;
      return (ctx) => (ctx.endpoint !== 'operator' && n++ < 6 ? { kind: 'status', status: n % 2 ? 503 : 429, retryAfter: { seconds: 30 } } : null);
    },
    async run(rig) {
      const s = (await rig.dut.run({ hours: 3 }))!;
      expect(rig.cloud.requests.filter((r) => r.status === 429 || r.status === 503).length).toBe(6);
      expect(s.buffered).toBeLessThanOrEqual(WAITING);
      expectDeliveredOnce(rig, s.uplinksRecorded, s.buffered);
    },
  },
  {
    name: 'outage and backfill: dropped connections, then the backlog drains in batches',
    faults: () => firstN(25, { kind: 'drop' }),
    async run(rig) {
      const s = (await rig.dut.run({ hours: 12 }))!;
      expect(rig.endpoints()).toContain('backfill');
      expect(s.buffered).toBeLessThanOrEqual(WAITING);
      expectDeliveredOnce(rig, s.uplinksRecorded, s.buffered);
    },
  },
  {
    name: 'power cut: killed mid-run, restarted on the same flash: nothing lost, nothing twice',
    async run(rig) {
      const cut = await rig.dut.run({ hours: 6, cutAfterFlashOps: 40 });
      expect(cut).toBeNull();
      const s = (await rig.dut.run({ hours: 4 }))!;
      expect(s.boots).toBe(2);
      expect(s.buffered).toBeLessThanOrEqual(WAITING);
      const ids = rig.ids();
      expect(new Set(ids).size).toBe(ids.length);
      // Every id issued in the second run arrived but those still waiting; from the first, those that were recorded.
      expect(ids.length + s.buffered).toBeGreaterThanOrEqual(s.uplinksRecorded);
      expect(Math.max(...ids) + s.buffered).toBe(s.lastUplinkId);
    },
  },
  {
    name: 'traps: the module is restarted after each one, nothing lost',
    // A trap every 10 steps: each uplink at once, so that the steps (and traps) come with the uplinks.
    settings: { sendIntervalS: 0 },
    async run(rig) {
      const s = (await rig.dut.run({ hours: 2, trapEvery: 10 }))!;
      expect(s.traps).toBeGreaterThan(3);
      expect(s.buffered).toBe(0);
      const ids = rig.ids();
      expect(new Set(ids).size).toBe(ids.length);
      expect(Math.max(...ids)).toBe(s.lastUplinkId);
    },
  },
  {
    name: '1,000 traps in a row: every one recovered, zero uplinks lost',
    settings: { sendIntervalS: 0 },
    async run(rig) {
      const s = (await rig.dut.run({ hours: 180, trapEvery: 10 }))!;
      expect(s.traps).toBeGreaterThanOrEqual(1000);
      expect(s.buffered).toBe(0);
      expect(s.dropped).toBe(0);
      const ids = rig.ids();
      expect(new Set(ids).size).toBe(ids.length);
      // Every uplink recorded (in any instance) is in the cloud: as many as the device counted.
      expect(ids.length).toBeGreaterThanOrEqual(s.uplinksRecorded);
      expect(Math.max(...ids)).toBe(s.lastUplinkId);
    },
  },
  {
    name: 'hostile cloud: every uplink 401 and every reset 200 for 6 h: within the request budget, then all delivered',
    faults: () => (ctx) => (HOSTILE.on && (ctx.endpoint === 'uplink' || ctx.endpoint === 'backfill') ? { kind: 'status', status: 401 } : null),
    async run(rig) {
      HOSTILE.on = true;
      const s = (await rig.dut.run({ hours: 6 }))!;
      // Nothing was acknowledged, so every request counts: at most 60 an hour (contract).
      expect(rig.endpoints().length).toBeLessThanOrEqual(6 * 60);
      expect(rig.endpoints().filter((e) => e === 'reset').length).toBeGreaterThan(3); // it did try
      expect(s.buffered).toBe(s.uplinksRecorded);
      HOSTILE.on = false;
      const t = (await rig.dut.run({ hours: 4 }))!;
      expect(t.buffered).toBeLessThanOrEqual(WAITING);
      expectDeliveredOnce(rig, s.uplinksRecorded + t.uplinksRecorded, t.buffered);
    },
  },
  {
    name: 'lying cloud: 2xx answers that acknowledge nothing keep the uplinks until a verified one',
    faults: () => {
      const bodies = ['{"accepted":1,"dupl', 'null', '<html>ok</html>', '{"id":7}', '{"accepted":0,"duplicates":0}', ''];
      let n = 0;
      return (ctx) => (HOSTILE.on && (ctx.endpoint === 'uplink' || ctx.endpoint === 'backfill')
        ? { kind: 'body', status: n % 2 ? 200 : 201, body: bodies[n++ % bodies.length], afterHandling: true }
        : null);
    },
    async run(rig) {
      HOSTILE.on = true;
      const s = (await rig.dut.run({ hours: 3 }))!;
      expect(s.buffered).toBe(s.uplinksRecorded); // stored by the cloud, never acknowledged: kept
      expect(rig.endpoints().length).toBeLessThanOrEqual(3 * 60);
      HOSTILE.on = false;
      const t = (await rig.dut.run({ hours: 3 }))!;
      expect(t.buffered).toBeLessThanOrEqual(WAITING);
      expectDeliveredOnce(rig, s.uplinksRecorded + t.uplinksRecorded, t.buffered);
    },
  },
];
