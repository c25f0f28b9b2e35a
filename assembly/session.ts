// The session with the cloud: one explicit state machine, pure (no I/O, no clock, no random of
// its own), so tests drive it on a virtual clock. The agent asks `due()` what to request, says
// `started()` when the request leaves, and feeds each answer, already judged (answers.ts), to
// `answered()`, the one transition function; what it returns tells the agent what else to do.
//
// States (stable codes: agent_stat 6 reports them and the stored back-off names them):
//
//   code state        what is true                          leaves on
//   0    IDLE         connect answered 200, key accepted     heartbeat due -> CONNECTING,
//                                                            rotation due -> RESETTING,
//                                                            uplinks buffered -> SENDING
//   1    CONNECTING   a connect in flight                    its answer
//   2    RESETTING    a reset in flight                      its answer
//   3    SENDING      an uplink or backfill in flight        its answer
//   4    BACKING_OFF  waiting until waitUntil                the wait -> `resume`
//   5    STOPPED      the identity is unusable               never
//   6    OFFLINE      must connect first                     -> CONNECTING
//   7    RESET_DUE    must reset first (key refused)         -> RESETTING
//
// Transitions on an answer (outcome from answers.ts):
//
//   request  outcome           next state   resume       policy     notes
//   connect  OK                IDLE                                  heartbeat scheduled
//   reset    OK                OFFLINE                               new key: connect on it
//   send     OK                IDLE                                  ACT_ACK
//   send     TOO_LARGE         BACKING_OFF  IDLE         floor      ACT_HALVE (batch of 2+)
//   any      AUTH (401)        BACKING_OFF  RESET_DUE    transient  no wait unless the last failure was one
//   any      FORBIDDEN (403)   BACKING_OFF  OFFLINE      forbidden
//   any      GONE (404)        BACKING_OFF  OFFLINE      long       (reset: RESET_DUE)
//   reset    SECRET_REFUSED    BACKING_OFF  RESET_DUE    long       ACT_REPORT_SECRET
//   connect  TRANSIENT         BACKING_OFF  OFFLINE      transient
//   reset    TRANSIENT         BACKING_OFF  RESET_DUE    transient  (includes a refused answer)
//   send     TRANSIENT         BACKING_OFF  IDLE         transient  (includes an unverified 2xx)
//
// The back-off only starts over once every kind of request that failed has succeeded since
// (contract): a reset answered 200 proves nothing about the uplink that got the 401, so a cloud
// that accepts connects and resets but refuses every uplink meets a growing wait, not a loop.
import { backoffDelay, policyOf, POLICY_TRANSIENT, POLICY_FORBIDDEN, POLICY_LONG } from "./backoff";

export const S_IDLE: u8 = 0;
export const S_CONNECTING: u8 = 1;
export const S_RESETTING: u8 = 2;
export const S_SENDING: u8 = 3;
export const S_BACKING_OFF: u8 = 4;
export const S_STOPPED: u8 = 5;
export const S_OFFLINE: u8 = 6;
export const S_RESET_DUE: u8 = 7;

export const REQ_NONE: u8 = 0;
export const REQ_CONNECT: u8 = 1;
export const REQ_RESET: u8 = 2;
export const REQ_SEND: u8 = 3;

export const OUT_OK: u8 = 0;
export const OUT_AUTH: u8 = 1;
export const OUT_FORBIDDEN: u8 = 2;
export const OUT_GONE: u8 = 3;
export const OUT_TOO_LARGE: u8 = 4;
export const OUT_TRANSIENT: u8 = 5;
export const OUT_SECRET_REFUSED: u8 = 6;

export const ACT_NONE: i32 = 0;
export const ACT_ACK: i32 = 1;            // drop the uplinks just sent from the log
export const ACT_HALVE: i32 = 2;          // send half the batch next time
export const ACT_PERSIST: i32 = 4;        // the stored back-off changed
export const ACT_REPORT_SECRET: i32 = 8;  // the reset secret is refused: tell a person

/** Each kind of request a bit of the failed set. */
function bitOf(req: u8): u8 { return <u8>(1 << req); }

const NEVER: i64 = I64.MAX_VALUE;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/** After a reboot a wait resumes for at most this (transient) or this long (403, 404, a refused
 * reset secret): a power-on cannot know how much of it passed while it was off, and a device
 * that reboots more often than its wait must still try (the request budget bounds the cost). */
const RESUMED_WAIT_MAX_MS: i64 = 60_000;
const RESUMED_LONG_WAIT_MAX_MS: i64 = 3_600_000;
/** The shortest wait before retrying a halved batch. */
const HALVE_WAIT_MS: i64 = 1_000;

export class Session {
  state: u8 = S_OFFLINE;
  /** Where BACKING_OFF leads. */
  resume: u8 = S_OFFLINE;
  waitUntil: i64 = 0;
  attempt: u32 = 0;
  failed: u8 = 0;
  policy: u8 = 0;
  /** The wait in force, for the store. */
  waitMs: i64 = 0;
  /** The last failure was a 401 (or the reset after one): the next 401 waits. */
  private authFailedLast: bool = false;
  /** What is in flight, REQ_NONE if nothing. */
  inFlight: u8 = REQ_NONE;
  inFlightSince: i64 = 0;
  nextConnectAt: i64 = 0;
  rotateAt: i64 = NEVER;
  /** A key rotation asked for by keyExpires may not start before this. */
  rotationFloor: i64 = 0;

  /** A power-on at `now`, resuming a stored back-off (attempt 0: none). */
  restore(now: i64, attempt: u32, failed: u8, resume: u8, policy: u8, waitMs: i64): void {
    this.rotationFloor = now + HOUR_MS; // unknown when the last one was: assume just now
    this.attempt = attempt;
    this.failed = failed;
    this.policy = policy;
    // A stored wait that led to a reset followed a 401 or a failed reset: not a fresh 401.
    this.authFailedLast = attempt > 0 && resume == S_RESET_DUE;
    if (attempt == 0 || waitMs <= 0) { this.state = S_OFFLINE; return; }
    const wait = min(waitMs, policy == POLICY_TRANSIENT || policy == 0 ? RESUMED_WAIT_MAX_MS : RESUMED_LONG_WAIT_MAX_MS);
    this.state = S_BACKING_OFF;
    // After a power-on nothing is connected: a wait that led to IDLE leads to OFFLINE.
    this.resume = resume == S_RESET_DUE ? S_RESET_DUE : S_OFFLINE;
    this.waitUntil = now + wait;
    this.waitMs = wait;
  }

  stop(): void { this.state = S_STOPPED; }

  /**
   * What to request now (REQ_NONE: nothing). `buffered`: uplinks wait in the log. Ends a wait
   * that is over.
   */
  due(now: i64, buffered: bool): u8 {
    if (this.inFlight != REQ_NONE || this.state == S_STOPPED) return REQ_NONE;
    if (this.state == S_BACKING_OFF) {
      if (now < this.waitUntil) return REQ_NONE;
      this.state = this.resume;
    }
    if (this.state == S_OFFLINE) return REQ_CONNECT;
    if (this.state == S_RESET_DUE) return REQ_RESET;
    if (this.state != S_IDLE) return REQ_NONE;
    if (now >= this.nextConnectAt) return REQ_CONNECT;
    if (now >= this.rotateAt) return REQ_RESET;
    return buffered ? REQ_SEND : REQ_NONE;
  }

  /** When `due` may next say something other than REQ_NONE (the agent's wake-up). */
  wakeAt(now: i64, buffered: bool): i64 {
    if (this.state == S_STOPPED || this.inFlight != REQ_NONE) return NEVER;
    if (this.state == S_BACKING_OFF) return this.waitUntil;
    if (this.state != S_IDLE) return now;
    if (buffered) return now;
    return min(this.nextConnectAt, this.rotateAt);
  }

  started(req: u8, now: i64): void {
    this.inFlight = req;
    this.inFlightSince = now;
    this.state = req == REQ_CONNECT ? S_CONNECTING : req == REQ_RESET ? S_RESETTING : S_SENDING;
  }

  /**
   * The transition function: the answer to the request in flight, judged. `heartbeatMs`
   * schedules the next connect; `random` is a fresh draw for the jitter. Returns ACT_* bits.
   */
  answered(now: i64, outcome: u8, retryAfterMs: i64, heartbeatMs: i64, random: u32): i32 {
    const req = this.inFlight;
    this.inFlight = REQ_NONE;
    if (req == REQ_NONE) return ACT_NONE;
    if (outcome == OUT_OK) return this.succeeded(now, req, heartbeatMs);
    if (outcome == OUT_TOO_LARGE && req == REQ_SEND) {
      this.wait(now, S_IDLE, HALVE_WAIT_MS, retryAfterMs);
      return ACT_HALVE;
    }
    let resume: u8 = req == REQ_RESET ? S_RESET_DUE : req == REQ_SEND ? S_IDLE : S_OFFLINE;
    let policy: u8 = POLICY_TRANSIENT;
    let act = ACT_PERSIST;
    if (outcome == OUT_AUTH) resume = S_RESET_DUE;
    else if (outcome == OUT_FORBIDDEN) { policy = POLICY_FORBIDDEN; if (req != REQ_RESET) resume = S_OFFLINE; }
    else if (outcome == OUT_GONE) { policy = POLICY_LONG; if (req != REQ_RESET) resume = S_OFFLINE; }
    else if (outcome == OUT_SECRET_REFUSED) { policy = POLICY_LONG; act |= ACT_REPORT_SECRET; }
    this.attempt++;
    this.failed |= bitOf(req);
    this.policy = policy;
    // A 401 that follows no other 401: the key expired or was revoked; reset at once, even
    // after a long outage (the answer proves the link is back; the outage's wait would only
    // let the log fill). A 401 after a 401 or a failed reset, whatever succeeded in between,
    // waits like any failure, so "connect 200, uplink 401, reset 200" meets a growing wait.
    const firstAuth = outcome == OUT_AUTH && !this.authFailedLast;
    this.authFailedLast = outcome == OUT_AUTH || req == REQ_RESET;
    let waitMs: i64 = firstAuth ? 0 : backoffDelay(policyOf(policy), <i32>min<u32>(this.attempt, 30), random);
    this.wait(now, resume, waitMs, retryAfterMs);
    return act;
  }

  private succeeded(now: i64, req: u8, heartbeatMs: i64): i32 {
    let act = req == REQ_SEND ? ACT_ACK : ACT_NONE;
    if (this.failed != 0 || this.attempt != 0) {
      this.failed &= ~bitOf(req);
      if (this.failed == 0) {
        this.attempt = 0;
        this.policy = 0;
        this.waitMs = 0;
        this.authFailedLast = false;
      }
      act |= ACT_PERSIST;
    }
    if (req == REQ_CONNECT) {
      this.state = S_IDLE;
      this.nextConnectAt = now + heartbeatMs;
    } else if (req == REQ_RESET) {
      this.state = S_OFFLINE;
      this.rotateAt = NEVER;
      this.rotationFloor = now + HOUR_MS;
    } else {
      this.state = S_IDLE;
    }
    return act;
  }

  private wait(now: i64, resume: u8, waitMs: i64, retryAfterMs: i64): void {
    const w = retryAfterMs > waitMs ? retryAfterMs : waitMs;
    this.state = S_BACKING_OFF;
    this.resume = resume;
    this.waitUntil = now + w;
    this.waitMs = w;
  }

  /** The request in flight got no answer in time: judged as a transient failure. */
  timedOut(now: i64, random: u32): i32 {
    return this.answered(now, OUT_TRANSIENT, -1, 0, random);
  }

  /** Asks for a connect as the next request (to confirm the time from a second answer). */
  connectNow(now: i64): void {
    if (this.nextConnectAt > now) this.nextConnectAt = now;
  }

  /** A connect answer's heartbeat changed: the next connect moves with it. */
  heartbeatChanged(now: i64, heartbeatMs: i64): void {
    if (this.state == S_IDLE || this.state == S_SENDING) this.nextConnectAt = now + heartbeatMs;
  }

  /**
   * Schedules a key rotation before `remainingMs` runs out (keyExpires minus trusted UTC):
   * a day early, or half the time left; never before `rotationFloor`, so no answer can make
   * the device rotate more than once an hour. Returns true when the floor held it back.
   */
  scheduleRotation(now: i64, remainingMs: i64): bool {
    const margin = min(DAY_MS, remainingMs / 2);
    let at = remainingMs <= 0 ? now : now + remainingMs - margin;
    const held = at < this.rotationFloor;
    if (held) at = this.rotationFloor;
    this.rotateAt = at;
    return held;
  }

  /** A policy by its code, for the agent's log lines. */
  static policyName(code: u8): string {
    if (code == POLICY_FORBIDDEN) return " (key lacks scope or device disabled)";
    if (code == POLICY_LONG) return " (nothing the device can do soon; data kept)";
    return "";
  }
}
