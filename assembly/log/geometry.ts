// The flash geometry the host hands to agent_start: what the log may assume about the
// partition. Everything else (sizes, offsets, capacity) is derived from these three numbers.

export const SECTOR_SIZE_MIN: u32 = 256;
export const SECTOR_SIZE_MAX: u32 = 65536;
/** Partition size limit: flash addresses cross the ABI as i32. */
export const PARTITION_SIZE_MAX: u64 = 0x80000000;

function isPowerOfTwo(v: u32): bool {
  return v != 0 && (v & (v - 1)) == 0;
}

/**
 * sectorSize: a power of two in 256..65536; sectorCount >= 2 (one sector can always be erased
 * while the other keeps data) and the partition at most 2 GiB; progSize: 1, 2, 4, 8 or 16
 * (the record header is 16 bytes, so every program unit divides it and the sector size).
 */
export function geometryOk(sectorSize: u32, sectorCount: u32, progSize: u32): bool {
  if (!isPowerOfTwo(sectorSize) || sectorSize < SECTOR_SIZE_MIN || sectorSize > SECTOR_SIZE_MAX) return false;
  if (sectorCount < 2) return false;
  if (<u64>sectorSize * <u64>sectorCount > PARTITION_SIZE_MAX) return false;
  if (!isPowerOfTwo(progSize) || progSize > 16) return false;
  return sectorSize % progSize == 0;
}

export function log2(v: u32): u32 {
  return <u32>ctz(v);
}
