// The sampling loop: a position every movingIntervalS (moving) or uplinkIntervalS (still), each
// a GNSS fix bounded by gnssTimeoutS, and a health uplink every heartbeatS. It decides what to
// record and when; the agent records it. Its only I/O is asking the host to start a fix.
import { host_gnss_start, host_motion } from "./host";
import { GNSS_FIX, IMPORT_OK } from "./abi_constants";
import { Settings } from "./settings";
import { validFix } from "./uplink";

/** How long past its timeout the agent waits for the host's GNSS answer before giving up. */
const GNSS_GRACE_MS: i64 = 5_000;

export const SAMPLE_NONE: i32 = 0;
export const SAMPLE_POSITION: i32 = 1;      // record a position without a fix
export const SAMPLE_HEALTH: i32 = 2;        // record a health uplink
export const SAMPLE_GNSS_LATE: i32 = 4;     // with SAMPLE_POSITION: the GNSS never answered

export class Sampler {
  private nextSampleAt: i64 = 0;
  private nextHealthAt: i64 = 0;
  private gnssReq: i32 = 0;
  private gnssActive: bool = false;
  private gnssDeadline: i64 = 0;

  start(now: i64): void {
    this.nextSampleAt = now;
    this.nextHealthAt = now;
  }

  /** What is due at `now` (SAMPLE_* bits); starts a GNSS fix when a position is due. */
  step(now: i64, s: Settings): i32 {
    let due = SAMPLE_NONE;
    if (this.gnssActive && now >= this.gnssDeadline + GNSS_GRACE_MS) {
      this.gnssActive = false;
      due |= SAMPLE_POSITION | SAMPLE_GNSS_LATE;
    }
    if (!this.gnssActive && now >= this.nextSampleAt) {
      const moving = host_motion() == 1;
      const intervalS = moving ? s.movingIntervalS : s.uplinkIntervalS;
      this.nextSampleAt = now + <i64>intervalS * 1000;
      const timeoutMs = s.gnssTimeoutS * 1000;
      this.gnssReq++;
      if (host_gnss_start(this.gnssReq, timeoutMs) == IMPORT_OK) {
        this.gnssActive = true;
        this.gnssDeadline = now + <i64>timeoutMs;
      } else {
        due |= SAMPLE_POSITION;
      }
    }
    if (now >= this.nextHealthAt) {
      this.nextHealthAt = now + <i64>s.heartbeatS * 1000;
      due |= SAMPLE_HEALTH;
    }
    return due;
  }

  /** Whether a GNSS answer is the one awaited; it ends the wait. */
  takeFix(reqId: i32): bool {
    if (!this.gnssActive || reqId != this.gnssReq) return false;
    this.gnssActive = false;
    return true;
  }

  wakeAt(): i64 {
    const sample = this.gnssActive ? this.gnssDeadline + GNSS_GRACE_MS : this.nextSampleAt;
    return min(sample, this.nextHealthAt);
  }
}

/** A GNSS answer's UTC, in ms, or -1 when it carries none worth a hint. */
export function fixUtcMs(status: i32, utcS: f64): i64 {
  return status == GNSS_FIX && utcS > 0 && isFinite(utcS) && utcS < 1e11 ? <i64>(utcS * 1000) : -1;
}

/** Whether a GNSS answer is a usable fix. */
export function fixUsable(status: i32, lat: f64, lon: f64, acc: f64): bool {
  return status == GNSS_FIX && validFix(lat, lon, acc);
}
