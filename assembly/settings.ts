// Remote settings: the factory defaults, the ranges of DEVICE-API.md, and the rule that a bad
// settings object is rejected whole. Storage of the last good settings is in persist.ts.
import { ObjectScan, Member, IntRead, readInt, decodeString, kindName, J_NUMBER, J_STRING, INT_OK, INT_NOT_INTEGER } from "./json/scan";

export class Settings {
  uplinkIntervalS: i32 = 300;
  movingIntervalS: i32 = 60;
  heartbeatS: i32 = 3600;
  backfillBatchSize: i32 = 100;
  gnssTimeoutS: i32 = 90;
  /** How long a recorded uplink may wait for company before what is buffered is sent (0: at once). */
  sendIntervalS: i32 = 600;

  copy(): Settings {
    const s = new Settings();
    s.uplinkIntervalS = this.uplinkIntervalS;
    s.movingIntervalS = this.movingIntervalS;
    s.heartbeatS = this.heartbeatS;
    s.backfillBatchSize = this.backfillBatchSize;
    s.gnssTimeoutS = this.gnssTimeoutS;
    s.sendIntervalS = this.sendIntervalS;
    return s;
  }

  equals(o: Settings): bool {
    return this.uplinkIntervalS == o.uplinkIntervalS && this.movingIntervalS == o.movingIntervalS &&
      this.heartbeatS == o.heartbeatS && this.backfillBatchSize == o.backfillBatchSize &&
      this.gnssTimeoutS == o.gnssTimeoutS && this.sendIntervalS == o.sendIntervalS;
  }
}

export const SETTING_NAMES: StaticArray<string> = [
  "uplinkIntervalS", "movingIntervalS", "heartbeatS", "backfillBatchSize", "gnssTimeoutS", "sendIntervalS",
];
/** The settings of the first stored record (persist.ts); the later ones have a record of their own. */
export const SETTINGS_FIRST_RECORD: i32 = 5;
const SETTING_MIN: StaticArray<i32> = [10, 5, 60, 1, 5, 0];
const SETTING_MAX: StaticArray<i32> = [86400, 86400, 604800, 500, 600, 86400];

export function settingGet(s: Settings, i: i32): i32 {
  if (i == 0) return s.uplinkIntervalS;
  if (i == 1) return s.movingIntervalS;
  if (i == 2) return s.heartbeatS;
  if (i == 3) return s.backfillBatchSize;
  if (i == 4) return s.gnssTimeoutS;
  return s.sendIntervalS;
}

export function settingSet(s: Settings, i: i32, v: i32): void {
  if (i == 0) s.uplinkIntervalS = v;
  else if (i == 1) s.movingIntervalS = v;
  else if (i == 2) s.heartbeatS = v;
  else if (i == 3) s.backfillBatchSize = v;
  else if (i == 4) s.gnssTimeoutS = v;
  else s.sendIntervalS = v;
}

export function settingInRange(i: i32, v: i64): bool {
  return v >= <i64>SETTING_MIN[i] && v <= <i64>SETTING_MAX[i];
}

/** The outcome of applying a received settings object: the new settings, or why not. */
export class SettingsResult {
  settings: Settings | null = null;
  rejection: string = ""; // "<field>: <reason>", as reported in settingsRejected
}

const intRead = new IntRead();
// The members a settings object is read for; any other is skipped, however many (contract).
const SETTINGS_MEMBERS: StaticArray<string> = [
  "type", "uplinkIntervalS", "movingIntervalS", "heartbeatS", "backfillBatchSize", "gnssTimeoutS", "sendIntervalS",
];
const settingsScan = new ObjectScan(SETTINGS_MEMBERS);

/**
 * Validates the settings object at `m` (a member of an already scanned body) against the
 * ranges, and merges it over `current`. Any bad field rejects the whole object.
 */
export function applySettings(current: Settings, m: Member): SettingsResult {
  const r = new SettingsResult();
  const scan = settingsScan;
  if (!scan.scan(m.start, <i32>(m.end - m.start))) {
    r.rejection = "settings: " + (m.kind == 5 ? scan.error : "not an object");
    return r;
  }
  const t = scan.find("type");
  if (t < 0) { r.rejection = "type: missing"; return r; }
  const tm = scan.members[t];
  if (tm.kind != J_STRING) { r.rejection = "type: expected a string, got " + kindName(tm.kind); return r; }
  const type = decodeString(tm.start, tm.end);
  if (type == null || type! != "tracker") { r.rejection = "type: not 'tracker'"; return r; }
  const next = current.copy();
  for (let i = 0; i < SETTING_NAMES.length; i++) {
    const name = SETTING_NAMES[i];
    const at = scan.find(name);
    if (at < 0) continue; // missing keeps its current value
    const f = scan.members[at];
    if (f.kind != J_NUMBER) { r.rejection = name + ": expected an integer, got " + kindName(f.kind); return r; }
    readInt(f.start, f.end, intRead);
    if (intRead.status == INT_NOT_INTEGER) { r.rejection = name + ": not an integer"; return r; }
    if (intRead.status != INT_OK || !settingInRange(i, intRead.value)) {
      r.rejection = name + ": out of range " + SETTING_MIN[i].toString() + "-" + SETTING_MAX[i].toString();
      return r;
    }
    settingSet(next, i, <i32>intRead.value);
  }
  r.settings = next;
  return r;
}
