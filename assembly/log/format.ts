// On-flash layout of the uplink log (manual: README.md in this folder). Little-endian.
//
// Sector header, 16 bytes at offset 0 of every sector in use:
//    0 u32 magic "TLOG"      4 u8 version   5 u8 log2(sectorSize)   6 u8 progSize   7 u8 0xFF
//    8 u32 seq (one more than the sector opened before it)   12 u32 crc32(sector index, bytes 0..12)
// Entry, 16-byte header + payload, padded with 0xFF to a multiple of progSize:
//    0 u8 kind ('R' uplink record, 'A' ack watermark)   1 u8 payload length   2 u16 0xFFFF
//    4 u32 crc32(address, sector seq, bytes 0..4, bytes 8..16, payload)   8 u64 id
// Pad: one program unit of 0x00, written in front of the first entry after a mount.

import { crc32Final, crc32Update, crc32UpdateU32, CRC32_INIT } from "./crc32";

export const SECTOR_HEADER_SIZE: u32 = 16;
export const SECTOR_MAGIC: u32 = 0x474F4C54; // bytes "TLOG"
export const FORMAT_VERSION: u8 = 1;

export const ENTRY_HEADER_SIZE: u32 = 16;
export const ENTRY_MAX_PAYLOAD: u32 = 96;
export const KIND_RECORD: u8 = 0x52; // 'R'
export const KIND_ACK: u8 = 0x41; // 'A'
export const ERASED_BYTE: u8 = 0xFF;
export const PAD_BYTE: u8 = 0x00;

/** Largest single program the log issues: pad unit + header + max payload (already a multiple of 16). */
export const MAX_PROGRAM_SIZE: u32 = 16 + ENTRY_HEADER_SIZE + ENTRY_MAX_PAYLOAD;

// -- sector header ---------------------------------------------------------------------------

export function encodeSectorHeader(buf: usize, sector: u32, seq: u32, log2SectorSize: u32, progSize: u32): void {
  store<u32>(buf, SECTOR_MAGIC);
  store<u8>(buf, FORMAT_VERSION, 4);
  store<u8>(buf, <u8>log2SectorSize, 5);
  store<u8>(buf, <u8>progSize, 6);
  store<u8>(buf, ERASED_BYTE, 7);
  store<u32>(buf, seq, 8);
  store<u32>(buf, sectorHeaderCrc(buf, sector), 12);
}

/** True when the 16 bytes at buf are a complete header written for this sector and geometry. */
export function sectorHeaderValid(buf: usize, sector: u32, log2SectorSize: u32, progSize: u32): bool {
  if (load<u32>(buf) != SECTOR_MAGIC) return false;
  if (load<u8>(buf, 4) != FORMAT_VERSION) return false;
  if (<u32>load<u8>(buf, 5) != log2SectorSize || <u32>load<u8>(buf, 6) != progSize) return false;
  return load<u32>(buf, 12) == sectorHeaderCrc(buf, sector);
}

export function sectorHeaderSeq(buf: usize): u32 {
  return load<u32>(buf, 8);
}

function sectorHeaderCrc(buf: usize, sector: u32): u32 {
  // The index is in the check so a header is only valid in the sector it was written for.
  let crc = crc32UpdateU32(CRC32_INIT, sector);
  crc = crc32Update(crc, buf, 12);
  return crc32Final(crc);
}

// -- entries ---------------------------------------------------------------------------------

/** Flash bytes one entry with len bytes of payload occupies (its program size, no pad). */
export function entryExtent(len: u32, progSize: u32): u32 {
  return (ENTRY_HEADER_SIZE + len + progSize - 1) & ~(progSize - 1);
}

/** Writes a complete entry (header, payload, 0xFF fill to extent) at buf for flash address addr. */
export function encodeEntry(buf: usize, addr: u32, seq: u32, kind: u8, id: u64, payload: usize, len: u32, extent: u32): void {
  store<u8>(buf, kind);
  store<u8>(buf, <u8>len, 1);
  store<u16>(buf, 0xFFFF, 2);
  store<u64>(buf, id, 8);
  for (let i: u32 = 0; i < len; i++) store<u8>(buf + ENTRY_HEADER_SIZE + i, load<u8>(payload + i));
  for (let i = ENTRY_HEADER_SIZE + len; i < extent; i++) store<u8>(buf + i, ERASED_BYTE);
  store<u32>(buf, entryCrc(buf, addr, seq, len), 4);
}

/**
 * Checks the entry image at buf (at least extent bytes readable) against its CRC. The address
 * and sector seq are part of the check: a record image that ends up anywhere else (inside a
 * payload, in a stale sector life) is not an entry.
 */
export function entryCrcOk(buf: usize, addr: u32, seq: u32, len: u32): bool {
  return load<u32>(buf, 4) == entryCrc(buf, addr, seq, len);
}

function entryCrc(buf: usize, addr: u32, seq: u32, len: u32): u32 {
  let crc = crc32UpdateU32(CRC32_INIT, addr);
  crc = crc32UpdateU32(crc, seq);
  crc = crc32Update(crc, buf, 4);
  crc = crc32Update(crc, buf + 8, 8 + len);
  return crc32Final(crc);
}
