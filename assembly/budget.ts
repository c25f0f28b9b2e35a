// The request budget, the backstop under every decision of the session (contract: at most 60
// requests in any hour beyond those that deliver uplinks and are acknowledged, whatever the
// cloud answers). A token bucket: every request takes a token before it starts, a verified
// acknowledgement gives it back.
//
// Why it holds: the bucket holds at most CAPACITY tokens and gains REFILL per hour, so in any
// hour at most CAPACITY + REFILL tokens are taken and kept, plus one given back inside the hour
// for a request taken before it (one request is in flight at a time): 29 + 30 + 1 = 60.
//
// Across reboots and traps: the level is stored before a request goes out (PREPAID tokens ahead),
// with the monotonic time it was stored at, so the stored level is never above the real one.
// A power-on resumes from it with no credit for the time it was off (it cannot know how long
// that was); a restart after a trap runs on the same monotonic clock (ABI.md), so it is
// credited the refill since the store, and a module that traps every few minutes still gets
// its share. Each start forfeits the prepaid tokens it did not use, so PREPAID is 1, and a
// token given back is stored too: one key-value write per request and one per acknowledgement
// (at most about 120 an hour of 17-byte values: NVS wear-levels that for decades).
import { kvGet, kvSet } from "./kv";
import { ByteReader, ByteWriter } from "./bytes";

export const BUDGET_PER_HOUR: i64 = 60;
const HOUR_MS: i64 = 3_600_000;
/** One token's worth of refill time: REFILL = BUDGET_PER_HOUR / 2 tokens an hour. */
export const TOKEN_MS: i64 = HOUR_MS / (BUDGET_PER_HOUR / 2);
const CAPACITY_MS: i64 = TOKEN_MS * (BUDGET_PER_HOUR / 2 - 1);
/** Tokens taken ahead per store write: one write per this many requests. */
const PREPAID: i64 = 1;

const BUDGET_KEY = "budget";
const BUDGET_VERSION: u32 = 2;

export class RequestBudget {
  private levelMs: i64 = CAPACITY_MS; // a new device starts with a full bucket
  private atMs: i64 = 0;
  private prepaid: i64 = 0;
  /** Requests refused for want of a token, this power-on. */
  waits: u64 = 0;

  /**
   * Resumes the stored level at `now`. Only a new device starts with a full bucket: for any
   * other a missing record (damaged: the store reads it as missing) means an empty one.
   */
  load(now: i64, newDevice: bool, afterTrap: bool): void {
    this.atMs = now;
    const r = kvGet(BUDGET_KEY);
    if (r.status != 0) {
      if (!newDevice) this.levelMs = 0;
      return;
    }
    const rd = new ByteReader(r.value!);
    const version = rd.u8();
    const level = rd.i64();
    const storedAt = rd.i64();
    if (!rd.atEnd() || version != BUDGET_VERSION || level > CAPACITY_MS || level < -PREPAID * TOKEN_MS) {
      this.levelMs = 0; // of no shape we wrote: assume spent, never assume full
      return;
    }
    this.levelMs = level;
    if (afterTrap && storedAt >= 0 && storedAt <= now) this.atMs = storedAt;
  }

  private refill(now: i64): void {
    if (now > this.atMs) {
      this.levelMs = min(CAPACITY_MS, this.levelMs + (now - this.atMs));
      this.atMs = now;
    }
  }

  /** Whether a request may start now. */
  allows(now: i64): bool {
    this.refill(now);
    return this.levelMs >= TOKEN_MS;
  }

  /** When a request may start (now or later). */
  readyAt(now: i64): i64 {
    this.refill(now);
    return this.levelMs >= TOKEN_MS ? now : now + (TOKEN_MS - this.levelMs);
  }

  /** Takes a token for a request about to start; stores the level first when the prepaid run out. */
  take(now: i64): i32 {
    this.refill(now);
    this.levelMs -= TOKEN_MS;
    if (this.prepaid > 0) {
      this.prepaid--;
      return 0;
    }
    this.prepaid = PREPAID - 1;
    return this.store(now);
  }

  /**
   * Gives the token back: the request delivered uplinks and they were acknowledged. Stored, so
   * a power cut soon after costs the device nothing: a tracker on short trips must not starve.
   */
  giveBack(now: i64): i32 {
    this.refill(now);
    this.levelMs = min(CAPACITY_MS, this.levelMs + TOKEN_MS);
    return this.store(now);
  }

  private store(now: i64): i32 {
    const w = new ByteWriter(17);
    w.u8(BUDGET_VERSION);
    w.i64(this.levelMs - this.prepaid * TOKEN_MS);
    w.i64(now);
    return kvSet(BUDGET_KEY, w.bytes());
  }

  /** Whole tokens available now (agent_stat). */
  tokens(now: i64): i64 {
    this.refill(now);
    return this.levelMs / TOKEN_MS;
  }
}
