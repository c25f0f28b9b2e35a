// TEMPORARY: a RAM stand-in with the UplinkLog API until assembly/log/ lands. Not durable.
export const LOG_OK: i32 = 0;
export const LOG_MAX_PAYLOAD: i32 = 96;
export class UplinkLog {
  ids: u64[] = [];
  payloads: Uint8Array[] = [];
  dropped: u64 = 0;
  hi: u64 = 0;
  constructor(public sectorSize: u32, public sectorCount: u32, public progSize: u32) {}
  static geometryOk(sectorSize: u32, sectorCount: u32, progSize: u32): bool { return sectorSize >= 256 && sectorCount >= 2 && progSize >= 1; }
  mount(): i32 { return LOG_OK; }
  append(id: u64, payload: usize, len: i32): i32 {
    const b = new Uint8Array(len); memory.copy(b.dataStart, payload, len);
    if (this.ids.length >= 1000) { this.ids.shift(); this.payloads.shift(); this.dropped++; }
    this.ids.push(id); this.payloads.push(b); this.hi = id; return LOG_OK;
  }
  ack(uptoId: u64): i32 { while (this.ids.length > 0 && this.ids[0] <= uptoId) { this.ids.shift(); this.payloads.shift(); } return LOG_OK; }
  count(): u32 { return this.ids.length; }
  oldestId(): u64 { return this.ids.length > 0 ? this.ids[0] : 0; }
  highestId(): u64 { return this.hi; }
  read(index: u32, out: usize, cap: i32, idOut: usize): i32 {
    if (index >= <u32>this.ids.length) return -1;
    const b = this.payloads[index]; const n = min(cap, b.length); memory.copy(out, b.dataStart, n); store<u64>(idOut, this.ids[index]); return n;
  }
  droppedSinceMount(): u64 { return this.dropped; }
  capacityRecords(payloadLen: i32): u32 { return 1000; }
}
