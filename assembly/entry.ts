// The module's exports: the host ABI and nothing else (manual: ABI.md). Not named index.ts:
// json-as 1.6's transform marks any source at the path `assembly/index` as a library, which
// silently drops every export of the module.
//
// agent_start and agent_step collect garbage when they return (with the minimal runtime
// nothing is live on the stack between calls), so memory stays bounded however long the
// device runs. The event exports do not: the host always calls agent_step after an event,
// and a collection costs more than the event itself.
import { Agent, START_BAD_CONFIG, START_BAD_FLASH } from "./agent";
import { BoardConfig, parseBoardConfig, FLAG_AFTER_TRAP } from "./board_config";
import { RX_CAPACITY, rxBase } from "./rx";
import { UplinkLog } from "./log";
import { logError } from "./logger";
import "./abort"; // the abort handler named in asconfig.json

const ABI_VERSION: i32 = 1;

let agent: Agent | null = null;
let faultInjection = false;

export function abi_version(): i32 { return ABI_VERSION; }
export function rx_buffer(): usize { return rxBase; }
export function rx_capacity(): i32 { return RX_CAPACITY; }

export function agent_start(now: i64, cfgLen: i32, flags: i32, sectorSize: i32, sectorCount: i32, progSize: i32): i32 {
  const rc = start(now, cfgLen, flags, sectorSize, sectorCount, progSize);
  __collect();
  return rc;
}

function start(now: i64, cfgLen: i32, flags: i32, sectorSize: i32, sectorCount: i32, progSize: i32): i32 {
  if (agent != null) { logError("agent_start called twice"); return START_BAD_CONFIG; }
  if (cfgLen < 0 || cfgLen > RX_CAPACITY) { logError("board config too long"); return START_BAD_CONFIG; }
  const cfg: BoardConfig = parseBoardConfig(String.UTF8.decodeUnsafe(rxBase, cfgLen), flags);
  if (cfg.error.length > 0) { logError(cfg.error + ": fix the board configuration"); return START_BAD_CONFIG; }
  if (sectorSize <= 0 || sectorCount <= 0 || progSize <= 0 || !UplinkLog.geometryOk(<u32>sectorSize, <u32>sectorCount, <u32>progSize)) {
    logError("flash geometry unusable (sector " + sectorSize.toString() + " B x " + sectorCount.toString() + ", program unit " + progSize.toString() + " B): fix the board's partition");
    return START_BAD_FLASH;
  }
  faultInjection = cfg.faultInjection;
  const a = new Agent(cfg, <u32>sectorSize, <u32>sectorCount, <u32>progSize);
  const rc = a.start(now, (flags & FLAG_AFTER_TRAP) != 0);
  if (rc == 0) agent = a;
  return rc;
}

export function agent_step(now: i64): i64 {
  const a = agent;
  const wake = a == null ? now + 3_600_000 : a.step(now);
  __collect();
  return wake;
}

export function on_http_response(now: i64, reqId: i32, status: i32, hdrLen: i32, bodyLen: i32, flags: i32): void {
  const a = agent;
  if (a != null) a.onHttpAnswer(now, reqId, status, hdrLen, bodyLen, flags);
}

export function on_gnss_fix(now: i64, reqId: i32, status: i32, lat: f64, lon: f64, accuracyM: f64, utcS: f64): void {
  const a = agent;
  if (a != null) a.onGnss(now, reqId, status, lat, lon, accuracyM, utcS);
}

export function agent_stat(which: i32): i64 {
  const a = agent;
  return a == null ? -1 : a.stat(which);
}

export function debug_trap(): void {
  if (faultInjection) unreachable();
}
