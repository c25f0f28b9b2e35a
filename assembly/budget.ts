// The request budget, the backstop under every decision of the session (contract: at most 60
// requests in any hour beyond those that deliver uplinks and are acknowledged, whatever the
// cloud answers). A sliding window, exact: the start times of the requests of the last hour
// that acknowledged nothing (or whose answer is still out). A request may start only while
// fewer than BUDGET_PER_HOUR are in the window; its time goes in before it leaves, and comes
// out again when its answer verifiably acknowledges uplinks. So every hour-long window ending
// at a request holds at most 60, and any other window holds no more than one of those.
// (A token bucket would bound it too, but only at half the rate: 29 + 30 an hour.)
//
// Across reboots and traps the window is stored before each request (one key-value write of
// at most 130 bytes per request), as ages in whole seconds, rounded down, relative to the
// monotonic time of the store; an acknowledgement is stored with the next request, so a power
// cut in between keeps one request too many for at most an hour, never one too few. While the
// window is full the device stores it every minute, so that power cuts more frequent than an
// hour still let it age (a power-on cannot credit the time it was off). A restart after a
// trap runs on the same monotonic clock (ABI.md) and takes the times as they were; a power-on
// cannot know how long it was off, so it takes them as if it had been off for no time at all:
// never earlier than they were, so never a request more than the contract allows.
import { kvGet, kvSet } from "./kv";
import { ByteReader, ByteWriter } from "./bytes";

export const BUDGET_PER_HOUR: i32 = 60;
const HOUR_MS: i64 = 3_600_000;
const BUDGET_KEY = "budget";
const BUDGET_VERSION: u32 = 3;
/** While the window is full it is stored this often (the time a power cut can lose). */
const FULL_STORE_MS: i64 = 60_000;

export class RequestBudget {
  /** Start times (monotonic ms) of the requests in the window, oldest first. */
  private times: StaticArray<i64> = new StaticArray<i64>(BUDGET_PER_HOUR);
  private count: i32 = 0;
  private storedAt: i64 = 0;
  /** Requests refused for want of budget, this power-on. */
  waits: u64 = 0;

  /**
   * Resumes the stored window at `now`. A new device (no id counter, no log, no window) starts
   * with an empty one; a device whose record is missing (damaged: the store reads it as
   * missing) or of no known shape starts with a full one, as if it had just spent the hour's
   * budget: silent for an hour, never a storm on a guess.
   */
  load(now: i64, newDevice: bool, afterTrap: bool): void {
    this.count = 0;
    this.storedAt = now;
    const r = kvGet(BUDGET_KEY);
    if (r.status == 0 && this.read(r.value!, now, afterTrap)) return;
    this.count = 0;
    if (newDevice && r.status != 0) return;
    for (let i = 0; i < BUDGET_PER_HOUR; i++) this.times[i] = now;
    this.count = BUDGET_PER_HOUR;
  }

  private read(v: Uint8Array, now: i64, afterTrap: bool): bool {
    const rd = new ByteReader(v);
    const version = rd.u8();
    const storedAt = rd.i64();
    const n = <i32>rd.u8();
    if (version != BUDGET_VERSION || n > BUDGET_PER_HOUR) return false;
    // After a trap the clock is the same; after a power-on, take the store as just now.
    const base = afterTrap && storedAt >= 0 && storedAt <= now ? storedAt : now;
    let last: i64 = I64.MIN_VALUE;
    for (let i = 0; i < n; i++) {
      const age = <i64>rd.u16() * 1000;
      const t = base - age;
      if (age > HOUR_MS || t < last) return false; // oldest first, within the hour
      this.times[i] = t;
      last = t;
    }
    if (!rd.atEnd()) return false;
    this.count = n;
    return true;
  }

  /** Drops the times that have left the window. */
  private expire(now: i64): void {
    let k = 0;
    while (k < this.count && this.times[k] <= now - HOUR_MS) k++;
    if (k == 0) return;
    for (let i = k; i < this.count; i++) this.times[i - k] = this.times[i];
    this.count -= k;
  }

  /** Whether a request may start now. */
  allows(now: i64): bool {
    this.expire(now);
    if (this.count < BUDGET_PER_HOUR) return true;
    if (now - this.storedAt >= FULL_STORE_MS) this.store(now);
    return false;
  }

  /** When the agent must wake for the budget: the next request it allows, or the next store of a full window. */
  wakeAt(now: i64): i64 {
    const ready = this.readyAt(now);
    return ready <= now ? now : min(ready, this.storedAt + FULL_STORE_MS);
  }

  /** When a request may start (now or later). */
  readyAt(now: i64): i64 {
    this.expire(now);
    return this.count < BUDGET_PER_HOUR ? now : this.times[0] + HOUR_MS;
  }

  /** Counts a request about to start (the caller checked `allows`) and stores the window. */
  take(now: i64): i32 {
    this.expire(now);
    if (this.count == BUDGET_PER_HOUR) return -1;
    this.times[this.count++] = now;
    return this.store(now);
  }

  /** The request just answered (the newest) delivered uplinks and they were acknowledged. */
  giveBack(): void {
    if (this.count > 0) this.count--;
  }

  private store(now: i64): i32 {
    this.storedAt = now;
    const w = new ByteWriter(10 + 2 * BUDGET_PER_HOUR);
    w.u8(BUDGET_VERSION);
    w.i64(now);
    w.u8(<u32>this.count);
    for (let i = 0; i < this.count; i++) w.u16(<u32>((now - this.times[i]) / 1000));
    return kvSet(BUDGET_KEY, w.bytes());
  }

  /** Requests that may still start within the hour (agent_stat). */
  remaining(now: i64): i64 {
    this.expire(now);
    return <i64>(BUDGET_PER_HOUR - this.count);
  }
}
