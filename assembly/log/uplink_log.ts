// The uplink log: an append-only circular log over the raw NOR flash partition of ABI.md.
// Format, recovery rules and capacity: README.md in this folder.
//
// Shape of the code (littlefs-like): the geometry is the whole configuration, every operation
// returns a status, the caller owns payload buffers, and the log owns three small fixed
// buffers allocated once in the constructor. Every loop is bounded by the geometry, so no
// flash content can make it spin or trap.

import { host_flash_erase, host_flash_program, host_flash_read } from "../host";
import { geometryOk, log2 } from "./geometry";
import {
  encodeEntry, encodeSectorHeader, entryCrcOk, entryExtent, sectorHeaderSeq, sectorHeaderValid,
  ENTRY_HEADER_SIZE, ENTRY_MAX_PAYLOAD, ERASED_BYTE, KIND_ACK, KIND_RECORD, MAX_PROGRAM_SIZE,
  PAD_BYTE, SECTOR_HEADER_SIZE,
} from "./format";

export const LOG_OK: i32 = 0;
/** A host flash call failed, or a program did not read back as written. The next call rescans. */
export const LOG_ERR_IO: i32 = -1;
/** The geometry fails UplinkLog.geometryOk. */
export const LOG_ERR_GEOMETRY: i32 = -2;
/** Payload length outside 0..LOG_MAX_PAYLOAD. */
export const LOG_ERR_TOO_LARGE: i32 = -3;
/** append with an id not above highestId(). */
export const LOG_ERR_ID: i32 = -4;
/** Called before a successful mount(). */
export const LOG_ERR_NOT_MOUNTED: i32 = -5;
/** read index at or beyond count(). */
export const LOG_ERR_RANGE: i32 = -6;
/** A record that passed its check at mount no longer does (a cell torn by a power cut). */
export const LOG_ERR_CORRUPT: i32 = -7;

export const LOG_MAX_PAYLOAD: i32 = <i32>ENTRY_MAX_PAYLOAD;

// Reads go through one window so a walk over flash issues one host call per 512 bytes, and so
// every decision about a stretch of flash is made from a single read of it (a torn cell may
// read differently the next time).
const WINDOW_SIZE: u32 = 512;

export class UplinkLog {
  private sectorSize: u32;
  private sectorCount: u32;
  private progSize: u32;
  private log2SectorSize: u32 = 0;
  private geometryValid: bool;

  private window: usize;
  private windowAddr: u32 = 0;
  private windowLen: u32 = 0;
  private programBuf: usize;
  private headerBuf: usize;
  private ioFailed: bool = false;

  private mounted: bool = false;
  private needRecover: bool = false;

  // The chain: sectors tailSector .. headSector (circularly), seqs consecutive, appends at head.
  private hasHead: bool = false;
  private headSector: u32 = 0;
  private headSeq: u32 = 0;
  private headEnd: u32 = 0; // end of the head's last entry: readers stop here
  private writePos: u32 = 0; // where the next program goes
  private padNext: bool = false; // the next program starts with a pad unit (first after mount)
  private tailSector: u32 = 0;
  private chainLen: u32 = 0;
  private freshSector: u32 = 0; // where the first sector goes when no chain exists
  private freshSeq: u32 = 2;

  private acked: u64 = 0;
  private highest: u64 = 0;
  private live: u32 = 0;
  private dropped: u64 = 0;

  // Oldest unacknowledged record; oldFloor is the id a walk from it must exceed.
  private oldSector: u32 = 0;
  private oldOff: u32 = 0;
  private oldExt: u32 = 0;
  private oldId: u64 = 0;
  private oldFloor: u64 = 0;

  // Read cursor: read(i+1) continues from read(i).
  private curIndex: i32 = -1;
  private curSector: u32 = 0;
  private curOff: u32 = 0;
  private curExt: u32 = 0;
  private curId: u64 = 0;

  // Results of parseEntry / seekLive / writeEntry / readSectorHeader.
  private entryKind: u8 = 0;
  private entryLen: u32 = 0;
  private entryId: u64 = 0;
  private entryExt: u32 = 0;
  private foundSector: u32 = 0;
  private foundOff: u32 = 0;
  private writtenSector: u32 = 0;
  private writtenOff: u32 = 0;
  private writtenExt: u32 = 0;
  private headerSeq: u32 = 0;

  constructor(sectorSize: u32, sectorCount: u32, progSize: u32) {
    this.sectorSize = sectorSize;
    this.sectorCount = sectorCount;
    this.progSize = progSize;
    this.geometryValid = geometryOk(sectorSize, sectorCount, progSize);
    if (this.geometryValid) this.log2SectorSize = log2(sectorSize);
    this.window = heap.alloc(WINDOW_SIZE);
    this.programBuf = heap.alloc(MAX_PROGRAM_SIZE);
    this.headerBuf = heap.alloc(SECTOR_HEADER_SIZE);
  }

  static geometryOk(sectorSize: u32, sectorCount: u32, progSize: u32): bool {
    return geometryOk(sectorSize, sectorCount, progSize);
  }

  // -- public API ----------------------------------------------------------------------------

  /**
   * Scans the partition, rebuilds the in-memory state and makes the end of the head solid
   * (README.md, "Recovery"): at most one small program, and none when the last power-on
   * wrote nothing. Other sectors are never written by a mount; a sector whose erase was cut is
   * erased again when the writer reaches it. A mount cut at any point is simply redone.
   */
  mount(): i32 {
    this.dropped = 0;
    return this.remount();
  }

  append(id: u64, payload: usize, len: i32): i32 {
    if (len < 0 || len > LOG_MAX_PAYLOAD) return LOG_ERR_TOO_LARGE;
    const ready = this.ready();
    if (ready != LOG_OK) return ready;
    if (id <= this.highest || id <= this.acked) return LOG_ERR_ID;
    const rc = this.writeEntry(KIND_RECORD, id, payload, <u32>len);
    if (rc != LOG_OK) return rc;
    this.highest = id;
    if (this.live == 0) {
      this.oldSector = this.writtenSector;
      this.oldOff = this.writtenOff;
      this.oldExt = this.writtenExt;
      this.oldId = id;
      this.oldFloor = this.acked;
    }
    this.live++;
    return LOG_OK;
  }

  /**
   * Records "everything up to uptoId is delivered" as one small ack entry at the head: one
   * program, however many records it covers. A torn ack entry fails its CRC and the old
   * watermark stands, so a power cut can only cause a resend, never a loss.
   */
  ack(uptoId: u64): i32 {
    const ready = this.ready();
    if (ready != LOG_OK) return ready;
    if (uptoId <= this.acked) return LOG_OK;
    // Memory first: if the ack entry needs a fresh sector, the records it covers must not be
    // counted as dropped when the oldest sector is erased for it. The records read up to the
    // cursor (a batch just sent) are not walked again: the new oldest follows the cursor.
    if (this.curIndex >= 0 && this.curId <= uptoId) {
      this.live -= <u32>this.curIndex + 1;
      if (this.live > 0) {
        if (this.seekLive(this.curSector, this.curOff + this.curExt, this.curId)) this.takeOldest(this.curId);
        else this.live = 0;
      }
    }
    while (this.live > 0 && this.oldId <= uptoId) {
      this.live--;
      if (this.live == 0) break;
      if (!this.seekLive(this.oldSector, this.oldOff + this.oldExt, this.oldId)) {
        this.live = 0;
        break;
      }
      this.takeOldest(this.oldId);
    }
    if (this.live > 0) this.oldFloor = uptoId;
    this.acked = uptoId;
    if (uptoId > this.highest) this.highest = uptoId;
    this.curIndex = -1;
    return this.writeEntry(KIND_ACK, uptoId, 0, 0);
  }

  count(): u32 {
    return this.mounted ? this.live : 0;
  }

  oldestId(): u64 {
    return this.mounted && this.live > 0 ? this.oldId : 0;
  }

  highestId(): u64 {
    return this.mounted ? this.highest : 0;
  }

  /** The durable watermark: every id at or below it is delivered. */
  ackedUpTo(): u64 {
    return this.mounted ? this.acked : 0;
  }

  /**
   * The index-th unacknowledged record, oldest first. Reading 0, 1, 2, ... in order costs one
   * step each (a cursor remembers the last position); going back restarts from the oldest.
   * Returns the payload length (may exceed cap: then cap bytes were copied).
   */
  read(index: u32, out: usize, cap: i32, idOut: usize): i32 {
    const ready = this.ready();
    if (ready != LOG_OK) return ready;
    if (index >= this.live) return LOG_ERR_RANGE;
    if (this.curIndex < 0 || <u32>this.curIndex > index) {
      if (!this.seekLive(this.oldSector, this.oldOff, this.oldFloor)) return this.lostRecords(0);
      if (this.entryId != this.oldId || this.foundSector != this.oldSector || this.foundOff != this.oldOff) {
        this.takeOldest(this.oldFloor);
      }
      this.takeCursor(0);
    }
    while (<u32>this.curIndex < index) {
      if (!this.seekLive(this.curSector, this.curOff + this.curExt, this.curId)) {
        return this.lostRecords(<u32>this.curIndex + 1);
      }
      this.takeCursor(this.curIndex + 1);
    }
    // Copy from bytes that have just passed their CRC, not from an earlier look.
    const sector = this.curSector;
    const limit = sector == this.headSector ? this.headEnd : this.sectorSize;
    if (this.parseEntry(sector, this.seqOf(sector), this.curOff, limit) == 0
      || this.entryKind != KIND_RECORD || this.entryId != this.curId) {
      this.curIndex = -1;
      return this.ioFailed ? LOG_ERR_IO : LOG_ERR_CORRUPT;
    }
    const entry = this.view(sector * this.sectorSize + this.curOff, this.entryExt);
    if (entry == 0) return LOG_ERR_IO;
    const len = this.entryLen;
    const n: u32 = cap <= 0 ? 0 : (<u32>cap < len ? <u32>cap : len);
    for (let i: u32 = 0; i < n; i++) store<u8>(out + i, load<u8>(entry + ENTRY_HEADER_SIZE + i));
    store<u64>(idOut, this.curId);
    return <i32>len;
  }

  droppedSinceMount(): u64 {
    return this.dropped;
  }

  /**
   * Records of payloadLen bytes always retained when the log is full (no acks in between):
   * every sector but the one being refilled holds floor((sectorSize - 16) / recordBytes).
   * Just before the refill moves on the log holds up to one sector's worth more.
   */
  capacityRecords(payloadLen: i32): u32 {
    if (!this.geometryValid || payloadLen < 0 || payloadLen > LOG_MAX_PAYLOAD) return 0;
    const perSector = (this.sectorSize - SECTOR_HEADER_SIZE) / this.recordBytes(payloadLen);
    const total = <u64>(this.sectorCount - 1) * <u64>perSector;
    return total > <u64>u32.MAX_VALUE ? u32.MAX_VALUE : <u32>total;
  }

  /** Flash bytes one record of payloadLen bytes occupies: 16 + payloadLen rounded up to progSize. */
  recordBytes(payloadLen: i32): u32 {
    if (!this.geometryValid || payloadLen < 0 || payloadLen > LOG_MAX_PAYLOAD) return 0;
    return entryExtent(<u32>payloadLen, this.progSize);
  }

  // -- mount ---------------------------------------------------------------------------------

  private ready(): i32 {
    if (!this.mounted) return LOG_ERR_NOT_MOUNTED;
    this.ioFailed = false;
    if (this.needRecover) {
      // After a failed host call the state in memory may be ahead of flash: rescan.
      const dropped = this.dropped;
      const rc = this.remount();
      this.dropped = dropped;
      if (rc != LOG_OK) {
        this.mounted = true;
        this.needRecover = true;
        return rc;
      }
    }
    return LOG_OK;
  }

  /** Rebuilds the in-memory state from flash: mount(), and every call after a failed host call. */
  private remount(): i32 {
    this.mounted = false;
    this.needRecover = false;
    this.ioFailed = false;
    this.windowLen = 0;
    this.hasHead = false;
    this.padNext = false;
    this.chainLen = 0;
    this.acked = 0;
    this.highest = 0;
    this.live = 0;
    this.curIndex = -1;
    if (!this.geometryValid) return LOG_ERR_GEOMETRY;
    const sectorSize = this.sectorSize;
    const sectorCount = this.sectorCount;

    // 1. The head: the highest seq among sectors with a valid header and at least one valid
    //    entry. A header with nothing after it may itself be torn (it was the last program
    //    before the cut), so such a sector is treated as free and will be erased again.
    let anyHeader = false;
    let maxSeq: u32 = 0;
    let maxSeqSector: u32 = 0;
    for (let s: u32 = 0; s < sectorCount; s++) {
      if (!this.readSectorHeader(s)) {
        if (this.ioFailed) return LOG_ERR_IO;
        continue;
      }
      const seq = this.headerSeq;
      if (!anyHeader || seq > maxSeq) {
        maxSeq = seq;
        maxSeqSector = s;
        anyHeader = true;
      }
      if (this.hasHead && seq <= this.headSeq) continue;
      if (this.nextEntry(s, seq, SECTOR_HEADER_SIZE, sectorSize) < sectorSize) {
        this.hasHead = true;
        this.headSector = s;
        this.headSeq = seq;
      }
      if (this.ioFailed) return LOG_ERR_IO;
    }
    if (!this.hasHead) {
      // A new chain skips a seq: no header now on flash (an opened sector whose first entry
      // was torn, say, never repaired) can ever pass for the sector before its first one.
      this.freshSector = anyHeader ? (maxSeqSector + 1) % sectorCount : 0;
      this.freshSeq = maxSeq + 2;
      this.mounted = true;
      return LOG_OK;
    }

    // 2. The chain: walk back from the head while each sector holds the previous seq. A
    //    sector whose erase was cut, or anything stale, breaks the chain and is free.
    this.tailSector = this.headSector;
    this.chainLen = 1;
    while (this.chainLen < sectorCount) {
      const prev = (this.tailSector + sectorCount - 1) % sectorCount;
      if (!this.readSectorHeader(prev) || this.headerSeq != this.headSeq - this.chainLen) break;
      this.tailSector = prev;
      this.chainLen++;
    }
    if (this.ioFailed) return LOG_ERR_IO;

    // 3. Only the head can hold what the last power cut tore: make it solid before anything
    //    else is read, so every later read sees what this mount decided. The last entry's
    //    image is kept exactly as it passed its CRC (a torn cell may read otherwise next time).
    let lastStart = SECTOR_HEADER_SIZE;
    let lastEnd = SECTOR_HEADER_SIZE;
    let off = SECTOR_HEADER_SIZE;
    while (true) {
      off = this.nextEntry(this.headSector, this.headSeq, off, sectorSize);
      if (off >= sectorSize) break;
      lastStart = off;
      lastEnd = off + this.entryExt;
      memory.copy(this.programBuf, this.view(this.headSector * sectorSize + off, this.entryExt), this.entryExt);
      off = lastEnd;
    }
    if (this.ioFailed) return LOG_ERR_IO;
    const repaired = this.repairHead(lastStart, lastEnd);
    if (repaired != LOG_OK) return repaired;

    // 4. Every entry of the chain: the watermark and the highest id.
    let sector = this.tailSector;
    for (let k: u32 = 0; k < this.chainLen; k++) {
      const seq = this.seqOf(sector);
      off = SECTOR_HEADER_SIZE;
      while (true) {
        off = this.nextEntry(sector, seq, off, sectorSize);
        if (off >= sectorSize) break;
        if (this.entryKind == KIND_ACK && this.entryId > this.acked) this.acked = this.entryId;
        if (this.entryId > this.highest) this.highest = this.entryId;
        off += this.entryExt;
      }
      if (this.ioFailed) return LOG_ERR_IO;
      sector = (sector + 1) % sectorCount;
    }

    // 5. The unacknowledged records: ids above the watermark, strictly increasing.
    let floor = this.acked;
    sector = this.tailSector;
    off = SECTOR_HEADER_SIZE;
    while (this.seekLive(sector, off, floor)) {
      if (this.live == 0) this.takeOldest(floor);
      this.live++;
      floor = this.entryId;
      sector = this.foundSector;
      off = this.foundOff + this.entryExt;
    }
    if (this.ioFailed) return LOG_ERR_IO;
    this.mounted = true;
    return LOG_OK;
  }

  /**
   * The head's last entry runs from entryStart to entryEnd (both the header's end if it has
   * none left) and its verified image is in programBuf. After it there may be zero units
   * (pads and seals written by earlier mounts), then either erased flash or debris: a program
   * the power cut tore, whose cells may read back differently on every read.
   *  - debris: the torn program started after the last entry, so that entry is complete. Zero
   *    everything from the entry's end to MAX_PROGRAM_SIZE past the debris (a torn program is
   *    never longer) and write after that: nothing torn can ever pass for an entry again.
   *  - erased: a program cut before anything stuck may have left one weak unit where the next
   *    entry goes, so the first program after the mount starts with a zero pad unit over it.
   *    If the entry is directly followed by 0xFF it may even be the torn program itself, with
   *    weak cells that happened to read right: program it again, now, with the bytes it just
   *    verified with (same bits: a no-op on a complete entry; weak 0-bits become solid), and
   *    the pad unit behind it in the same program. The next mount then sees a pad after the
   *    entry and writes nothing: only a power-on that wrote something costs a mount program.
   */
  private repairHead(entryStart: u32, entryEnd: u32): i32 {
    const sectorSize = this.sectorSize;
    const unit = this.progSize;
    const base = this.headSector * sectorSize;
    let fillEnd = entryEnd;
    while (fillEnd < sectorSize) {
      const p = this.view(base + fillEnd, unit);
      if (p == 0) return LOG_ERR_IO;
      if (!allZero(p, unit)) break;
      fillEnd += unit;
    }
    let debrisEnd = fillEnd;
    let off = fillEnd;
    while (off < sectorSize) {
      if (unit < 8 && (off & 7) == 0 && off + 8 <= sectorSize) {
        const word = this.view(base + off, 8);
        if (word == 0) return LOG_ERR_IO;
        if (load<u64>(word) == 0xFFFFFFFFFFFFFFFF) {
          off += 8;
          continue;
        }
      }
      const p = this.view(base + off, unit);
      if (p == 0) return LOG_ERR_IO;
      if (!allErased(p, unit)) debrisEnd = off + unit;
      off += unit;
    }
    this.headEnd = entryEnd;
    if (debrisEnd == fillEnd) {
      this.writePos = fillEnd;
      this.padNext = true;
      if (fillEnd == entryEnd && entryEnd > entryStart) {
        let len = entryEnd - entryStart;
        if (entryEnd + unit <= sectorSize) {
          memory.fill(this.programBuf + len, PAD_BYTE, unit);
          len += unit;
          this.writePos = entryEnd + unit;
          this.padNext = false;
        }
        const rc = this.programVerified(base + entryStart, this.programBuf, len);
        if (rc != LOG_OK) return rc;
      }
      return LOG_OK;
    }
    let sealEnd = debrisEnd + MAX_PROGRAM_SIZE;
    if (sealEnd > sectorSize) sealEnd = sectorSize;
    memory.fill(this.programBuf, 0, MAX_PROGRAM_SIZE);
    for (let at = entryEnd; at < sealEnd; at += MAX_PROGRAM_SIZE) {
      const n = sealEnd - at < MAX_PROGRAM_SIZE ? sealEnd - at : MAX_PROGRAM_SIZE;
      const rc = this.programVerified(base + at, this.programBuf, n);
      if (rc != LOG_OK) return rc;
    }
    this.writePos = sealEnd;
    this.padNext = false;
    return LOG_OK;
  }

  private lostRecords(found: u32): i32 {
    // A record counted at mount no longer passes its CRC (a torn cell): fewer remain.
    this.live = found;
    this.curIndex = -1;
    return this.ioFailed ? LOG_ERR_IO : LOG_ERR_RANGE;
  }

  // -- writing -------------------------------------------------------------------------------

  private writeEntry(kind: u8, id: u64, payload: usize, len: u32): i32 {
    const extent = entryExtent(len, this.progSize);
    let pad: u32 = this.padNext ? this.progSize : 0;
    if (!this.hasHead || this.writePos + pad + extent > this.sectorSize) {
      const rc = this.openSector();
      if (rc != LOG_OK) return rc;
      pad = 0;
    }
    const addr = this.headSector * this.sectorSize + this.writePos;
    const buf = this.programBuf;
    for (let i: u32 = 0; i < pad; i++) store<u8>(buf + i, PAD_BYTE);
    encodeEntry(buf + pad, addr + pad, this.headSeq, kind, id, payload, len, extent);
    const rc = this.programVerified(addr, buf, pad + extent);
    if (rc != LOG_OK) return rc;
    this.writtenSector = this.headSector;
    this.writtenOff = this.writePos + pad;
    this.writtenExt = extent;
    this.writePos += pad + extent;
    this.headEnd = this.writePos;
    this.padNext = false;
    return LOG_OK;
  }

  /**
   * Moves the head to the next sector in physical order (round-robin: every sector is erased
   * once per lap, so wear is even). The sector is erased right before its header goes in:
   * an erase finished in an earlier power-on cannot be trusted (a cut erase can read back all
   * 0xFF and still hold weak cells), and not erasing ahead keeps every sector holding data.
   */
  private openSector(): i32 {
    const sectorCount = this.sectorCount;
    let target: u32;
    let seq: u32;
    if (this.hasHead) {
      target = (this.headSector + 1) % sectorCount;
      seq = this.headSeq + 1;
    } else {
      target = this.freshSector;
      seq = this.freshSeq;
    }
    if (this.chainLen == sectorCount) this.dropTail(); // target is the tail
    this.curIndex = -1;
    this.windowLen = 0;
    if (host_flash_erase(target) < 0) {
      this.needRecover = true;
      return LOG_ERR_IO;
    }
    encodeSectorHeader(this.headerBuf, target, seq, this.log2SectorSize, this.progSize);
    const rc = this.programVerified(target * this.sectorSize, this.headerBuf, SECTOR_HEADER_SIZE);
    if (rc != LOG_OK) return rc;
    if (this.chainLen == 0) this.tailSector = target;
    this.chainLen++;
    this.hasHead = true;
    this.headSector = target;
    this.headSeq = seq;
    this.writePos = SECTOR_HEADER_SIZE;
    this.headEnd = SECTOR_HEADER_SIZE;
    this.padNext = false;
    return LOG_OK;
  }

  /** The full log gives up its oldest sector: count the unacknowledged records it held. */
  private dropTail(): void {
    const sectorCount = this.sectorCount;
    const tail = this.tailSector;
    this.tailSector = (tail + 1) % sectorCount;
    this.chainLen--;
    if (this.live == 0 || this.oldSector != tail) return;
    const seq = this.seqOf(tail);
    let floor = this.oldFloor;
    let lost: u32 = 0;
    let off = this.oldOff;
    while (true) {
      off = this.nextEntry(tail, seq, off, this.sectorSize);
      if (off >= this.sectorSize) break;
      if (this.entryKind == KIND_RECORD && this.entryId > floor) {
        lost++;
        floor = this.entryId;
      }
      off += this.entryExt;
    }
    if (lost > this.live) lost = this.live;
    this.live -= lost;
    this.dropped += <u64>lost;
    if (this.live > 0) {
      if (this.seekLive(this.tailSector, SECTOR_HEADER_SIZE, floor)) this.takeOldest(floor);
      else this.live = 0;
    }
  }

  private programVerified(addr: u32, buf: usize, len: u32): i32 {
    this.windowLen = 0;
    if (host_flash_program(addr, buf, <i32>len) < 0) {
      this.needRecover = true;
      return LOG_ERR_IO;
    }
    // Read back: a program that did not land as written must not be reported durable.
    const p = this.view(addr, len);
    if (p == 0 || !sameBytes(p, buf, len)) {
      this.needRecover = true;
      return LOG_ERR_IO;
    }
    return LOG_OK;
  }

  // -- reading -------------------------------------------------------------------------------

  private seqOf(sector: u32): u32 {
    return this.headSeq - (this.headSector + this.sectorCount - sector) % this.sectorCount;
  }

  private takeOldest(floor: u64): void {
    this.oldSector = this.foundSector;
    this.oldOff = this.foundOff;
    this.oldExt = this.entryExt;
    this.oldId = this.entryId;
    this.oldFloor = floor;
  }

  private takeCursor(index: i32): void {
    this.curIndex = index;
    this.curSector = this.foundSector;
    this.curOff = this.foundOff;
    this.curExt = this.entryExt;
    this.curId = this.entryId;
  }

  /**
   * Finds the first record at or after (sector, off), in chain order up to the head's end,
   * whose id is above floor. Leaves it in foundSector/foundOff and the entry fields.
   */
  private seekLive(sector: u32, off: u32, floor: u64): bool {
    if (!this.hasHead) return false;
    for (let k: u32 = 0; k < this.chainLen; k++) {
      const seq = this.seqOf(sector);
      const limit = sector == this.headSector ? this.headEnd : this.sectorSize;
      while (true) {
        off = this.nextEntry(sector, seq, off, limit);
        if (off >= limit) break;
        if (this.entryKind == KIND_RECORD && this.entryId > floor) {
          this.foundSector = sector;
          this.foundOff = off;
          return true;
        }
        off += this.entryExt;
      }
      if (sector == this.headSector || this.ioFailed) return false;
      sector = (sector + 1) % this.sectorCount;
      off = SECTOR_HEADER_SIZE;
    }
    return false;
  }

  /**
   * Offset of the first valid entry at or after off (limit if none), its fields in entry*.
   * Anything else (erased space, pads, seals, debris) is stepped over one program unit at a
   * time: a torn entry's length cannot be trusted.
   */
  private nextEntry(sector: u32, seq: u32, off: u32, limit: u32): u32 {
    const unit = this.progSize;
    const base = sector * this.sectorSize;
    while (off < limit) {
      if (this.ioFailed) return limit;
      if (off + ENTRY_HEADER_SIZE <= limit && this.parseEntry(sector, seq, off, limit) != 0) return off;
      if (unit < 8 && (off & 7) == 0 && off + 8 <= limit) {
        const word = this.view(base + off, 8);
        if (word == 0) return limit;
        if (load<u64>(word) == 0xFFFFFFFFFFFFFFFF) {
          off += 8;
          continue;
        }
      }
      off += unit;
    }
    return limit;
  }

  /** Extent of the valid entry at (sector, off) ending by limit, or 0. */
  private parseEntry(sector: u32, seq: u32, off: u32, limit: u32): u32 {
    const addr = sector * this.sectorSize + off;
    let p = this.view(addr, ENTRY_HEADER_SIZE);
    if (p == 0) return 0;
    const kind = load<u8>(p);
    if (kind != KIND_RECORD && kind != KIND_ACK) return 0;
    const len = <u32>load<u8>(p, 1);
    if (len > ENTRY_MAX_PAYLOAD || (kind == KIND_ACK && len != 0)) return 0;
    const extent = entryExtent(len, this.progSize);
    if (off + extent > limit) return 0;
    p = this.view(addr, extent);
    if (p == 0 || !entryCrcOk(p, addr, seq, len)) return 0;
    this.entryKind = kind;
    this.entryLen = len;
    this.entryId = load<u64>(p, 8);
    this.entryExt = extent;
    return extent;
  }

  private readSectorHeader(sector: u32): bool {
    const buf = this.headerBuf;
    if (host_flash_read(sector * this.sectorSize, buf, <i32>SECTOR_HEADER_SIZE) < 0) {
      this.ioFailed = true;
      return false;
    }
    if (!sectorHeaderValid(buf, sector, this.log2SectorSize, this.progSize)) return false;
    this.headerSeq = sectorHeaderSeq(buf);
    return true;
  }

  /** Pointer to len bytes of flash at addr (within one sector), or 0 after a read error. */
  private view(addr: u32, len: u32): usize {
    if (this.windowLen != 0 && addr >= this.windowAddr && addr + len <= this.windowAddr + this.windowLen) {
      return this.window + <usize>(addr - this.windowAddr);
    }
    const sectorEnd = (addr / this.sectorSize + 1) * this.sectorSize;
    let n = sectorEnd - addr;
    if (n > WINDOW_SIZE) n = WINDOW_SIZE;
    if (len > n || host_flash_read(addr, this.window, <i32>n) < 0) {
      this.windowLen = 0;
      this.ioFailed = true;
      return 0;
    }
    this.windowAddr = addr;
    this.windowLen = n;
    return this.window;
  }
}

function allErased(p: usize, len: u32): bool {
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(p + i) != 0xFFFFFFFFFFFFFFFF) return false;
  for (; i < len; i++) if (load<u8>(p + i) != ERASED_BYTE) return false;
  return true;
}

function allZero(p: usize, len: u32): bool {
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(p + i) != 0) return false;
  for (; i < len; i++) if (load<u8>(p + i) != 0) return false;
  return true;
}

function sameBytes(a: usize, b: usize, len: u32): bool {
  for (let i: u32 = 0; i < len; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

