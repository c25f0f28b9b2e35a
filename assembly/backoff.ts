// Exponential back-off with full jitter and a cap (the shape of FreeRTOS backoffAlgorithm),
// plus a floor so that no retry is ever immediate. Pure: the caller passes the random draw.
// The attempt count is persisted by the session, so a device that reboots in a loop keeps
// backing off instead of storming.

export class BackoffPolicy {
  constructor(public baseMs: i64, public capMs: i64, public floorMs: i64) {}
}

/** Transient failures: 429, 5xx, timeouts, broken connections. 2 s doubling up to 1 h. */
export const TRANSIENT = new BackoffPolicy(2_000, 3_600_000, 1_000);
/** 403: the key lacks a scope or the device is disabled; an operator must act. 5 min up to 6 h. */
export const FORBIDDEN = new BackoffPolicy(300_000, 21_600_000, 60_000);
/** 404 or a refused reset secret: nothing the device can do soon. 6 h up to 24 h. */
export const LONG = new BackoffPolicy(21_600_000, 86_400_000, 3_600_000);

/** The longest Retry-After honoured; a larger one is clamped (and logged by the caller). */
export const RETRY_AFTER_MAX_MS: i64 = 7 * 86_400_000;

/** The wait before retry number `attempt` (1 = first retry): floor + random[0, min(cap, base*2^(attempt-1))]. */
export function backoffDelay(policy: BackoffPolicy, attempt: i32, random: u32): i64 {
  let window = policy.baseMs;
  for (let i = 1; i < attempt && window < policy.capMs; i++) window *= 2;
  if (window > policy.capMs) window = policy.capMs;
  const r = <i64>random & 0x7fffffff;
  return policy.floorMs + (r * window) / 0x80000000;
}

// Stable codes for the policies: the session stores the policy in force by code (never by an
// enum's position), so a stored back-off means the same thing to every module version.
export const POLICY_TRANSIENT: u8 = 1;
export const POLICY_FORBIDDEN: u8 = 2;
export const POLICY_LONG: u8 = 3;

export function policyOf(code: u8): BackoffPolicy {
  if (code == POLICY_FORBIDDEN) return FORBIDDEN;
  if (code == POLICY_LONG) return LONG;
  return TRANSIENT;
}
