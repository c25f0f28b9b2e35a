// Where the simulated trackers go: a seeded random walk around a start point (default), or a
// GPX track replayed with stops, each device starting at another point of it. Both have still
// and moving phases, so that both sampling intervals of the agent are exercised.
import fs from 'node:fs';
import { DOMParser } from '@xmldom/xmldom';
import { gpx } from '@tmcw/togeojson';
import { RandomWalk, Track, type MotionSource } from '../hal/gnss.ts';
import { Rng } from '../hal/random.ts';
import { why } from '../cli-util.ts';

export interface TrackPoint { t: number; lat: number; lon: number }

/** Speed assumed for a GPX without times, m/s (city driving). */
const DEFAULT_SPEED = 12;

/** Reads a GPX file into timed points (ms from the first). Throws one readable sentence. */
export function readGpx(file: string): TrackPoint[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file} (${why(e)})`);
  }
  return parseGpx(text, file);
}

export function parseGpx(text: string, name = 'GPX'): TrackPoint[] {
  let doc;
  let reason = '';
  try {
    doc = new DOMParser({ onError: (level, msg) => { if (level === 'fatalError') { reason ||= String(msg).split('\n')[0]; throw new Error(reason); } } }).parseFromString(text, 'text/xml');
  } catch (e) {
    // xmldom wraps our error in its own ("Reporting fatalError ... caused ..."): the reason and the place only.
    const at = (e as { locator?: { lineNumber?: number; columnNumber?: number } }).locator;
    const where = at?.lineNumber ? `, line ${at.lineNumber}${at.columnNumber ? ` column ${at.columnNumber}` : ''}` : '';
    throw new Error(`${name} is not well-formed XML (${reason || 'unreadable'}${where})`);
  }
  if (!doc.documentElement || doc.documentElement.nodeName.toLowerCase() !== 'gpx') throw new Error(`${name} is not a GPX document (no <gpx> root)`);
  const features = gpx(doc).features;
  const segments: { coords: number[][]; times: (string | null)[] }[] = [];
  for (const f of features) {
    const g = f.geometry;
    const times = (f.properties as { coordinateProperties?: { times?: unknown } } | null)?.coordinateProperties?.times;
    if (g?.type === 'LineString') {
      segments.push({ coords: g.coordinates, times: Array.isArray(times) && typeof times[0] !== 'object' ? (times as string[]) : [] });
    } else if (g?.type === 'MultiLineString') {
      g.coordinates.forEach((coords: number[][], i: number) => {
        const tt = Array.isArray(times) && Array.isArray(times[i]) ? (times[i] as string[]) : [];
        segments.push({ coords, times: tt });
      });
    }
  }
  const pts: { lat: number; lon: number; t: number | null }[] = [];
  for (const s of segments) {
    s.coords.forEach((c, i) => {
      const t = s.times[i] ? Date.parse(s.times[i]!) : NaN;
      pts.push({ lon: c[0], lat: c[1], t: Number.isFinite(t) ? t : null });
    });
  }
  if (pts.length < 2) throw new Error(`${name} has no track or route with at least two points`);
  pts.forEach((p, i) => {
    if (!Number.isFinite(p.lat) || p.lat < -90 || p.lat > 90) throw new Error(`${name}: point ${i + 1} has latitude ${p.lat}, outside -90 to 90`);
    if (!Number.isFinite(p.lon) || p.lon < -180 || p.lon > 180) throw new Error(`${name}: point ${i + 1} has longitude ${p.lon}, outside -180 to 180`);
  });
  // Recorded times when every point has one and they never go back; else a steady speed.
  let timed = pts.every((p) => p.t !== null);
  for (let i = 1; timed && i < pts.length; i++) if (pts[i].t! < pts[i - 1].t!) timed = false;
  const out: TrackPoint[] = [];
  let t = 0;
  for (let i = 0; i < pts.length; i++) {
    if (timed) t = pts[i].t! - pts[0].t!;
    else if (i > 0) t += (metres(pts[i - 1], pts[i]) / DEFAULT_SPEED) * 1000;
    out.push({ t, lat: pts[i].lat, lon: pts[i].lon });
  }
  if (out[out.length - 1].t <= 0) {
    // All points at one instant (or one place): spread them at the default speed.
    let acc = 0;
    for (let i = 1; i < out.length; i++) { acc += Math.max(1000, (metres(out[i - 1], out[i]) / DEFAULT_SPEED) * 1000); out[i].t = acc; }
  }
  return out;
}

function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const dLat = (b.lat - a.lat) * 111_320;
  const dLon = (b.lon - a.lon) * 111_320 * Math.cos(((a.lat + b.lat) / 2) * Math.PI / 180);
  return Math.hypot(dLat, dLon);
}

/** A recorded track replayed in moving phases, frozen in still phases (seeded). */
export class PhasedTrack implements MotionSource {
  private phases: { start: number; end: number; moving: boolean; trackAt: number }[] = [];
  private track: Track;
  constructor(points: TrackPoint[], private rng: Rng, private offsetMs: number) {
    this.track = new Track(points);
  }

  positionAt(t: number) {
    while (this.phases.length === 0 || this.phases[this.phases.length - 1].end <= t) this.extend();
    let i = this.phases.length - 1;
    while (i > 0 && this.phases[i].start > t) i--;
    const p = this.phases[i];
    const at = p.trackAt + (p.moving ? t - p.start : 0);
    const pos = this.track.positionAt(this.offsetMs + at);
    return { lat: pos.lat, lon: pos.lon, moving: p.moving && pos.moving };
  }

  private extend() {
    const last = this.phases[this.phases.length - 1];
    const start = last ? last.end : 0;
    const moving = last ? !last.moving : this.rng.chance(0.5);
    const trackAt = last ? last.trackAt + (last.moving ? last.end - last.start : 0) : 0;
    const duration = moving ? this.rng.int(10, 90) * 60_000 : this.rng.int(20, 240) * 60_000;
    this.phases.push({ start, end: start + duration, moving, trackAt });
  }
}

/** The route of fleet device `index`: on the track if one is given, else a walk near Zurich. */
export function routeFor(index: number, count: number, seed: number, track: TrackPoint[] | null): MotionSource {
  const rng = new Rng(seed);
  if (track) {
    const duration = track[track.length - 1].t - track[0].t;
    return new PhasedTrack(track, rng, Math.floor((duration * index) / Math.max(1, count)));
  }
  const lat = 47.3769 + (rng.next() - 0.5) * 0.4;
  const lon = 8.5417 + (rng.next() - 0.5) * 0.6;
  return new RandomWalk(rng, lat, lon);
}
