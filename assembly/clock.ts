// UTC without a battery-backed clock. The host gives monotonic milliseconds since power-on;
// UTC is learned from hints (the Date header of a response, a GNSS fix) and kept as an offset
// from that monotonic clock. The rules (contract, "Time"):
//  - a GNSS fix outranks a Date header: it sets an unset or tentative clock at once;
//  - one Date header alone only makes the clock *tentative* (good enough to read a Retry-After
//    date); the clock is *trusted* once a GNSS fix, or the Date of another answer at least
//    MIN_SPAN_MS later, agrees within AGREE_MS. Only a trusted clock stamps uplinks and decides
//    key rotation, so one lying answer can never date an uplink;
//  - a trusted clock moves by at most an hour on one hint, backwards by at most a minute; a
//    larger or a Date-only correction is held until later hints agree with it (two for a GNSS
//    correction, three Dates spread over MIN_SPAN_MS for a Date-only one), and a hint that
//    agrees with the clock as it is drops what was held (so a lie repeated between honest
//    answers never confirms itself);
//  - while GNSS has agreed with the clock in the last GNSS_RULES_MS, Dates cannot move it.
// Why the span: answers that arrive together (a connect and the uplinks after it, a retry a
// second later) can carry the same wrong absolute Date, and a fixed value read twice in one
// moment agrees with itself. Spread over a minute, a fixed wrong Date no longer agrees (its
// offset drifts with the monotonic clock), and random lies agreeing three times are too rare
// to meet (the chaos simulator's 100,000 device-days met two agreeing ones four times).
// A consistently lying source is undetectable and out of scope.

const MAX_BACKSTEP_MS: i64 = 60_000;
const MAX_STEP_MS: i64 = 3_600_000;
/** Two hints agree when their offsets differ by at most this: a slow answer's Date lags. */
const AGREE_MS: i64 = 30_000;
const CANDIDATES: i32 = 4;
/** Agreeing hints count only when taken this far apart (see the header). */
const MIN_SPAN_MS: i64 = 60_000;
/** A GNSS fix that agreed this recently outranks any Date. */
const GNSS_RULES_MS: i64 = 6 * 3_600_000;
/** Hints (the new one included) that must agree before a Date-only correction moves a trusted clock. */
const DATE_CORRECTION_VOTES: i32 = 3;
// Hints before 2020 or after 2200 are not a clock, they are noise.
const UTC_MIN_MS: i64 = 1_577_836_800_000;
const UTC_MAX_MS: i64 = 7_258_118_400_000;

export const HINT_DATE: i32 = 1;
export const HINT_GNSS: i32 = 2;

export const HINT_IGNORED: i32 = 0;   // out of range, or noise within AGREE_MS
export const HINT_HELD: i32 = 1;      // kept as a candidate until another hint agrees
export const HINT_APPLIED: i32 = 2;   // the clock moved (or became trusted)

class Candidate {
  offset: i64 = 0;
  firstMono: i64 = 0;
  votes: i32 = 0;
  used: bool = false;
}

export class UtcClock {
  /** Some estimate exists (tentative or trusted). */
  known: bool = false;
  /** Confirmed: stamps uplinks, schedules key rotation. */
  trusted: bool = false;
  private offsetMs: i64 = 0; // utc = mono + offset
  // The offset records taken before the clock was trusted are placed with: set when it became
  // trusted or stepped, not by the small corrections of each fix, so an uplink sent again
  // carries the same timestamp (a retry is the same uplink, byte for byte).
  private anchorMs: i64 = 0;
  private held: StaticArray<Candidate> = new StaticArray<Candidate>(CANDIDATES);
  private gnssSeen: bool = false;
  private gnssAgreedAt: i64 = 0;
  private nextSlot: i32 = 0;

  constructor() {
    for (let i = 0; i < CANDIDATES; i++) this.held[i] = new Candidate();
  }

  /** Applies a hint taken at monotonic time `monoMs`; returns HINT_IGNORED/HELD/APPLIED. */
  hint(utcMs: i64, monoMs: i64, source: i32): i32 {
    if (utcMs < UTC_MIN_MS || utcMs > UTC_MAX_MS) return HINT_IGNORED;
    const offset = utcMs - monoMs;
    if (!this.trusted) {
      if (source == HINT_GNSS || this.confirmed(offset, monoMs, 2)) return this.set(offset, monoMs, source);
      this.hold(offset, monoMs);
      this.offsetMs = offset; // the newest estimate, tentative
      this.known = true;
      return HINT_HELD;
    }
    const d = offset - this.offsetMs;
    const size = d < 0 ? -d : d;
    if (size <= AGREE_MS) {
      this.dropHeld();
      if (source != HINT_GNSS) return HINT_IGNORED; // a Date's lag is noise at this scale
      this.gnssAgreedAt = monoMs;
      this.gnssSeen = true;
      this.offsetMs += d < -MAX_BACKSTEP_MS ? -MAX_BACKSTEP_MS : d;
      return HINT_APPLIED;
    }
    if (source == HINT_GNSS && size <= MAX_STEP_MS) {
      this.dropHeld();
      this.gnssAgreedAt = monoMs;
      this.gnssSeen = true;
      this.offsetMs += d < -MAX_BACKSTEP_MS ? -MAX_BACKSTEP_MS : d;
      this.anchorMs = this.offsetMs; // a correction, not a tweak: records move with it
      return HINT_APPLIED;
    }
    if (source != HINT_GNSS && this.gnssSeen && monoMs - this.gnssAgreedAt < GNSS_RULES_MS) return HINT_IGNORED;
    if (this.confirmed(offset, monoMs, source == HINT_GNSS ? 2 : DATE_CORRECTION_VOTES)) return this.set(offset, monoMs, source);
    this.hold(offset, monoMs);
    return HINT_HELD;
  }

  /**
   * When another agreeing Date could first make a tentative clock trusted (the candidate the
   * tentative value came from, plus MIN_SPAN_MS); -1 when there is none.
   */
  confirmableAt(): i64 {
    for (let i = 0; i < CANDIDATES; i++) {
      const c = this.held[i];
      if (c.used && agree(this.offsetMs, c.offset)) return c.firstMono + MIN_SPAN_MS;
    }
    return -1;
  }

  /** UTC at monotonic time `monoMs` of this boot; only meaningful when `known`. */
  utcAt(monoMs: i64): i64 { return monoMs + this.offsetMs; }

  /** UTC of a record taken at `monoMs` of this boot before the clock was trusted. */
  anchorAt(monoMs: i64): i64 { return monoMs + this.anchorMs; }

  private set(offset: i64, monoMs: i64, source: i32): i32 {
    this.offsetMs = offset;
    this.anchorMs = offset;
    this.known = true;
    this.trusted = true;
    if (source == HINT_GNSS) {
      this.gnssSeen = true;
      this.gnssAgreedAt = monoMs;
    }
    this.dropHeld();
    return HINT_APPLIED;
  }

  private dropHeld(): void {
    for (let i = 0; i < CANDIDATES; i++) this.held[i].used = false;
  }

  /**
   * Whether this hint makes `votes` agreeing hints with a held candidate first taken at least
   * MIN_SPAN_MS earlier (each hint is another answer or fix).
   */
  private confirmed(offset: i64, monoMs: i64, votes: i32): bool {
    for (let i = 0; i < CANDIDATES; i++) {
      const c = this.held[i];
      if (!c.used || !agree(offset, c.offset)) continue;
      if (c.votes + 1 >= votes && monoMs - c.firstMono >= MIN_SPAN_MS) return true;
    }
    return false;
  }

  /** Counts the hint towards an agreeing candidate, or holds it as a new one. */
  private hold(offset: i64, monoMs: i64): void {
    for (let i = 0; i < CANDIDATES; i++) {
      const c = this.held[i];
      if (c.used && agree(offset, c.offset)) {
        // Votes taken in one moment count once: a fixed lie read twice is one lie.
        if (monoMs - c.firstMono >= MIN_SPAN_MS) c.votes++;
        return;
      }
    }
    const c = this.held[this.nextSlot];
    this.nextSlot = (this.nextSlot + 1) % CANDIDATES;
    c.offset = offset;
    c.firstMono = monoMs;
    c.votes = 1;
    c.used = true;
  }
}

function agree(a: i64, b: i64): bool {
  const d = a - b;
  return d <= AGREE_MS && d >= -AGREE_MS;
}

// Days from 1970-01-01 to a civil date (proleptic Gregorian), and back. The usual
// era-based arithmetic: no tables, no loops, exact for every year we can meet.
export function daysFromCivil(y: i64, m: i64, d: i64): i64 {
  y -= m <= 2 ? 1 : 0;
  const era = (y >= 0 ? y : y - 399) / 400;
  const yoe = y - era * 400;
  const mp = (m + 9) % 12;
  const doy = (153 * mp + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

function pad(v: i64, width: i32): string {
  let s = v.toString();
  while (s.length < width) s = "0" + s;
  return s;
}

/** `2026-11-23T10:15:00Z` (whole seconds, as the cloud writes them). */
export function formatIso(utcMs: i64): string {
  const secs = utcMs >= 0 ? utcMs / 1000 : (utcMs - 999) / 1000;
  let days = secs / 86400;
  let rem = secs - days * 86400;
  if (rem < 0) { rem += 86400; days -= 1; }
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const d = doy - (153 * mp + 2) / 5 + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T" +
    pad(rem / 3600, 2) + ":" + pad((rem / 60) % 60, 2) + ":" + pad(rem % 60, 2) + "Z";
}

function num(s: string, at: i32, len: i32): i64 {
  if (at + len > s.length) return -1;
  let v: i64 = 0;
  for (let i = 0; i < len; i++) {
    const d = s.charCodeAt(at + i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function daysInMonth(y: i64, mo: i64): i64 {
  if (mo == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
  return mo == 4 || mo == 6 || mo == 9 || mo == 11 ? 30 : 31;
}

/** A civil date-time in UTC ms, or -1: a date that does not exist (30 February) is no date. */
function civilMs(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64): i64 {
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60) return -1;
  if (d > daysInMonth(y, mo)) return -1;
  return ((daysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000;
}

/** `YYYY-MM-DDTHH:MM:SS` with optional fraction and `Z` or `+HH:MM`. -1 if malformed. */
export function parseIso(s: string): i64 {
  if (s.length < 20 || s.length > 40) return -1;
  if (s.charCodeAt(4) != 0x2d || s.charCodeAt(7) != 0x2d || s.charCodeAt(13) != 0x3a || s.charCodeAt(16) != 0x3a) return -1;
  const t = s.charCodeAt(10);
  if (t != 0x54 && t != 0x74 && t != 0x20) return -1;
  let ms = civilMs(num(s, 0, 4), num(s, 5, 2), num(s, 8, 2), num(s, 11, 2), num(s, 14, 2), num(s, 17, 2));
  if (ms < 0) return -1;
  let i = 19;
  if (i < s.length && s.charCodeAt(i) == 0x2e) {
    i++;
    const start = i;
    while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    if (i == start) return -1;
  }
  if (i >= s.length) return -1;
  const z = s.charCodeAt(i);
  if ((z == 0x5a || z == 0x7a) && i + 1 == s.length) return ms;
  if ((z == 0x2b || z == 0x2d) && i + 6 == s.length && s.charCodeAt(i + 3) == 0x3a) {
    const oh = num(s, i + 1, 2);
    const om = num(s, i + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return -1;
    const off = (oh * 60 + om) * 60000;
    return z == 0x2b ? ms - off : ms + off;
  }
  return -1;
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/** An HTTP date, IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`). -1 if malformed. */
export function parseHttpDate(s: string): i64 {
  if (s.length != 29 || s.charCodeAt(3) != 0x2c || !s.endsWith(" GMT")) return -1;
  const mon = s.substring(8, 11);
  const mi = MONTHS.indexOf(mon);
  if (mi < 0 || mi % 3 != 0) return -1;
  if (s.charCodeAt(4) != 0x20 || s.charCodeAt(7) != 0x20 || s.charCodeAt(11) != 0x20 || s.charCodeAt(16) != 0x20 ||
    s.charCodeAt(19) != 0x3a || s.charCodeAt(22) != 0x3a) return -1;
  return civilMs(num(s, 12, 4), <i64>(mi / 3 + 1), num(s, 5, 2), num(s, 17, 2), num(s, 20, 2), num(s, 23, 2));
}
