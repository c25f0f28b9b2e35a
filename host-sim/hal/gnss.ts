// GNSS and motion of a simulated tracker: where it is, whether it moves, and how long a fix
// takes (or whether it times out). Positions follow a route: a seeded random walk with still
// and moving phases, or a recorded track replayed.
import { Rng } from './random.ts';

export interface GnssAnswer {
  /** Virtual ms after the request at which the answer comes. */
  afterMs: number;
  ok: boolean;
  lat: number;
  lon: number;
  accuracyM: number;
}

export interface MotionSource {
  /** Position and motion at simulation time t (ms). */
  positionAt(t: number): { lat: number; lon: number; moving: boolean };
}

export interface GnssOptions {
  /** Probability that a fix is not found within the timeout. */
  timeoutRate?: number;
  /** Time to first fix, ms: uniform between these. */
  fixMinMs?: number;
  fixMaxMs?: number;
}

export class Gnss {
  /** Told how long the receiver is on for each request (the energy meter listens). */
  onAcquire?: (onMs: number) => void;

  constructor(private route: MotionSource, private rng: Rng, private opts: GnssOptions = {}) {}

  acquire(t: number, timeoutMs: number): GnssAnswer {
    const a = this.answer(t, timeoutMs);
    this.onAcquire?.(a.afterMs);
    return a;
  }

  private answer(t: number, timeoutMs: number): GnssAnswer {
    const { timeoutRate = 0.05, fixMinMs = 2_000, fixMaxMs = 25_000 } = this.opts;
    if (this.rng.chance(timeoutRate)) return { afterMs: timeoutMs, ok: false, lat: 0, lon: 0, accuracyM: 0 };
    const afterMs = Math.min(timeoutMs, this.rng.int(fixMinMs, fixMaxMs));
    const p = this.route.positionAt(t + afterMs);
    return { afterMs, ok: true, lat: p.lat, lon: p.lon, accuracyM: Math.round((2 + this.rng.next() * 10) * 10) / 10 };
  }

  moving(t: number): boolean { return this.route.positionAt(t).moving; }
}

/** A walk in phases: still for a while, then moving at walking-to-driving speed. */
export class RandomWalk implements MotionSource {
  private phases: { start: number; end: number; moving: boolean; lat0: number; lon0: number; vLat: number; vLon: number }[] = [];
  constructor(private rng: Rng, private lat = 47.3769, private lon = 8.5417) {}

  positionAt(t: number) {
    while (this.phases.length === 0 || this.phases[this.phases.length - 1].end <= t) this.extend();
    // Phases are few (tens per day); a linear search from the end is cheap.
    let i = this.phases.length - 1;
    while (i > 0 && this.phases[i].start > t) i--;
    const p = this.phases[i];
    const dt = (t - p.start) / 1000;
    return { lat: p.lat0 + p.vLat * dt, lon: p.lon0 + p.vLon * dt, moving: p.moving };
  }

  private extend() {
    const last = this.phases[this.phases.length - 1];
    const start = last ? last.end : 0;
    let lat0 = this.lat;
    let lon0 = this.lon;
    if (last) {
      const dt = (last.end - last.start) / 1000;
      lat0 = last.lat0 + last.vLat * dt;
      lon0 = last.lon0 + last.vLon * dt;
    }
    const moving = last ? !last.moving : false;
    const duration = moving ? this.rng.int(10, 90) * 60_000 : this.rng.int(20, 240) * 60_000;
    let vLat = 0;
    let vLon = 0;
    if (moving) {
      const speed = 1 + this.rng.next() * 20; // m/s
      const heading = this.rng.next() * 2 * Math.PI;
      vLat = (speed * Math.cos(heading)) / 111_320;
      vLon = (speed * Math.sin(heading)) / (111_320 * Math.cos((lat0 * Math.PI) / 180));
    }
    this.phases.push({ start, end: start + duration, moving, lat0, lon0, vLat, vLon });
  }
}

/** A fixed point that never moves. */
export class FixedPoint implements MotionSource {
  constructor(private lat: number, private lon: number) {}
  positionAt() { return { lat: this.lat, lon: this.lon, moving: false }; }
}

/** A recorded track: points with times (ms from the track's start), replayed in a loop. */
export class Track implements MotionSource {
  private readonly duration: number;
  constructor(private points: { t: number; lat: number; lon: number }[]) {
    if (points.length < 2) throw new Error('a track needs at least two points');
    this.duration = points[points.length - 1].t - points[0].t || 1;
  }
  positionAt(t: number) {
    const base = this.points[0].t;
    const local = base + (t % this.duration);
    // The first point at or after `local` (binary search: tracks may have thousands of points).
    let lo = 1;
    let hi = this.points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.points[mid].t < local) lo = mid + 1;
      else hi = mid;
    }
    const i = lo;
    const a = this.points[i - 1];
    const b = this.points[i];
    const f = b.t === a.t ? 0 : Math.min(1, Math.max(0, (local - a.t) / (b.t - a.t)));
    const lat = a.lat + (b.lat - a.lat) * f;
    const lon = a.lon + (b.lon - a.lon) * f;
    const moving = Math.abs(b.lat - a.lat) + Math.abs(b.lon - a.lon) > 1e-6;
    return { lat, lon, moving };
  }
}
