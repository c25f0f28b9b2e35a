// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the check value every entry and
// sector header carries. Table-driven from one static 1 KiB table built on first use, so no
// allocation and no start-up cost for a module that never touches the log.

const CRC_TABLE: usize = memory.data(1024, 4);
let crcTableReady = false;

export const CRC32_INIT: u32 = 0xFFFFFFFF;

function buildTable(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(CRC_TABLE + (<usize>n << 2), c);
  }
  crcTableReady = true;
}

/** Feeds len bytes at ptr into a running CRC (start from CRC32_INIT, finish with crc32Final). */
export function crc32Update(crc: u32, ptr: usize, len: u32): u32 {
  if (!crcTableReady) buildTable();
  for (let i: u32 = 0; i < len; i++) {
    const index = (crc ^ <u32>load<u8>(ptr + i)) & 0xFF;
    crc = load<u32>(CRC_TABLE + (<usize>index << 2)) ^ (crc >>> 8);
  }
  return crc;
}

/** Feeds a u32 as 4 little-endian bytes (used to bind an entry to its address and sector). */
export function crc32UpdateU32(crc: u32, value: u32): u32 {
  if (!crcTableReady) buildTable();
  for (let i = 0; i < 4; i++) {
    const index = (crc ^ value) & 0xFF;
    crc = load<u32>(CRC_TABLE + (<usize>index << 2)) ^ (crc >>> 8);
    value >>>= 8;
  }
  return crc;
}

export function crc32Final(crc: u32): u32 {
  return ~crc;
}
