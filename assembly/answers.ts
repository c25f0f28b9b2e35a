// What an answer means, judged before anything is changed (contract: "What acknowledges an
// uplink", reset, connect). Each judge reads the status and the body through the validating
// scan and returns an outcome for the session (session.ts OUT_*) plus what it read; it stores
// nothing: the agent commits what was judged good.
import { logError, logWarn } from "./logger";
import { ObjectScan, J_STRING, J_NUMBER, decodeString, readInt, IntRead, INT_OK } from "./json/scan";
import { OUT_OK, OUT_AUTH, OUT_FORBIDDEN, OUT_GONE, OUT_TOO_LARGE, OUT_TRANSIENT, OUT_SECRET_REFUSED } from "./session";
import { Identity, validId, validKey, checkEnvironment, hostAllowed } from "./identity";
import { ParsedUrl } from "./url";

/** The outcome of a status that has no body worth reading (every endpoint alike). */
function statusOutcome(status: i32): u8 {
  if (status == 401) return OUT_AUTH;
  if (status == 403) return OUT_FORBIDDEN;
  if (status == 404) return OUT_GONE;
  return OUT_TRANSIENT; // 429, 5xx, 3xx (never followed), transport errors, anything else
}

export function isSuccess(status: i32): bool { return status >= 200 && status < 300; }

/** A connect answer: only a 2xx opens the session; its body is read by the agent. */
export function judgeConnect(status: i32): u8 {
  return isSuccess(status) ? OUT_OK : statusOutcome(status);
}

// ---- uplinks ----------------------------------------------------------------------------------

const ACK_MEMBERS: StaticArray<string> = ["accepted", "duplicates"];
const ackScan = new ObjectScan(ACK_MEMBERS);
const ackInt = new IntRead();

export const ACK_VERIFIED: i32 = 0;
export const ACK_UNVERIFIED: i32 = 1; // a 2xx that does not account for what was sent

export class SendJudgement {
  outcome: u8 = OUT_TRANSIENT;
  /** A 2xx that acknowledged nothing (logged here, counted by the caller; the uplinks are kept). */
  unverified: bool = false;
}

/**
 * An answer to /uplinks or /uplinks/backfill carrying `sent` uplinks. Only a 409, or a 2xx
 * whose body is {"accepted":a,"duplicates":d} with a + d == sent, acknowledges them. A 2xx
 * that does not is logged here, as `what` (uplink, backfill), its text in the log dictionary.
 */
export function judgeSend(status: i32, body: usize, len: i32, truncated: bool, sent: i32, what: string): SendJudgement {
  const j = new SendJudgement();
  if (status == 409) { j.outcome = OUT_OK; return j; }
  if (status == 413) { j.outcome = sent > 1 ? OUT_TOO_LARGE : OUT_TRANSIENT; return j; }
  if (!isSuccess(status)) { j.outcome = statusOutcome(status); return j; }
  if (truncated) logWarn("{}: HTTP {} acknowledged nothing (body too large); uplinks kept, sent again later", what, status);
  else if (ackCounts(body, len, sent, what, status)) j.outcome = OUT_OK;
  if (j.outcome != OUT_OK) j.unverified = true;
  return j;
}

/** Whether a 2xx body acknowledges exactly the `sent` uplinks; when it does not, logs why. */
function ackCounts(body: usize, len: i32, sent: i32, what: string, status: i32): bool {
  if (!ackScan.scan(body, len)) {
    logWarn("{}: HTTP {} acknowledged nothing (not the acknowledgement object ({})); uplinks kept, sent again later", what, status, ackScan.error);
    return false;
  }
  const a = countMember(ackScan.find("accepted"));
  const d = countMember(ackScan.find("duplicates"));
  if (a < 0 || d < 0) {
    logWarn("{}: HTTP {} acknowledged nothing (accepted/duplicates missing or not counts); uplinks kept, sent again later", what, status);
    return false;
  }
  if (a + d != <i64>sent) {
    logWarn("{}: HTTP {} acknowledged nothing (counts {}+{} for {} sent); uplinks kept, sent again later", what, status, a, d, sent);
    return false;
  }
  return true;
}

/** A non-negative integer member, or -1. */
function countMember(i: i32): i64 {
  if (i < 0) return -1;
  const m = ackScan.members[i];
  if (m.kind != J_NUMBER) return -1;
  readInt(m.start, m.end, ackInt);
  if (ackInt.status != INT_OK || ackInt.value < 0 || ackInt.value > 1_000_000) return -1;
  return ackInt.value;
}

// ---- reset ----------------------------------------------------------------------------------

const RESET_MEMBERS: StaticArray<string> = ["deviceId", "tenantId", "apiKey", "environment"];
const resetScan = new ObjectScan(RESET_MEMBERS);

export class ResetJudgement {
  outcome: u8 = OUT_TRANSIENT;
  apiKey: string = "";
  environment: ParsedUrl = new ParsedUrl(); // accepted (checkEnvironment) when outcome is OUT_OK
}

/**
 * A reset answer. A 2xx is taken only when it names this device and tenant, the key has the
 * contract's form and the environment is allowed under this board's configuration; a refused
 * 2xx is a transient failure (the reset is tried again after a wait); why it was refused is
 * logged here (never the key), its text in the log dictionary rather than the module.
 */
export function judgeReset(status: i32, body: usize, len: i32, truncated: bool, id: Identity, dev: bool, allowHosts: string[]): ResetJudgement {
  const j = new ResetJudgement();
  if (status == 401 || status == 403) { j.outcome = OUT_SECRET_REFUSED; return j; }
  if (!isSuccess(status)) { j.outcome = statusOutcome(status); return j; }
  if (truncated) logError("reset: answer refused: body too large");
  else if (resetTaken(j, body, len, id, dev, allowHosts)) j.outcome = OUT_OK;
  return j;
}

/** Whether a 2xx reset answer is taken; when it is not, logs why. */
function resetTaken(j: ResetJudgement, body: usize, len: i32, id: Identity, dev: bool, allowHosts: string[]): bool {
  const scan = resetScan;
  if (!scan.scan(body, len)) { logError("reset: answer refused: not a JSON object ({})", scan.error); return false; }
  const deviceId = stringMember(scan, "deviceId");
  const tenantId = stringMember(scan, "tenantId");
  const apiKey = stringMember(scan, "apiKey");
  const environment = stringMember(scan, "environment");
  if (deviceId == null || !validId(deviceId!) || deviceId! != id.deviceId) { logError("reset: answer refused: deviceId is not ours"); return false; }
  if (tenantId == null || !validId(tenantId!) || tenantId! != id.tenantId) { logError("reset: answer refused: tenantId is not ours"); return false; }
  if (apiKey == null || !validKey(apiKey!)) { logError("reset: answer refused: apiKey malformed"); return false; }
  if (environment == null) { logError("reset: answer refused: environment missing"); return false; }
  const u = checkEnvironment(environment!, dev);
  if (!u.ok) { logError("reset: answer refused: environment refused: {}", u.error); return false; }
  if (!hostAllowed(u, id.host(), allowHosts)) {
    logError("reset: answer refused: environment host {} is not on the allow-list", u.host);
    return false;
  }
  j.apiKey = apiKey!;
  j.environment = u;
  return true;
}

export function stringMember(scan: ObjectScan, name: string): string | null {
  const i = scan.find(name);
  if (i < 0) return null;
  const m = scan.members[i];
  if (m.kind != J_STRING) return null;
  return decodeString(m.start, m.end);
}
