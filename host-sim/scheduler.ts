// Virtual time for one or many simulated devices. The clock jumps to the next wake-up or
// event while no HTTP exchange is in flight; while one is, it waits for the real answer
// (sockets stay real). Every device sees its own monotonic clock (time since its boot).
//
// Devices wait in a priority queue keyed by the time of their next event (wake-up, GNSS
// answer, HTTP answer due), so one event costs O(log N) however large the fleet. A device
// whose HTTP request is in flight leaves the queue until its answer arrives.
//
// With `{ realtime: true }` the clock is the wall clock instead: the scheduler sleeps until
// the next wake-up, for a device talking to a real cloud.
import type { DeviceHost } from './device-host.ts';

/** Where the virtual UTC of a simulated run starts when nothing else matters (tests, proof, chaos, benchmarks). */
export const SIM_START_UTC = Date.parse('2026-11-23T00:00:00Z');

export interface SchedulerOptions {
  /** Follow the wall clock (sleep between wake-ups) instead of jumping. */
  realtime?: boolean;
}

type Slot = NonNullable<DeviceHost['http']>;

export class Scheduler {
  /** Simulation time, ms since the start. */
  now = 0;
  readonly devices: DeviceHost[] = [];
  /** Called after every advance of the clock (progress bars, fault windows, plots). */
  onTick: ((now: number) => void) | null = null;
  readonly realtime: boolean;

  // Indexed binary heap of devices by their next event time (absolute simulation ms).
  private index = new Map<DeviceHost, number>();
  private byIndex: DeviceHost[] = [];
  private heap: number[] = []; // device indices
  private pos: number[] = []; // device index -> position in heap, -1 when out
  private key: number[] = []; // device index -> next event time
  // HTTP exchanges in flight (no result yet), and answers that arrived since last looked at.
  private inflight: (Slot | null)[] = [];
  private inflightCount = 0;
  private arrived: number[] = [];
  private waiter: (() => void) | null = null;
  private wallStart = 0;

  constructor(readonly utcStartMs: number, options: SchedulerOptions = {}) {
    this.realtime = options.realtime ?? false;
  }

  utcNow(): number { return this.utcStartMs + this.now; }

  add(d: DeviceHost): void {
    d.bootAt = this.now;
    d.utcAtBootMs = this.utcStartMs + this.now;
    this.devices.push(d);
    this.track(d);
  }

  /** Powers a device on (again) at the current time; returns the start status. */
  boot(d: DeviceHost, afterTrap = false): number {
    d.bootAt = this.now;
    d.utcAtBootMs = this.utcStartMs + this.now;
    const rc = d.boot(0, afterTrap);
    if (rc === 0) d.step(0);
    const i = this.index.get(d);
    if (i !== undefined) this.update(i);
    return rc;
  }

  private local(d: DeviceHost): number { return this.now - d.bootAt; }

  /** Runs until simulation time `end` (ms). */
  async runUntil(end: number): Promise<void> {
    // Devices may have been changed from outside between runs (rebooted, trapped, added):
    // recompute every key once.
    for (const d of this.devices) this.track(d);
    if (this.realtime) this.wallStart = performance.now() - this.now;
    const devices = this.byIndex;
    for (;;) {
      if (this.realtime) this.followWallClock(end);
      // Answers that arrived: due now, or later by the virtual time they cost.
      while (this.arrived.length > 0) this.update(this.arrived.pop()!);
      // Settle what is due now: answers, fixes and wake-ups.
      while (this.heap.length > 0 && this.key[this.heap[0]] <= this.now) {
        const i = this.heap[0];
        this.settle(devices[i]);
        this.update(i);
      }
      if (this.inflightCount > 0) {
        if (this.arrived.length === 0) await new Promise<void>((resolve) => { this.waiter = resolve; });
        continue;
      }
      const next = this.heap.length > 0 ? this.key[this.heap[0]] : Infinity;
      if (this.realtime) {
        if (this.now >= end) return;
        await sleep(Math.min(next, end) - this.now);
        continue;
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
    }
  }

  private followWallClock(end: number): void {
    const wall = Math.min(end, Math.floor(performance.now() - this.wallStart));
    if (wall > this.now) {
      this.now = wall;
      this.onTick?.(this.now);
    }
  }

  /** Delivers everything of one device that is due at the current time. */
  private settle(d: DeviceHost): void {
    if (!d.started) return;
    for (let guard = 0; guard < 1000; guard++) {
      const t = this.local(d);
      if (d.http?.result) {
        if (d.http.deliverAt === undefined) d.http.deliverAt = t + (this.realtime ? 0 : d.http.result.virtualMs);
        if (d.http.deliverAt <= t) { d.deliverHttp(t); continue; }
      }
      if (d.gnss && d.gnss.at <= t) { d.deliverGnss(t); continue; }
      if (d.wakeAt <= t && !(d.http && !d.http.result)) { d.step(t); if (d.wakeAt > t) continue; }
      return;
    }
    throw new Error('device did not settle: the module asked to be woken in the past 1000 times (a hot loop)');
  }

  // ---- the queue ------------------------------------------------------------------------

  private track(d: DeviceHost): void {
    let i = this.index.get(d);
    if (i === undefined) {
      i = this.pos.length;
      this.index.set(d, i);
      this.byIndex.push(d);
      this.pos.push(-1);
      this.key.push(Infinity);
      this.inflight.push(null);
    }
    this.update(i);
  }

  /** Recomputes device i's next event time and in-flight state after anything touched it. */
  private update(i: number): void {
    const d = this.byIndex[i];
    const slot = d.http;
    const waiting = slot !== null && !slot.result;
    if (this.inflight[i] !== (waiting ? slot : null)) {
      if (this.inflight[i]) this.inflightCount--; // abandoned (trap, reboot) or answered
      this.inflight[i] = waiting ? slot : null;
      if (waiting) {
        this.inflightCount++;
        void slot.promise.then(() => this.arrive(i, slot));
      }
    }
    let k = Infinity;
    if (d.started && !waiting) {
      k = d.bootAt + d.wakeAt;
      if (d.gnss) k = Math.min(k, d.bootAt + d.gnss.at);
      if (slot?.result) {
        // Not yet looked at: due now (plus the virtual time it cost, fixed when settled).
        const at = slot.deliverAt === undefined ? this.now - d.bootAt : slot.deliverAt;
        k = Math.min(k, d.bootAt + at);
      }
    }
    this.setKey(i, k);
  }

  private arrive(i: number, slot: Slot): void {
    if (this.inflight[i] !== slot) return; // the device moved on (trap, reboot)
    this.inflight[i] = null;
    this.inflightCount--;
    this.arrived.push(i);
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private setKey(i: number, k: number): void {
    const p = this.pos[i];
    if (k === Infinity) {
      if (p >= 0) this.removeAt(p);
      this.key[i] = Infinity;
      return;
    }
    const old = this.key[i];
    this.key[i] = k;
    if (p < 0) {
      this.heap.push(i);
      this.pos[i] = this.heap.length - 1;
      this.up(this.heap.length - 1);
    } else if (k < old) this.up(p);
    else if (k > old) this.down(p);
  }

  private removeAt(p: number): void {
    const h = this.heap;
    const i = h[p];
    const last = h.pop()!;
    this.pos[i] = -1;
    if (p < h.length) {
      h[p] = last;
      this.pos[last] = p;
      this.down(p);
      this.up(this.pos[last]);
    }
  }

  private up(p: number): void {
    const h = this.heap, key = this.key, pos = this.pos;
    const i = h[p];
    const k = key[i];
    while (p > 0) {
      const parent = (p - 1) >> 1;
      const j = h[parent];
      if (key[j] <= k) break;
      h[p] = j;
      pos[j] = p;
      p = parent;
    }
    h[p] = i;
    pos[i] = p;
  }

  private down(p: number): void {
    const h = this.heap, key = this.key, pos = this.pos;
    const n = h.length;
    const i = h[p];
    const k = key[i];
    for (;;) {
      let c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && key[h[c + 1]] < key[h[c]]) c++;
      if (key[h[c]] >= k) break;
      h[p] = h[c];
      pos[h[c]] = p;
      p = c;
    }
    h[p] = i;
    pos[i] = p;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
