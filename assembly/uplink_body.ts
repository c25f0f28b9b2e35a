// One uplink's JSON, written from its log record straight into the request body
// (request_body.ts). json-as writes the object; the values it copies (JSON.Raw texts: the id,
// the time, fixed-point coordinates, counters) are rewritten in place in a few strings
// allocated once, so a batch of any size allocates nothing per uplink and memory stays
// where it was however long the backlog.
import { JSON } from "json-as";
import { OBJECT, TOTAL_OVERHEAD } from "rt/common";
import { PositionUplink, HealthUplink } from "./json/wire";
import { UplinkRecord, BootPlace, KIND_POSITION, recordUtc } from "./uplink";
import { UtcClock, formatIso } from "./clock";
import { RequestBody } from "./request_body";

// Characters a rewritable text holds: a u64 (20 digits), a quoted ISO time (22), a
// coordinate ("-180.1234567", 12).
const TEXT_CAP: i32 = 24;
const DAY_MS: i64 = 86_400_000;

/** A JSON.Raw over a string of TEXT_CAP characters whose length is set by each write. */
function rewritable(): JSON.Raw {
  return new JSON.Raw(changetype<string>(__new(<usize>TEXT_CAP << 1, idof<string>())));
}

// The two uplinks, kept and rewritten: every text field is rewritable, epoch, id, timestamp
// and battery the same four in both.
const position = positionUplink();
const health = healthUplink(position);

function positionUplink(): PositionUplink {
  const u = new PositionUplink();
  u.epoch = rewritable();
  u.id = rewritable();
  u.timestamp = rewritable();
  const d = u.data;
  d.latitude = rewritable();
  d.longitude = rewritable();
  d.accuracyM = rewritable();
  d.battery = rewritable();
  return u;
}

function healthUplink(p: PositionUplink): HealthUplink {
  const u = new HealthUplink();
  u.epoch = p.epoch;
  u.id = p.id;
  u.timestamp = p.timestamp;
  const d = u.data;
  d.battery = p.data.battery;
  d.bootCount = rewritable();
  d.bufferedUplinks = rewritable();
  d.oldestBufferedAgeS = rewritable();
  d.droppedUplinks = rewritable();
  d.settingsRejected = rewritable();
  d.resets = rewritable();
  d.trapsRecovered = rewritable();
  return u;
}

/**
 * Appends `prefix` and the JSON of uplink (r.epoch, `id`) (record `r`, as sent alone to /uplinks or as
 * one entry of a backfill) to the request body, both or neither: false, nothing appended,
 * when they do not fit within `limit` bytes of body. The record's time is decided now
 * (recordUtc): an uplink whose UTC cannot be known goes without timestamp, "timeUnknown".
 */
export function appendUplink(prefix: string, id: u32, r: UplinkRecord, clock: UtcClock, here: BootPlace, limit: i32): bool {
  const utc = recordUtc(r, clock, here);
  writeTimestamp(position.timestamp, utc);
  writeNumber(position.epoch, <i64>r.epoch);
  writeNumber(position.id, <i64>id);
  writeNumber(position.data.battery, r.battery);
  if (r.kind == KIND_POSITION) {
    const d = position.data;
    d.fix = r.fix;
    if (r.fix) {
      writeFixed(d.latitude, r.latE7, 7);
      writeFixed(d.longitude, r.lonE7, 7);
      writeFixed(d.accuracyM, <i32>r.accuracyDm, 1);
    }
    d.timeUnknown = utc < 0;
    return RequestBody.appendJson<PositionUplink>(prefix, position, limit);
  }
  const d = health.data;
  writeNumber(d.bootCount, r.bootCount);
  writeNumber(d.bufferedUplinks, r.buffered);
  writeNumber(d.oldestBufferedAgeS, r.oldestAgeS);
  writeNumber(d.droppedUplinks, r.dropped);
  writeNumber(d.settingsRejected, r.settingsRejected);
  writeNumber(d.resets, r.resets);
  writeNumber(d.trapsRecovered, r.traps);
  d.timeUnknown = utc < 0;
  return RequestBody.appendJson<HealthUplink>(prefix, health, limit);
}

// ---- rewriting a text in place ------------------------------------------------------------

let at: usize = 0; // the text being written
let len: i32 = 0;

function start(t: JSON.Raw): void {
  at = changetype<usize>(t.data);
  len = 0;
}

function put(c: i32): void {
  if (len < TEXT_CAP) store<u16>(at + (<usize>len << 1), <u16>c);
  len++;
}

function putDigits(v: u64, width: i32): void {
  let digits = 1;
  for (let x = v; x >= 10; x /= 10) digits++;
  for (let i = digits; i < width; i++) put(0x30);
  const first = len;
  len += digits;
  for (let i = len - 1; i >= first; i--) {
    if (i < TEXT_CAP) store<u16>(at + (<usize>i << 1), <u16>(0x30 + <i32>(v % 10)));
    v /= 10;
  }
}

/** Ends the text: its length is what was written (a string's length is its header's size). */
function finish(): void {
  changetype<OBJECT>(at - TOTAL_OVERHEAD).rtSize = <u32>(min(len, TEXT_CAP) << 1);
}

/**
 * A count or an id; a negative value (battery or age unknown: -1) writes an empty text, which
 * the wire type omits.
 */
function writeNumber(t: JSON.Raw, v: i64): void {
  start(t);
  if (v >= 0) putDigits(<u64>v, 1);
  finish();
}

/** A fixed-point decimal, exact, no float: 473769000 at 7 decimals is 47.3769. */
function writeFixed(t: JSON.Raw, value: i32, decimals: i32): void {
  start(t);
  if (value < 0) put(0x2d);
  const v: u64 = value < 0 ? <u64>(-<i64>value) : <u64>value;
  let scale: u64 = 1;
  for (let i = 0; i < decimals; i++) scale *= 10;
  putDigits(v / scale, 1);
  let frac = v % scale;
  if (frac != 0) {
    let digits = decimals;
    while (frac % 10 == 0) { frac /= 10; digits--; }
    put(0x2e);
    putDigits(frac, digits);
  }
  finish();
}

// The date of the last timestamp written, as formatIso writes it: it changes once a day, so
// the calendar arithmetic (and its strings) runs once a day, not once an uplink.
let dateOf: i64 = -1;
let dateText: string = "";

/** `"2026-11-23T10:15:00Z"` (quoted, as formatIso), or empty (omitted) when `utc` < 0. */
function writeTimestamp(t: JSON.Raw, utc: i64): void {
  start(t);
  if (utc >= 0) {
    const secs = utc / 1000;
    const day = secs / 86400;
    const rem = secs % 86400;
    if (day != dateOf) {
      dateText = formatIso(day * DAY_MS).substring(0, 10);
      dateOf = day;
    }
    put(0x22);
    for (let i = 0; i < dateText.length; i++) put(dateText.charCodeAt(i));
    put(0x54);
    putDigits(<u64>(rem / 3600), 2);
    put(0x3a);
    putDigits(<u64>((rem / 60) % 60), 2);
    put(0x3a);
    putDigits(<u64>(rem % 60), 2);
    put(0x5a);
    put(0x22);
  }
  finish();
}
