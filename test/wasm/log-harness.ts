// @ts-nocheck: AssemblyScript (built by asc in test/log.test.ts), not TypeScript for tsc.
// Test entry that drives the uplink log alone (test/log.test.ts): the UplinkLog API as flat
// exports over one io buffer. Imports only the host flash calls (and host.log via abort).
import {
  UplinkLog, LOG_ERR_GEOMETRY, LOG_ERR_NOT_MOUNTED, LOG_MAX_PAYLOAD,
} from "../../assembly/log/uplink_log";
// Brings assembly/abort.ts into the program so `use abort=assembly/abort/onAbort` resolves.
import "../../assembly/abort";

const IO_CAPACITY: i32 = 256;
const IO: usize = memory.data(256, 16);
const ID_OUT: usize = memory.data(8, 8);

let log: UplinkLog | null = null;

/** Payloads go in and come out here. */
export function io_buffer(): usize { return IO; }
export function io_capacity(): i32 { return IO_CAPACITY; }
export function max_payload(): i32 { return LOG_MAX_PAYLOAD; }

export function geometry_ok(sectorSize: u32, sectorCount: u32, progSize: u32): bool {
  return UplinkLog.geometryOk(sectorSize, sectorCount, progSize);
}

/** A new log object for this geometry (what agent_start does); 0 or LOG_ERR_GEOMETRY. */
export function log_open(sectorSize: u32, sectorCount: u32, progSize: u32): i32 {
  log = new UplinkLog(sectorSize, sectorCount, progSize);
  return UplinkLog.geometryOk(sectorSize, sectorCount, progSize) ? 0 : LOG_ERR_GEOMETRY;
}

export function log_mount(): i32 { return log ? log!.mount() : LOG_ERR_NOT_MOUNTED; }
/** Appends the first len bytes of the io buffer. */
export function log_append(id: u64, len: i32): i32 { return log ? log!.append(id, IO, len) : LOG_ERR_NOT_MOUNTED; }
export function log_ack(uptoId: u64): i32 { return log ? log!.ack(uptoId) : LOG_ERR_NOT_MOUNTED; }
export function log_count(): u32 { return log ? log!.count() : 0; }
export function log_oldest_id(): u64 { return log ? log!.oldestId() : 0; }
export function log_highest_id(): u64 { return log ? log!.highestId() : 0; }
export function log_acked_up_to(): u64 { return log ? log!.ackedUpTo() : 0; }
/** Copies record index into the io buffer (at most cap bytes); its id is then at read_id(). */
export function log_read(index: u32, cap: i32): i32 {
  if (!log) return LOG_ERR_NOT_MOUNTED;
  return log!.read(index, IO, cap > IO_CAPACITY ? IO_CAPACITY : cap, ID_OUT);
}
export function log_read_id(): u64 { return load<u64>(ID_OUT); }
export function log_dropped(): u64 { return log ? log!.droppedSinceMount() : 0; }
export function log_capacity(payloadLen: i32): u32 { return log ? log!.capacityRecords(payloadLen) : 0; }
export function log_record_bytes(payloadLen: i32): u32 { return log ? log!.recordBytes(payloadLen) : 0; }
