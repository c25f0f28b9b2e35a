// Virtual time for one or many simulated devices. The clock jumps to the next wake-up or
// event while no HTTP exchange is in flight; while one is, it waits for the real answer
// (sockets stay real). Every device sees its own monotonic clock (time since its boot).
import type { DeviceHost } from './device-host.ts';

export class Scheduler {
  /** Simulation time, ms since the start. */
  now = 0;
  readonly devices: DeviceHost[] = [];
  /** Called after every advance of the clock (progress bars, fault windows, plots). */
  onTick: ((now: number) => void) | null = null;

  constructor(readonly utcStartMs: number) {}

  utcNow(): number { return this.utcStartMs + this.now; }

  add(d: DeviceHost): void {
    d.bootAt = this.now;
    d.utcAtBootMs = this.utcStartMs + this.now;
    this.devices.push(d);
  }

  /** Powers a device on (again) at the current time; returns the start status. */
  boot(d: DeviceHost, afterTrap = false): number {
    d.bootAt = this.now;
    d.utcAtBootMs = this.utcStartMs + this.now;
    const rc = d.boot(0, afterTrap);
    if (rc === 0) d.step(0);
    return rc;
  }

  private local(d: DeviceHost): number { return this.now - d.bootAt; }

  /** Runs until simulation time `end` (ms). */
  async runUntil(end: number): Promise<void> {
    for (;;) {
      // Settle what is due now: answers that arrived, fixes and wake-ups.
      let inflight: Promise<void>[] = [];
      for (const d of this.devices) this.settle(d);
      for (const d of this.devices) if (d.http && !d.http.result) inflight.push(d.http.promise);
      if (inflight.length > 0) {
        await Promise.race(inflight);
        continue;
      }
      let next = Infinity;
      for (const d of this.devices) {
        if (!d.started) continue;
        next = Math.min(next, d.bootAt + d.wakeAt);
        if (d.gnss) next = Math.min(next, d.bootAt + d.gnss.at);
        if (d.http?.result && d.http.deliverAt !== undefined) next = Math.min(next, d.bootAt + d.http.deliverAt);
      }
      if (next > end) {
        this.now = end;
        this.onTick?.(this.now);
        return;
      }
      if (next > this.now) {
        this.now = next;
        this.onTick?.(this.now);
      }
      inflight = [];
    }
  }

  /** Delivers everything of one device that is due at the current time. */
  private settle(d: DeviceHost): void {
    if (!d.started) return;
    for (let guard = 0; guard < 1000; guard++) {
      const t = this.local(d);
      if (d.http?.result) {
        if (d.http.deliverAt === undefined) d.http.deliverAt = t + d.http.result.virtualMs;
        if (d.http.deliverAt <= t) { d.deliverHttp(t); continue; }
      }
      if (d.gnss && d.gnss.at <= t) { d.deliverGnss(t); continue; }
      if (d.wakeAt <= t && !(d.http && !d.http.result)) { d.step(t); if (d.wakeAt > t) continue; }
      return;
    }
    throw new Error('device did not settle: the module asked to be woken in the past 1000 times (a hot loop)');
  }
}
