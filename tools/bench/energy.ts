// Energy figures of `npm run bench` (issue 14 item 5): one profile (a position every 300 s,
// health every 3,600 s, 24 h, moving half the time), charged by the simulator's energy model
// (host-sim/hal/energy.ts) for each radio, beside the same device with no connection or
// session reuse; and the TLS handshakes of the same profile measured on real TLS (the fake
// cloud over loopback, counted by the server) beside the model's count.
import { FACTORY_TRACKER_SETTINGS, FakeCloud } from '../../host-sim/cloud/fake-cloud.ts';
import { startCloudServer } from '../../host-sim/cloud/server.ts';
import { makeTestTls } from '../../host-sim/cloud/test-ca.ts';
import { STAT } from '../../host-sim/device-host.ts';
import { ENERGY, EnergyMeter, RADIOS, type EnergyReport, type RadioKind } from '../../host-sim/hal/energy.ts';
import { SocketTransport } from '../../host-sim/hal/http.ts';
import type { MotionSource } from '../../host-sim/hal/gnss.ts';
import { Rng } from '../../host-sim/hal/random.ts';
import { SIM_START_UTC, Scheduler } from '../../host-sim/scheduler.ts';
import { simDevice } from '../../host-sim/sim-device.ts';
import { world } from './figures.ts';

const HOUR = 3_600_000;
/** The profile of issue 14: remote settings (the factory sendIntervalS), and 24 h. */
export const ENERGY_PROFILE = { uplinkIntervalS: 300, movingIntervalS: 300, heartbeatS: 3600, sendIntervalS: FACTORY_TRACKER_SETTINGS.sendIntervalS } as const;
/** The same profile, each uplink sent at once: what the batching is judged against. */
export const ENERGY_PROFILE_AT_ONCE = { ...ENERGY_PROFILE, sendIntervalS: 0 } as const;
export const ENERGY_HOURS = 24;
/** Goal (assumption: what a battery tracker is commonly sold on): 30 days on 2,000 mAh. */
export const ENERGY_GOAL_DAYS = 30;

/** Still for half an hour, then moving for half an hour, and so on: moving half the time. */
export class HalfMoving implements MotionSource {
  constructor(private lat = 47.3769, private lon = 8.5417) {}
  positionAt(t: number) {
    const moving = Math.floor(t / (HOUR / 2)) % 2 === 1;
    return { lat: this.lat + (moving ? (t % HOUR) * 1e-8 : 0), lon: this.lon, moving };
  }
}

/** The profile on one device in process, charged with `radio`; reuse off: every exchange a new connection and a full handshake. */
export async function chargedProfile(radio: RadioKind, reuse = true, settings: Record<string, number> = ENERGY_PROFILE): Promise<EnergyReport & { uplinks: number }> {
  const meter = reuse ? new EnergyMeter(radio) : new EnergyMeter(radio, undefined, 0, 0);
  const w = world(settings, { energy: meter, route: new HalfMoving() });
  await w.sched.runUntil(ENERGY_HOURS * HOUR);
  return { ...meter.report(ENERGY_HOURS * HOUR, w.device.stat(STAT.acked)), uplinks: w.cloud.uplinksOf(w.deviceId).length };
}

/**
 * The same profile over real TLS: a production device, the socket transport keeping its
 * connection and TLS session in virtual time, the fake cloud counting handshakes; the model
 * charged alongside on the same events.
 */
export async function measuredTls(hours = ENERGY_HOURS, settings: Record<string, number> = ENERGY_PROFILE, session: { keepAliveMs: number; sessionLifetimeMs: number } = { keepAliveMs: ENERGY.tls.keepAliveMs, sessionLifetimeMs: ENERGY.tls.sessionLifetimeMs }) {
  const tls = makeTestTls();
  const sched = new Scheduler(SIM_START_UTC);
  const cloud = new FakeCloud({ now: () => sched.utcNow() });
  const server = await startCloudServer(cloud, { tls: { cert: tls.cert, key: tls.key, sessionLifetimeMs: session.sessionLifetimeMs } });
  const transport = new SocketTransport({ ca: tls.ca, realTimeoutCapMs: 2_000, virtualNow: () => sched.now, ...session });
  try {
    cloud.baseUrl = server.url;
    const d = cloud.createDevice({ tenantId: 't1', deviceId: 'tls-1', settings: { type: 'tracker', ...settings } });
    const meter = new EnergyMeter('wifi', undefined, session.keepAliveMs, session.sessionLifetimeMs);
    const device = simDevice({
      identity: { tenantId: 't1', deviceId: 'tls-1', environment: server.url, apiKey: d.apiKey, resetSecret: d.resetSecret },
      flash: { sectorSize: 4096, sectorCount: 32, progSize: 4 },
      http: transport,
      gnss: { route: new HalfMoving(), options: { timeoutRate: 0, fixMinMs: 1_000, fixMaxMs: 1_000 } },
      rng: new Rng(5),
      board: { dev: false, firmware: 'bench', allowHosts: ['127.0.0.1'] },
      scheduler: sched,
      energy: meter,
    });
    if (sched.boot(device) !== 0) throw new Error('the TLS bench device did not start');
    await sched.runUntil(hours * HOUR);
    return {
      measured: { ...server.handshakes }, model: { full: meter.counts.tlsFull, resumed: meter.counts.tlsResumed },
      acked: device.stat(STAT.acked), uplinks: cloud.uplinksOf('tls-1').length,
    };
  } finally {
    transport.close();
    await server.close();
  }
}

type Charged = EnergyReport & { uplinks: number };

export async function energyFigures() {
  // reuse: the profile as shipped; none: no connection or session reuse; atOnce: reuse, but
  // each uplink sent at once (sendIntervalS 0).
  const radios: Record<string, { reuse: Charged; none: Charged; atOnce: Charged }> = {};
  for (const radio of RADIOS) {
    radios[radio] = { reuse: await chargedProfile(radio), none: await chargedProfile(radio, false), atOnce: await chargedProfile(radio, true, ENERGY_PROFILE_AT_ONCE) };
  }
  const tls = await measuredTls();
  const tlsAtOnce = await measuredTls(ENERGY_HOURS, ENERGY_PROFILE_AT_ONCE);
  return { profile: ENERGY_PROFILE, hours: ENERGY_HOURS, goalDays: ENERGY_GOAL_DAYS, radios, tls, tlsAtOnce };
}
