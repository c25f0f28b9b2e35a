// An uplink as the log stores it: a compact binary record, so that its absolute timestamp
// can be decided when it is sent (an uplink recorded before UTC was known is re-anchored
// then, or goes with "timeUnknown"). Records read back from flash are checked field by field.
import { PositionUplink, HealthUplink, stringifyPosition, stringifyHealth, quoted, int } from "./json/wire";
import { formatIso, UtcClock } from "./clock";
import { formatFixed } from "./json/fixed";
import { JSON } from "json-as";

export const KIND_POSITION: u8 = 1;
export const KIND_HEALTH: u8 = 2;
const TIME_UTC: u8 = 0;
const TIME_BOOT: u8 = 1;
export const RECORD_MAX: i32 = 48;
const POSITION_LEN: i32 = 26;
const HEALTH_LEN: i32 = 43;

export class UplinkRecord {
  kind: u8 = KIND_POSITION;
  utcKnown: bool = false;
  boot: u32 = 0;
  time: i64 = 0; // UTC ms when utcKnown, else monotonic ms of boot `boot`
  battery: i32 = -1;
  // position, in fixed point: 1e-7 degree (about 1 cm) and decimetres
  fix: bool = false;
  latE7: i32 = 0;
  lonE7: i32 = 0;
  accuracyDm: u16 = 0;
  // health
  bootCount: u32 = 0;
  buffered: u32 = 0;
  oldestAgeS: i32 = -1;
  dropped: u32 = 0;
  settingsRejected: u32 = 0;
  resets: u32 = 0;
  traps: u32 = 0;

  /** Writes the record at `out` (RECORD_MAX bytes available); returns its length. */
  encode(out: usize): i32 {
    store<u8>(out, this.kind);
    store<u8>(out, this.utcKnown ? TIME_UTC : TIME_BOOT, 1);
    store<u32>(out, this.boot, 2);
    store<i64>(out, this.time, 6);
    store<i8>(out, <i8>this.battery, 14);
    if (this.kind == KIND_POSITION) {
      store<u8>(out, this.fix ? 1 : 0, 15);
      store<i32>(out, this.latE7, 16);
      store<i32>(out, this.lonE7, 20);
      store<u16>(out, this.accuracyDm, 24);
      return POSITION_LEN;
    }
    store<u32>(out, this.bootCount, 15);
    store<u32>(out, this.buffered, 19);
    store<i32>(out, this.oldestAgeS, 23);
    store<u32>(out, this.dropped, 27);
    store<u32>(out, this.settingsRejected, 31);
    store<u32>(out, this.resets, 35);
    store<u32>(out, this.traps, 39);
    return HEALTH_LEN;
  }

  /** Reads a record of `len` bytes; false when it is of no shape this version wrote. */
  decode(p: usize, len: i32): bool {
    if (len < 15) return false;
    const kind = load<u8>(p);
    const timeKind = load<u8>(p, 1);
    if (timeKind > TIME_BOOT) return false;
    this.kind = kind;
    this.utcKnown = timeKind == TIME_UTC;
    this.boot = load<u32>(p, 2);
    this.time = load<i64>(p, 6);
    this.battery = <i32>load<i8>(p, 14);
    if (this.battery < -1 || this.battery > 100) this.battery = -1;
    if (kind == KIND_POSITION) {
      if (len != POSITION_LEN) return false;
      this.fix = load<u8>(p, 15) == 1;
      this.latE7 = load<i32>(p, 16);
      this.lonE7 = load<i32>(p, 20);
      this.accuracyDm = load<u16>(p, 24);
      if (this.latE7 < -900_000_000 || this.latE7 > 900_000_000 || this.lonE7 < -1_800_000_000 || this.lonE7 > 1_800_000_000) this.fix = false;
      return true;
    }
    if (kind == KIND_HEALTH) {
      if (len != HEALTH_LEN) return false;
      this.bootCount = load<u32>(p, 15);
      this.buffered = load<u32>(p, 19);
      this.oldestAgeS = load<i32>(p, 23);
      this.dropped = load<u32>(p, 27);
      this.settingsRejected = load<u32>(p, 31);
      this.resets = load<u32>(p, 35);
      this.traps = load<u32>(p, 39);
      return true;
    }
    return false;
  }
}

export function validFix(lat: f64, lon: f64, acc: f64): bool {
  return isFinite(lat) && isFinite(lon) && isFinite(acc) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && acc >= 0;
}

/** Stores a checked fix in fixed point; accuracy saturates at 6553.5 m. */
export function setFix(r: UplinkRecord, lat: f64, lon: f64, acc: f64): void {
  r.fix = true;
  r.latE7 = <i32>Math.round(lat * 1e7);
  r.lonE7 = <i32>Math.round(lon * 1e7);
  r.accuracyDm = <u16>min<f64>(65535, Math.round(acc * 10));
}

/**
 * The record's absolute time in UTC ms, or -1 when it cannot be known: recorded in an
 * earlier boot before UTC was known, or in this boot while UTC is still unknown.
 */
export function recordUtc(r: UplinkRecord, clock: UtcClock, currentBoot: u32): i64 {
  if (r.utcKnown) return r.time;
  if (r.boot == currentBoot && clock.known) return clock.utcAt(r.time);
  return -1;
}

/** The uplink's JSON, as sent alone or as one entry of a backfill. */
export function uplinkJson(id: u64, r: UplinkRecord, clock: UtcClock, currentBoot: u32): string {
  const utc = recordUtc(r, clock, currentBoot);
  const timestamp = utc >= 0 ? quoted(formatIso(utc)) : new JSON.Raw("");
  if (r.kind == KIND_POSITION) {
    const u = new PositionUplink();
    u.id = int(<i64>id);
    u.timestamp = timestamp;
    const d = u.data;
    d.fix = r.fix;
    d.latitude = new JSON.Raw(formatFixed(r.latE7, 7));
    d.longitude = new JSON.Raw(formatFixed(r.lonE7, 7));
    d.accuracyM = new JSON.Raw(formatFixed(<i32>r.accuracyDm, 1));
    if (r.battery >= 0) d.battery = int(r.battery);
    d.timeUnknown = utc < 0;
    return stringifyPosition(u);
  }
  const h = new HealthUplink();
  h.id = int(<i64>id);
  h.timestamp = timestamp;
  const d = h.data;
  if (r.battery >= 0) d.battery = int(r.battery);
  d.bootCount = int(r.bootCount);
  d.bufferedUplinks = int(r.buffered);
  if (r.oldestAgeS >= 0) d.oldestBufferedAgeS = int(r.oldestAgeS);
  d.droppedUplinks = int(r.dropped);
  d.settingsRejected = int(r.settingsRejected);
  d.resets = int(r.resets);
  d.trapsRecovered = int(r.traps);
  d.timeUnknown = utc < 0;
  return stringifyHealth(h);
}
