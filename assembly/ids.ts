// Uplink ids: (epoch, id), the device's half of the cloud's dedupe (contract, uplinks).
// Within an epoch ids start at 1 and are dense: the next id is recovered from the flash log,
// which holds the newest record whatever was acknowledged, so a power cut, a trap or a reboot
// skips none. A reservation in the key-value store is only the guard against reuse: when the
// device cannot prove which ids it used (the counter record missing or damaged, the log lost
// or of another sequence) it draws a new random epoch instead of guessing.
//
// The log orders records by a u64 key: the epoch's ordinal (a local count of epochs, in the
// high 32 bits) and the id (low 32 bits), so keys only grow even though epochs are random.
// The epoch itself travels in each record (uplink.ts).
//
// The counter record (`ids`, version 1): epoch u32, ordinal u32, reserved u32 (ids below it may
// be in use), boots u32 (power-ons and restarts of this epoch: a record's boot is only placed
// in time within its epoch).
import { kvGet, kvSet } from "./kv";
import { ByteReader, ByteWriter } from "./bytes";

const IDS_KEY = "ids";
const IDS_VERSION: u32 = 1;
/** Ids reserved per key-value write: one write per this many uplinks. */
const RESERVE_BLOCK: u32 = 32;

export const EPOCH_KEPT: i32 = 0;
export const EPOCH_FIRST: i32 = 1;        // no counter record, no log: a new device
export const EPOCH_NO_RECORD: i32 = 2;    // counter record missing or damaged
export const EPOCH_LOG_LOST: i32 = 3;     // ids were reserved but the log holds none of them
export const EPOCH_LOG_OTHER: i32 = 4;    // the log's newest record is of another sequence

export class IdAllocator {
  epoch: u32 = 0;
  ordinal: u32 = 0;
  boots: u32 = 0;
  /** Why this power-on started a new epoch (EPOCH_*), EPOCH_KEPT if it did not. */
  why: i32 = EPOCH_KEPT;
  private next: u32 = 1;
  private reserved: u32 = 1;
  /** Set when a reservation could not be stored: logged once, ids still used. */
  storeFailed: bool = false;

  /**
   * Decides the epoch and the next id from the counter record and the log's highest key, and
   * counts this start. `random` is a fresh draw for a new epoch.
   */
  start(logHighest: u64, random: u32): void {
    const hiOrdinal = <u32>(logHighest >> 32);
    const hiId = <u32>logHighest;
    const r = kvGet(IDS_KEY);
    let ok = false;
    if (r.status == 0) {
      const rd = new ByteReader(r.value!);
      const version = rd.u8();
      const epoch = rd.u32();
      const ordinal = rd.u32();
      const reserved = rd.u32();
      const boots = rd.u32();
      if (rd.atEnd() && version == IDS_VERSION && ordinal >= 1 && reserved >= 1) {
        ok = true;
        this.epoch = epoch;
        this.ordinal = ordinal;
        this.reserved = reserved;
        this.boots = boots;
      }
    }
    if (!ok) {
      this.begin(hiOrdinal, random, r.status == 0 || logHighest != 0 ? EPOCH_NO_RECORD : EPOCH_FIRST);
    } else if (logHighest == 0 && this.reserved > 1) {
      this.begin(this.ordinal, random, EPOCH_LOG_LOST);
    } else if (logHighest != 0 && hiOrdinal != this.ordinal) {
      this.begin(max(hiOrdinal, this.ordinal), random, EPOCH_LOG_OTHER);
    } else {
      this.why = EPOCH_KEPT;
      this.next = logHighest == 0 ? 1 : hiId + 1;
    }
    this.boots++;
    this.persist();
  }

  private begin(afterOrdinal: u32, random: u32, why: i32): void {
    // A new epoch differs from the one it replaces (if that is still known).
    this.epoch = random == this.epoch ? random ^ 0x9e3779b9 : random;
    this.ordinal = afterOrdinal + 1;
    this.next = 1;
    this.reserved = 1;
    this.boots = 0;
    this.why = why;
  }

  /** The log key of an id of this epoch. */
  key(id: u32): u64 { return ((<u64>this.ordinal) << 32) | <u64>id; }

  /** The id a log key names (its epoch is in the record). */
  static idOf(key: u64): u32 { return <u32>key; }

  /** The last id used in this epoch (0: none yet). */
  lastId(): u32 { return this.next - 1; }

  /** Takes the next id, reserving a block in the store first when the reservation runs out. */
  take(): u32 {
    if (this.next >= this.reserved) {
      this.reserved = this.next + RESERVE_BLOCK;
      this.storeFailed = this.persist() != 0;
    }
    return this.next++;
  }

  private persist(): i32 {
    const w = new ByteWriter(17);
    w.u8(IDS_VERSION);
    w.u32(this.epoch);
    w.u32(this.ordinal);
    w.u32(this.reserved);
    w.u32(this.boots);
    return kvSet(IDS_KEY, w.bytes());
  }
}
