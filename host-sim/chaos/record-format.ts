// What the chaos world reads out of the flash programs it watches: the uplink log's 'R' entries
// (assembly/log/README.md, "Entry") and the agent's record payload inside them. This is the one
// place in the chaos simulator that knows those layouts; the entry itself is decoded by
// host-sim/device-records.ts, the one decoder of what the module stores.
//
// A program of the log is optional fill units (0x00) and then at most one entry:
//   0 kind ('R' 0x52 record, 'A' 0x41 acknowledgement) | 1 payload length | 2-3 0xFFFF |
//   4-7 CRC | 8-15 id (u64 LE: the device's log key, the uplink id in its low 32 bits) | payload
// The record payload (the contract's format, version 2):
//   0 kind (1 position, 2 health) | 1 flags (bit 0 UTC known, bits 4-7 format version) |
//   2-5 epoch (u32) | 6-9 boot (u32) | 10-13 time (u32 s) | 14 battery (i8) | kind-specific
// Version 1 (the module before issue 10) has no epoch: byte 1 is 0 (UTC) or 1 (boot time),
// 2-5 boot, 6-13 time (i64 ms). Its records decode with epoch null, and so do its uplinks on the
// wire (no `epoch` member), so the checker still pairs them by id.

import {
  decodeRecordEntry, LOG_ENTRY_ACK as ENTRY_ACK, LOG_ENTRY_HEADER as ENTRY_HEADER_BYTES, LOG_ENTRY_RECORD as ENTRY_RECORD, LOG_MAX_PAYLOAD as MAX_PAYLOAD,
} from '../device-records.ts';

export const KIND_POSITION = 1;
export const KIND_HEALTH = 2;
const FORMAT_V2 = 2;

export interface RecordEntry {
  /** The uplink id: the low 32 bits of the entry's log key. */
  id: number;
  /** The epoch of the record; null when the payload carries none (format version 1). */
  epoch: number | null;
  /** 1 position, 2 health, anything else as found. */
  kind: number;
  /** Payload format version: 1 or 2 (0 when the payload is too short to tell). */
  version: number;
  /** FNV-1a of the payload bytes: equal hashes mean a rewrite of the same record. */
  payloadHash: number;
}

function u32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

function fnv(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
  return h;
}

/** The 'R' entry a log program writes, or null when it writes none (fill, 'A', header, junk). */
export function decodeRecordProgram(data: Uint8Array, progSize: number): RecordEntry | null {
  const e = decodeRecordEntry(data, progSize);
  return e ? { id: e.id, ...decodePayload(e.payload), payloadHash: fnv(e.payload) } : null;
}

/** Kind, version and epoch of a record payload. */
export function decodePayload(payload: Uint8Array): { kind: number; version: number; epoch: number | null } {
  if (payload.length < 2) return { kind: payload[0] ?? 0, version: 0, epoch: null };
  const kind = payload[0];
  const version = payload[1] >> 4;
  if (version === FORMAT_V2 && payload.length >= 6) return { kind, version, epoch: u32(payload, 2) };
  return { kind, version: payload[1] <= 1 ? 1 : version, epoch: null };
}

/** Builds a version-2 payload (tests of the checker and of this decoder). */
export function encodePayloadV2(kind: number, epoch: number, boot: number, timeS: number, utcKnown: boolean, battery = -1): Uint8Array {
  const b = new Uint8Array(15);
  b[0] = kind;
  b[1] = (FORMAT_V2 << 4) | (utcKnown ? 1 : 0);
  const put = (p: number, v: number) => { b[p] = v & 0xff; b[p + 1] = (v >>> 8) & 0xff; b[p + 2] = (v >>> 16) & 0xff; b[p + 3] = (v >>> 24) & 0xff; };
  put(2, epoch >>> 0);
  put(6, boot >>> 0);
  put(10, timeS >>> 0);
  b[14] = battery & 0xff;
  return b;
}

/** Builds an 'R' entry program (header, payload, 0xFF to the program unit; CRC not computed). */
export function encodeRecordProgram(id: number, payload: Uint8Array, progSize: number): Uint8Array {
  const len = Math.ceil((ENTRY_HEADER_BYTES + payload.length) / progSize) * progSize;
  const b = new Uint8Array(len).fill(0xff);
  b[0] = ENTRY_RECORD;
  b[1] = payload.length;
  b[8] = id & 0xff; b[9] = (id >>> 8) & 0xff; b[10] = (id >>> 16) & 0xff; b[11] = (id >>> 24) & 0xff;
  b[12] = 0; b[13] = 0; b[14] = 0; b[15] = 0;
  b.set(payload, ENTRY_HEADER_BYTES);
  return b;
}

const SECTOR_MAGIC = [0x54, 0x4c, 0x4f, 0x47]; // "TLOG"

/**
 * The 'R' entries of a whole log partition image (a board's flash file), sector by sector:
 * the sector header, then entries, fill units (0x00) and erased flash (0xFF). No CRC is
 * checked: for snapshots of boards whose power cuts never tear an operation.
 */
export function decodeLogImage(image: Uint8Array, sectorSize: number, progSize: number): (RecordEntry & { sector: number })[] {
  const out: (RecordEntry & { sector: number })[] = [];
  for (let s = 0; s + sectorSize <= image.length; s += sectorSize) {
    if (!SECTOR_MAGIC.every((b, i) => image[s + i] === b)) continue;
    let p = s + ENTRY_HEADER_BYTES;
    while (p + progSize <= s + sectorSize) {
      const kind = image[p];
      let unit0 = true;
      let unitFF = true;
      for (let i = 0; i < progSize; i++) { if (image[p + i] !== 0) unit0 = false; if (image[p + i] !== 0xff) unitFF = false; }
      if (unitFF) break; // erased: the end of this sector's entries
      const len = image[p + 1];
      if (unit0 || (kind !== ENTRY_RECORD && kind !== ENTRY_ACK) || len > MAX_PAYLOAD || p + ENTRY_HEADER_BYTES + len > s + sectorSize) { p += progSize; continue; }
      const size = Math.ceil((ENTRY_HEADER_BYTES + len) / progSize) * progSize;
      if (kind === ENTRY_RECORD) {
        const e = decodeRecordProgram(image.subarray(p, p + size), progSize);
        if (e) out.push({ ...e, sector: s / sectorSize });
      }
      p += size;
    }
  }
  return out;
}
