// An uplink as the log stores it: a compact binary record, so that its absolute timestamp
// can be decided when it is sent (an uplink recorded before UTC was trusted is re-anchored
// then, or goes with "timeUnknown"). Records read back from flash are checked field by field.
//
// Layout (little-endian), format version 2:
//   0 kind (1 position, 2 health)   1 flags: bit 0 UTC known, bits 4-7 format version
//   2 epoch u32   6 boot u32 (of that epoch)   10 time u32: UTC seconds, or seconds of boot
//   14 battery i8 (-1 unknown), then per kind (position: 26 bytes in all, health: 43).
// A record names its own epoch: after the counter record is lost the log still holds uplinks
// of the old epoch, and they must keep their (epoch, id).
import { UtcClock } from "./clock";

export const KIND_POSITION: u8 = 1;
export const KIND_HEALTH: u8 = 2;
const FLAG_UTC: u8 = 1;
const FORMAT_VERSION: u8 = 2;
export const RECORD_MAX: i32 = 48;
const POSITION_LEN: i32 = 26;
const HEALTH_LEN: i32 = 43;

export class UplinkRecord {
  kind: u8 = KIND_POSITION;
  utcKnown: bool = false;
  epoch: u32 = 0;
  boot: u32 = 0;
  time: u32 = 0; // UTC seconds when utcKnown, else seconds since power-on of boot `boot`
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
    store<u8>(out, (FORMAT_VERSION << 4) | (this.utcKnown ? FLAG_UTC : 0), 1);
    store<u32>(out, this.epoch, 2);
    store<u32>(out, this.boot, 6);
    store<u32>(out, this.time, 10);
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
    const flags = load<u8>(p, 1);
    if ((flags >> 4) != FORMAT_VERSION || (flags & 0x0e) != 0) return false;
    this.kind = kind;
    this.utcKnown = (flags & FLAG_UTC) != 0;
    this.epoch = load<u32>(p, 2);
    this.boot = load<u32>(p, 6);
    this.time = load<u32>(p, 10);
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

/** Where this power-on stands: the epoch and boot that name its records, and the clock. */
export class BootPlace {
  epoch: u32 = 0;
  boot: u32 = 0;
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
 * The record's absolute time in UTC ms, or -1 when it cannot be known: recorded before UTC was
 * trusted in another boot (or in an epoch whose boots can no longer be placed), or in this boot
 * while UTC is still untrusted.
 */
export function recordUtc(r: UplinkRecord, clock: UtcClock, here: BootPlace): i64 {
  if (r.utcKnown) return <i64>r.time * 1000;
  if (r.epoch == here.epoch && r.boot == here.boot && clock.trusted) return clock.anchorAt(<i64>r.time * 1000);
  return -1;
}
