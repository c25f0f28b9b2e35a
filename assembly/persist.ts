// What the agent keeps in the key-value store besides identity, the id counter (ids.ts) and
// the request budget (budget.ts): the last good settings and the counters and back-off
// (`state`). Every record is read as untrusted: a record of any other shape, or one the store
// reports missing because it was damaged, is reported and replaced by the factory values.
import { kvGet, kvSet } from "./kv";
import { ByteReader, ByteWriter } from "./bytes";
import { Settings, SETTING_NAMES, SETTINGS_FIRST_RECORD, settingGet, settingSet, settingInRange } from "./settings";
import { logWarn } from "./logger";

const SETTINGS_KEY = "settings";
const SETTINGS_VERSION: u32 = 1;
// Settings added after the first record (sendIntervalS) live in a record of their own, so the
// first record keeps the shape an older module reads: an update or a rollback loses no setting.
const LATER_SETTINGS_KEY = "settings2";
const LATER_SETTINGS_VERSION: u32 = 1;
const STATE_VERSION: u32 = 2;
export const REJECTION_MAX: i32 = 200;

export function loadSettings(): Settings {
  const s = new Settings();
  if (loadSettingsRecord(SETTINGS_KEY, SETTINGS_VERSION, 0, SETTINGS_FIRST_RECORD, s)) {
    loadSettingsRecord(LATER_SETTINGS_KEY, LATER_SETTINGS_VERSION, SETTINGS_FIRST_RECORD, SETTING_NAMES.length, s);
  }
  return s;
}

/**
 * Settings `from` to `to` - 1 of one record into `into`. Missing (never written, or written by
 * an older module) or unreadable (logged): false, and `into` keeps its values.
 */
function loadSettingsRecord(key: string, version: u32, from: i32, to: i32, into: Settings): bool {
  const r = kvGet(key);
  if (r.status != 0) return false;
  const rd = new ByteReader(r.value!);
  const stored = rd.u8();
  const loaded = into.copy();
  for (let i = from; i < to; i++) {
    const v = rd.u32();
    if (!settingInRange(i, <i64>v)) rd.ok = false;
    settingSet(loaded, i, <i32>v);
  }
  if (stored != version || !rd.atEnd()) {
    logWarn("stored settings unreadable: factory used");
    return false;
  }
  for (let i = from; i < to; i++) settingSet(into, i, settingGet(loaded, i));
  return true;
}

/** Both records; a cut between them leaves two good sets mixed, each value within its range. */
export function storeSettings(s: Settings): i32 {
  const rc = storeSettingsRecord(SETTINGS_KEY, SETTINGS_VERSION, 0, SETTINGS_FIRST_RECORD, s);
  if (rc != 0) return rc;
  return storeSettingsRecord(LATER_SETTINGS_KEY, LATER_SETTINGS_VERSION, SETTINGS_FIRST_RECORD, SETTING_NAMES.length, s);
}

function storeSettingsRecord(key: string, version: u32, from: i32, to: i32, s: Settings): i32 {
  const w = new ByteWriter(1 + 4 * (to - from));
  w.u8(version);
  for (let i = from; i < to; i++) w.u32(<u32>settingGet(s, i));
  return kvSet(key, w.bytes());
}

/**
 * Counters and the back-off in progress; all survive reboots. The back-off is stored with the
 * session's explicit state and policy codes (session.ts, backoff.ts), never an enum's position.
 */
export class AgentCounters {
  resets: u32 = 0;
  dropped: u64 = 0;
  traps: u32 = 0;
  settingsRejectedCount: u32 = 0;
  unverified: u32 = 0;           // 2xx answers to uplinks that acknowledged nothing
  pendingRejection: string = ""; // reported at the next connect, then cleared
  backoffAttempt: u32 = 0;       // consecutive failures
  backoffFailed: u8 = 0;         // which kinds of request failed since the last success of each
  backoffResume: u8 = 0;         // the session state to go to when the wait ends
  backoffPolicy: u8 = 0;         // the policy of the wait in force
  backoffWaitMs: i64 = 0;        // the wait in force when it was last stored
}

export function loadState(): AgentCounters {
  const s = new AgentCounters();
  const r = kvGet("state");
  if (r.status != 0) return s;
  const rd = new ByteReader(r.value!);
  const version = rd.u8();
  const loaded = new AgentCounters();
  loaded.resets = rd.u32();
  loaded.dropped = rd.u64();
  loaded.traps = rd.u32();
  loaded.settingsRejectedCount = rd.u32();
  loaded.unverified = rd.u32();
  loaded.pendingRejection = rd.str();
  loaded.backoffAttempt = rd.u32();
  loaded.backoffFailed = <u8>rd.u8();
  loaded.backoffResume = <u8>rd.u8();
  loaded.backoffPolicy = <u8>rd.u8();
  loaded.backoffWaitMs = rd.i64();
  if (version != STATE_VERSION || !rd.atEnd() || loaded.backoffWaitMs < 0 || loaded.backoffWaitMs > 8 * 86_400_000) {
    logWarn("stored state unreadable: counters reset");
    return s;
  }
  return loaded;
}

export function storeState(s: AgentCounters): i32 {
  const w = new ByteWriter(64 + REJECTION_MAX * 3);
  w.u8(STATE_VERSION);
  w.u32(s.resets);
  w.u64(s.dropped);
  w.u32(s.traps);
  w.u32(s.settingsRejectedCount);
  w.u32(s.unverified);
  w.str(clipUtf8(s.pendingRejection));
  w.u32(s.backoffAttempt);
  w.u8(s.backoffFailed);
  w.u8(s.backoffResume);
  w.u8(s.backoffPolicy);
  w.i64(s.backoffWaitMs);
  return kvSet("state", w.bytes());
}

/** Keeps a message within REJECTION_MAX characters and 255 UTF-8 bytes (one length byte). */
function clipUtf8(s: string): string {
  let t = s.length > REJECTION_MAX ? s.substring(0, REJECTION_MAX) : s;
  while (String.UTF8.byteLength(t) > 255) t = t.substring(0, t.length - 8);
  return t;
}
