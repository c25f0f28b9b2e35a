// The module's exports: the host ABI and nothing else (manual: ABI.md). Not named index.ts:
// json-as 1.6's transform marks any source at the path `assembly/index` as a library, which
// silently drops every export of the module.
//
// Garbage is collected only when an export is entered or returns (with the minimal runtime
// nothing is live on the wasm stack then), and only when it pays:
//  - when a call returns and the heap's largest free block has shrunk below HEAP_RESERVE,
//    the most one call may allocate: no call starts with less, so linear memory stays at
//    its start size. A collection marks every live object (about 160) whatever the garbage:
//    collecting after every step cost more than the step; now one serves many steps.
//  - before reading an answer with more in it than an ack (a connect answer, an error
//    object): what it leaves alive (its member names) is then allocated beside what is
//    already alive instead of in the middle of the free space, which it would split.
// agent_start always collects: what it parsed is garbage.
import { Agent } from "./agent";
import { BoardConfig, parseBoardConfig } from "./board_config";
import { ABI_VERSION, FLAG_AFTER_TRAP, START_BAD_CONFIG, START_BAD_FLASH, START_OK } from "./abi_constants";
import { RX_CAPACITY, rxBase } from "./rx";
import { UplinkLog } from "./log";
import { logError } from "./logger";
import { ROOT } from "rt/tlsf";
import "./abort"; // the abort handler named in asconfig.json

// 2^12 = 4 KiB; why this number: test/budgets.json, allocationPerCallBytes. 8 KiB was tried:
// in a fragmented one-page heap a collection could not give such a block back, so every step
// collected (1.85 M instructions per acked uplink instead of about 0.5 M).
const HEAP_RESERVE_LOG2: u32 = 12;
// TLSF (rt/tlsf.ts) keeps a bit per size class in its first-level map: class fl >= 1 holds
// free blocks of 2^(fl + 7) bytes and more (SB_BITS - 1 = 7). A bit set at or above
// HEAP_RESERVE_LOG2 - 7 is a free block of HEAP_RESERVE bytes or more.
const TLSF_FL_SHIFT: u32 = 7;
// An ack (`{"accepted":116,"duplicates":0}`) is under this; every other answer body is over.
const ACK_BODY_MAX: i32 = 64;

/** Collects when no free block of HEAP_RESERVE bytes is left. */
function collectIfShort(): void {
  const root = changetype<usize>(ROOT);
  if (root == 0 || (load<usize>(root) >> (HEAP_RESERVE_LOG2 - TLSF_FL_SHIFT)) == 0) __collect();
}

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
  if (cfg.failed) return START_BAD_CONFIG; // the parser logged why
  if (sectorSize <= 0 || sectorCount <= 0 || progSize <= 0 || !UplinkLog.geometryOk(<u32>sectorSize, <u32>sectorCount, <u32>progSize)) {
    logError("flash geometry unusable (sector {} B x {}, program unit {} B): fix the board's partition", sectorSize, sectorCount, progSize);
    return START_BAD_FLASH;
  }
  faultInjection = cfg.faultInjection;
  const a = new Agent(cfg, <u32>sectorSize, <u32>sectorCount, <u32>progSize);
  const rc = a.start(now, (flags & FLAG_AFTER_TRAP) != 0);
  if (rc == START_OK) agent = a;
  return rc;
}

export function agent_step(now: i64): i64 {
  const a = agent;
  const wake = a == null ? now + 3_600_000 : a.step(now);
  collectIfShort();
  return wake;
}

export function on_http_response(now: i64, reqId: i32, status: i32, hdrLen: i32, bodyLen: i32, flags: i32): void {
  if (bodyLen > ACK_BODY_MAX) __collect();
  const a = agent;
  if (a != null) a.onHttpAnswer(now, reqId, status, hdrLen, bodyLen, flags);
  collectIfShort();
}

export function on_gnss_fix(now: i64, reqId: i32, status: i32, lat: f64, lon: f64, accuracyM: f64, utcS: f64): void {
  const a = agent;
  if (a != null) a.onGnss(now, reqId, status, lat, lon, accuracyM, utcS);
  collectIfShort();
}

export function agent_stat(which: i32): i64 {
  const a = agent;
  return a == null ? -1 : a.stat(which);
}

export function debug_trap(): void {
  if (faultInjection) unreachable();
}
