// What the agent keeps in the key-value store besides identity: the last good settings, the
// counters and back-off (`state`), and the uplink id reservation (`seq`). Every record is read
// as untrusted: a record of any other shape is reported and replaced by defaults.
import { kvGet, kvSet } from "./kv";
import { ByteReader, ByteWriter } from "./bytes";
import { Settings, SETTING_NAMES, settingGet, settingSet, settingInRange } from "./settings";
import { logWarn } from "./logger";

const SETTINGS_VERSION: u32 = 1;
const STATE_VERSION: u32 = 1;
const SEQ_VERSION: u32 = 1;
export const REJECTION_MAX: i32 = 200;

export function loadSettings(): Settings {
  const s = new Settings();
  const r = kvGet("settings");
  if (r.status != 0) return s;
  const rd = new ByteReader(r.value!);
  const version = rd.u8();
  const loaded = new Settings();
  for (let i = 0; i < SETTING_NAMES.length; i++) {
    const v = rd.u32();
    if (!settingInRange(i, <i64>v)) rd.ok = false;
    settingSet(loaded, i, <i32>v);
  }
  if (version != SETTINGS_VERSION || !rd.atEnd()) {
    logWarn("stored settings unreadable: factory used");
    return s;
  }
  return loaded;
}

export function storeSettings(s: Settings): i32 {
  const w = new ByteWriter(1 + 4 * SETTING_NAMES.length);
  w.u8(SETTINGS_VERSION);
  for (let i = 0; i < SETTING_NAMES.length; i++) w.u32(<u32>settingGet(s, i));
  return kvSet("settings", w.bytes());
}

/** Counters and the back-off in progress; all survive reboots. */
export class AgentState {
  boots: u32 = 0;
  resets: u32 = 0;
  dropped: u64 = 0;
  traps: u32 = 0;
  settingsRejectedCount: u32 = 0;
  pendingRejection: string = ""; // reported at the next connect, then cleared
  backoffAttempt: u32 = 0;       // consecutive failures
  backoffWaitMs: i64 = 0;        // the wait in force when it was last stored
  backoffResume: u32 = 0;        // what to try when the wait ends (agent.ts Op)
}

export function loadState(): AgentState {
  const s = new AgentState();
  const r = kvGet("state");
  if (r.status != 0) return s;
  const rd = new ByteReader(r.value!);
  const version = rd.u8();
  const loaded = new AgentState();
  loaded.boots = rd.u32();
  loaded.resets = rd.u32();
  loaded.dropped = rd.u64();
  loaded.traps = rd.u32();
  loaded.settingsRejectedCount = rd.u32();
  loaded.pendingRejection = rd.str();
  loaded.backoffAttempt = rd.u32();
  loaded.backoffWaitMs = rd.i64();
  loaded.backoffResume = rd.u8();
  if (version != STATE_VERSION || !rd.atEnd() || loaded.backoffWaitMs < 0 || loaded.backoffWaitMs > 8 * 86_400_000) {
    logWarn("stored state unreadable: counters reset");
    return s;
  }
  return loaded;
}

export function storeState(s: AgentState): i32 {
  const w = new ByteWriter(64 + REJECTION_MAX * 3);
  w.u8(STATE_VERSION);
  w.u32(s.boots);
  w.u32(s.resets);
  w.u64(s.dropped);
  w.u32(s.traps);
  w.u32(s.settingsRejectedCount);
  w.str(clipUtf8(s.pendingRejection));
  w.u32(s.backoffAttempt);
  w.i64(s.backoffWaitMs);
  w.u8(s.backoffResume);
  return kvSet("state", w.bytes());
}

/** Keeps a message within REJECTION_MAX characters and 255 UTF-8 bytes (one length byte). */
function clipUtf8(s: string): string {
  let t = s.length > REJECTION_MAX ? s.substring(0, REJECTION_MAX) : s;
  while (String.UTF8.byteLength(t) > 255) t = t.substring(0, t.length - 8);
  return t;
}

/** The first id not yet reserved: ids below it may have been used in an earlier boot. */
export function loadSeq(): u64 {
  const r = kvGet("seq");
  if (r.status != 0) return 1;
  const rd = new ByteReader(r.value!);
  const version = rd.u8();
  const v = rd.u64();
  if (version != SEQ_VERSION || !rd.atEnd() || v == 0) {
    logWarn("stored uplink id unreadable: using the log's");
    return 1;
  }
  return v;
}

export function storeSeq(v: u64): i32 {
  const w = new ByteWriter(9);
  w.u8(SEQ_VERSION);
  w.u64(v);
  return kvSet("seq", w.bytes());
}
