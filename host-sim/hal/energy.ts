// The energy model of a simulated tracker: ONE table of constants (each with its source, or
// marked as an assumption), and a meter that charges a device for what it did in virtual time:
// radio association (Wi-Fi) or attach and wakes from PSM (LTE-M), full and resumed TLS
// handshakes, bytes each way, GNSS on-time, CPU awake time and sleep. Nothing here is typed
// in as a result: the figures come from the events the simulation produced.
//
// Currents are battery currents at a constant supply (assumption: a 3.7 V cell through an
// LDO, so the chip's current is the battery's); an energy given in mJ is turned into charge
// at that voltage. mAh = mA x hours.
import type { HttpRequest, HttpResult, HttpTransport } from './http.ts';

export type RadioKind = 'wifi' | 'ltem';
export const RADIOS: readonly RadioKind[] = ['wifi', 'ltem'];
export const DEFAULT_RADIO: RadioKind = 'wifi';
/** The battery when --battery-mah names none. */
export const DEFAULT_BATTERY_MAH = 2000;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The constants, one place. Sources in the comments; "assumption" where there is none. */
export const ENERGY = {
  /** Assumption: a 3.7 V Li-ion cell (the voltage Nordic's power profiler measures at). */
  supplyV: 3.7,
  cpu: {
    /**
     * Instructions per acknowledged uplink: wasm3 on x86-64 under callgrind, about 494,000
     * (the figure of issue 14's brief; README's steady-state bench figure is 535,789). The
     * RV32 figure (3.09 M, minstret) would be x6: this is the optimistic end.
     */
    instructionsPerUplink: 494_000,
    /** ESP32 at 160 MHz (the ESP-IDF default CPU frequency). */
    clockHz: 160e6,
    /** Assumption: one instruction per cycle (Xtensa LX6 issues most in one cycle; x86 and Xtensa counts differ). */
    instructionsPerCycle: 1,
    /** ESP32 Series Datasheet v3.5, Table 6: modem-sleep, CPU on at 160 MHz, dual core 27-44 mA: the top. */
    activeMa: 44,
    /** ESP32 Series Datasheet v3.5, Table 6: light-sleep 0.8 mA (between events; deep sleep is issue 14 item 4). */
    lightSleepMa: 0.8,
  },
  wifi: {
    /** Assumption: association (scan, auth, DHCP) about 1 s; the ESP8266EX datasheet (Table 3-4 notes) gives 0.3-1 s to connect to the AP. */
    associationMs: 1_000,
    /** ESP-WROOM-32 user manual, Table 5: Wi-Fi Rx and listening 80-90 mA: the middle. */
    listenMa: 85,
    /** ESP-WROOM-32 user manual, Table 5: Wi-Fi Tx packet 13-21 dBm, 160-260 mA: the middle. */
    txMa: 210,
    /** Assumption: effective application throughput for small requests, 1 Mbit/s each way. */
    bitsPerSecond: 1e6,
    /**
     * Between exchanges the station stays associated in the association sleep pattern:
     * ESP-WROOM-32 user manual, Table 5: 0.9 mA at DTIM3 (light sleep with Wi-Fi kept).
     * Replaces the CPU's light-sleep current while the radio is up.
     */
    idleMa: 0.9,
    /** The station stays associated (today's ESP32 port): association once per power-on. */
    idleOffMs: Infinity,
    /** Nothing to pay after the last exchange beyond idleMa. */
    tailMs: 0,
    tailMa: 0,
    /**
     * Full TLS handshake on an ESP32: 1,664 ms measured (haumacher/phoneblock#322, 240 MHz);
     * ESP-IDF issues #8852 and #10523 report 2-3 s. CPU and radio listening meanwhile.
     */
    tlsFullMs: 1_700,
    /** Resumed: the same issue says resumption skips about 1.5 s of the 1.66 s (the asymmetric crypto). */
    tlsResumedMs: 200,
    /** Current during a handshake: radio listening (the CPU's share is in the module's figure). */
    tlsMa: 85,
  },
  ltem: {
    /** Assumption: attach once per power-on, 3 s at the 23 dBm uplink current (no PS figure for attach). */
    associationMs: 3_000,
    /** nRF9160 PS v2.x, modem current, IRMC_23DBM (Cat-M1, 180 kbit/s uplink, B13): 100 mA. */
    listenMa: 100,
    txMa: 100,
    /** nRF9160 PS: the RMC uplink rate, 180 kbit/s; assumption: the same down. */
    bitsPerSecond: 180e3,
    /** nRF9160 PS, IPSM PSM floor current 2.7 uA; the host MCU's light sleep is added (assumption: an ESP32 host with an nRF9160 modem). */
    idleMa: 0.0027,
    /** The modem drops to PSM after the RRC tail: the next exchange pays a PSM wake. */
    idleOffMs: 10_000,
    /** Assumption: the network's RRC inactivity timer, 10 s of connected-mode DRX after the last exchange. */
    tailMs: 10_000,
    /** Assumption: 5 mA average in connected DRX (the nRF91 white paper nwp_034 shows cDRX as short peaks). */
    tailMa: 5,
    /** Assumption: a full handshake over LTE-M takes longer (2 more round trips of ~0.6 s): 3 s. */
    tlsFullMs: 3_000,
    /** Assumption: one round trip plus the symmetric crypto: 0.8 s. */
    tlsResumedMs: 800,
    /** nRF9160 PS, IRMC_0DBM 45 mA: connected, mostly receiving (assumption: low TX duty). */
    tlsMa: 45,
    /** nRF9160 PS, PSM TAU event Cat-M1 at 23 dBm: 105 mJ over 1.5 s: the cost of a wake from PSM (assumption: a mobile-originated wake costs as much). */
    wakeMj: 105,
    wakeMs: 1_500,
  },
  gnss: {
    /**
     * nRF9160 PS, GPS current IGPS_CONTINUOUS (continuous tracking without power saving,
     * typical peak): 44.3 mA, charged for every ms the receiver is on (acquiring a fix).
     * A u-blox M10 is lower (assumption: not cited here); this is the conservative end.
     */
    acquisitionMa: 44.3,
  },
  tls: {
    /** The server's keep-alive idle timeout: a request later than this after the previous answer needs a new connection (the README's 60 s). */
    keepAliveMs: 60_000,
    /**
     * How long the server honours a TLS session (ticket lifetime / session cache timeout):
     * a new connection within this of the last handshake resumes. The TLS fake cloud
     * (cloud --tls) is set to the same. Assumption: one hour, a common server setting.
     */
    sessionLifetimeMs: HOUR_MS,
  },
} as const;

export interface RadioProfile {
  associationMs: number; listenMa: number; txMa: number; bitsPerSecond: number;
  idleMa: number; idleOffMs: number; tailMs: number; tailMa: number;
  tlsFullMs: number; tlsResumedMs: number; tlsMa: number;
  wakeMj?: number; wakeMs?: number;
}

/** What the energy goes into; every entry in mAh. */
export const ENERGY_PARTS = ['association', 'radioWake', 'tlsFull', 'tlsResumed', 'transfer', 'radioTail', 'gnss', 'cpu', 'sleep'] as const;
export type EnergyPart = (typeof ENERGY_PARTS)[number];
export type EnergyBreakdown = Record<EnergyPart, number>;

export interface EnergyCounts {
  associations: number;
  radioWakes: number;
  connections: number;
  tlsFull: number;
  tlsResumed: number;
  bytesUp: number;
  bytesDown: number;
  gnssOnMs: number;
  exchanges: number;
}

export interface EnergyReport {
  radio: RadioKind;
  batteryMah: number;
  hours: number;
  mAh: number;
  mAhPerDay: number;
  /** mAh per day, by part; the parts add up to mAhPerDay. */
  perDay: EnergyBreakdown;
  daysOnBattery: number;
  counts: EnergyCounts;
  cpuAwakeMs: number;
}

const mah = (ma: number, ms: number) => (ma * ms) / HOUR_MS;

/** Bytes an HTTP/1.1 request puts on the wire (request line, headers, body); TLS framing not counted. */
export function requestBytes(req: HttpRequest): number {
  let n = req.method.length + req.url.length + 12 + req.body.length;
  for (const [k, v] of Object.entries(req.headers)) n += k.length + v.length + 4;
  return n;
}
/** Bytes of an answer as the device reads it (status line, headers, body). */
export function answerBytes(r: HttpResult): number {
  let n = 17 + r.body.length;
  for (const [k, v] of Object.entries(r.headers)) n += k.length + v.length + 4;
  return n;
}

/** The charge of one simulated device, from the events it reports. */
export class EnergyMeter {
  readonly profile: RadioProfile;
  readonly counts: EnergyCounts = { associations: 0, radioWakes: 0, connections: 0, tlsFull: 0, tlsResumed: 0, bytesUp: 0, bytesDown: 0, gnssOnMs: 0, exchanges: 0 };
  private used: EnergyBreakdown = Object.fromEntries(ENERGY_PARTS.map((p) => [p, 0])) as EnergyBreakdown;
  private radioAwakeMs = 0;
  private attached = false;
  private radioUp = false;
  private lastEnd = -Infinity;
  private connOpen = false;
  private sessionAt = -Infinity;

  constructor(readonly radio: RadioKind = DEFAULT_RADIO, readonly batteryMah = DEFAULT_BATTERY_MAH, readonly keepAliveMs: number = ENERGY.tls.keepAliveMs, readonly sessionLifetimeMs: number = ENERGY.tls.sessionLifetimeMs) {
    this.profile = ENERGY[radio];
  }

  /**
   * One exchange starting at `now` (virtual ms): whether it needs a new connection and which
   * handshake. The connection rule: reused while the previous answer is younger than the
   * keep-alive and the exchange succeeded; a new connection resumes the TLS session when the
   * last handshake is younger than the session lifetime, else it is a full handshake.
   * Returns the handshake the exchange made (what a TLS server would count).
   */
  exchange(now: number, bytesUp: number, bytesDown: number, ok: boolean): 'none' | 'full' | 'resumed' {
    const p = this.profile;
    this.counts.exchanges++;
    // The radio: associate / attach once; after idleOffMs the modem sleeps and a wake costs.
    const gap = now - this.lastEnd;
    if (!this.attached) {
      this.attached = true;
      this.radioUp = true;
      this.counts.associations++;
      this.charge('association', p.listenMa, p.associationMs);
    } else if (!this.radioUp || gap > p.idleOffMs) {
      this.radioUp = true;
      this.counts.radioWakes++;
      if (p.wakeMj !== undefined && p.wakeMs !== undefined) {
        this.used.radioWake += (p.wakeMj / ENERGY.supplyV / 3600); // mJ / V = mC; / 3600 = mAh
        this.radioAwakeMs += p.wakeMs;
      } else {
        this.counts.associations++;
        this.charge('association', p.listenMa, p.associationMs);
      }
    }
    if (Number.isFinite(this.lastEnd) && p.tailMs > 0) this.charge('radioTail', p.tailMa, Math.min(p.tailMs, gap));
    let handshake: 'none' | 'full' | 'resumed' = 'none';
    if (!this.connOpen || gap > this.keepAliveMs) {
      this.counts.connections++;
      if (now - this.sessionAt <= this.sessionLifetimeMs) {
        handshake = 'resumed';
        this.counts.tlsResumed++;
        this.charge('tlsResumed', p.tlsMa, p.tlsResumedMs);
      } else {
        handshake = 'full';
        this.counts.tlsFull++;
        this.charge('tlsFull', p.tlsMa, p.tlsFullMs);
      }
      this.sessionAt = now;
    }
    this.counts.bytesUp += bytesUp;
    this.counts.bytesDown += bytesDown;
    const upMs = (bytesUp * 8 * 1000) / p.bitsPerSecond;
    const downMs = (bytesDown * 8 * 1000) / p.bitsPerSecond;
    this.used.transfer += mah(p.txMa, upMs) + mah(p.listenMa, downMs);
    this.radioAwakeMs += upMs + downMs;
    this.connOpen = ok;
    this.lastEnd = now;
    return handshake;
  }

  /** The GNSS receiver was on for this long (a fix or a timeout). */
  gnssOn(ms: number) {
    this.counts.gnssOnMs += ms;
    this.used.gnss += mah(ENERGY.gnss.acquisitionMa, ms);
  }

  private charge(part: EnergyPart, ma: number, ms: number) {
    this.used[part] += mah(ma, ms);
    this.radioAwakeMs += ms;
  }

  /** The whole run: `durationMs` of virtual time, `ackedUplinks` acknowledged (the CPU's work). */
  report(durationMs: number, ackedUplinks: number): EnergyReport {
    const c = ENERGY.cpu;
    const cpuAwakeMs = (ackedUplinks * c.instructionsPerUplink * 1000) / (c.clockHz * c.instructionsPerCycle);
    const parts: EnergyBreakdown = { ...this.used, cpu: mah(c.activeMa, cpuAwakeMs) };
    let radioAwakeMs = this.radioAwakeMs;
    const p = this.profile;
    if (Number.isFinite(this.lastEnd) && p.tailMs > 0) {
      // The tail after the last exchange of the run.
      const tail = Math.max(0, Math.min(p.tailMs, durationMs - this.lastEnd));
      parts.radioTail += mah(p.tailMa, tail);
      radioAwakeMs += tail;
    }
    // Asleep whenever neither the CPU nor the radio is busy: the MCU's light sleep, plus the
    // radio's idle current while it is up (Wi-Fi's DTIM pattern includes the chip's sleep).
    const asleepMs = Math.max(0, durationMs - cpuAwakeMs - radioAwakeMs);
    // Before the first exchange the radio is off: the MCU's light sleep alone.
    const sleepMa = !this.attached ? c.lightSleepMa : this.radio === 'wifi' ? p.idleMa : c.lightSleepMa + p.idleMa;
    parts.sleep = mah(sleepMa, asleepMs);
    const total = ENERGY_PARTS.reduce((n, k) => n + parts[k], 0);
    const days = durationMs / DAY_MS;
    const perDay = Object.fromEntries(ENERGY_PARTS.map((k) => [k, days > 0 ? parts[k] / days : 0])) as EnergyBreakdown;
    const mAhPerDay = days > 0 ? total / days : 0;
    return {
      radio: this.radio, batteryMah: this.batteryMah, hours: durationMs / HOUR_MS, mAh: total, mAhPerDay, perDay,
      daysOnBattery: mAhPerDay > 0 ? this.batteryMah / mAhPerDay : Infinity, counts: { ...this.counts }, cpuAwakeMs,
    };
  }
}

/**
 * A transport that tells the meter about every exchange (its bytes, whether it worked), at the
 * device's virtual time; the answer is the inner transport's, unchanged.
 */
export class MeteredTransport implements HttpTransport {
  requestSync?: (req: HttpRequest) => HttpResult;

  constructor(private inner: HttpTransport, readonly meter: EnergyMeter, private now: () => number) {
    if (inner.requestSync) {
      const sync = inner.requestSync.bind(inner);
      this.requestSync = (req) => {
        const t = this.now();
        const up = requestBytes(req); // before the call: req.body may be a view valid only during it
        const r = sync(req);
        this.meter.exchange(t, up, answerBytes(r), r.status > 0);
        return r;
      };
    }
  }

  get connectionsOpened() { return this.inner.connectionsOpened; }

  async request(req: HttpRequest): Promise<HttpResult> {
    const t = this.now();
    const up = requestBytes(req);
    const r = await this.inner.request(req);
    this.meter.exchange(t, up, answerBytes(r), r.status > 0);
    return r;
  }

  close() { this.inner.close(); }
}

/** The radio named by a flag, or an error message (one line). */
export function parseRadio(s: string): RadioKind | null {
  return (RADIOS as readonly string[]).includes(s) ? (s as RadioKind) : null;
}
