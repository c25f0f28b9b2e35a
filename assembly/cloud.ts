// The requests the device makes: endpoints, URLs, headers, and the two response headers the
// agent reads. No state lives here; what an answer means is judged in answers.ts. Manual of
// the contract: DEVICE-API.md.
import { Identity } from "./identity";
import { parseHttpDate, UtcClock } from "./clock";
import { RETRY_AFTER_MAX_MS } from "./backoff";
import { asciiLower, trimAscii, parseDecimal } from "./text";
import { NET_TIMEOUT, NET_REFUSED, NET_BROKEN, NET_TLS } from "./abi_constants";

export const ENDPOINT_CONNECT = "/connect";
export const ENDPOINT_RESET = "/connections/reset";
export const ENDPOINT_UPLINK = "/uplinks";
export const ENDPOINT_BACKFILL = "/uplinks/backfill";

export const BACKFILL_MAX_BODY: i32 = 16384;

export function statusText(status: i32): string {
  if (status == NET_TIMEOUT) return "timeout";
  if (status == NET_REFUSED) return "connection refused";
  if (status == NET_BROKEN) return "connection broken";
  if (status == NET_TLS) return "TLS failure";
  return "HTTP " + status.toString();
}

export function endpointUrl(id: Identity, endpoint: string): string {
  return id.environment.base + "/api/" + id.tenantId + "/devices/" + id.deviceId + endpoint;
}

/** The request headers. The reset secret is used for the reset endpoint and for nothing else. */
export function requestHeaders(id: Identity, endpoint: string, withBody: bool): string {
  const key = endpoint == ENDPOINT_RESET ? id.resetSecret : id.apiKey;
  let h = "X-Api-Key: " + key + "\r\n";
  if (withBody) h += "Content-Type: application/json\r\n";
  return h;
}

/** The two response headers the agent reads, taken from the host's `name: value` lines. */
export class ResponseHeaders {
  dateMs: i64 = -1;        // the Date header, UTC ms, or -1
  retryAfterMs: i64 = -1;  // Retry-After as a delay from now, or -1
  retryAfterClamped: bool = false;
}

/**
 * Reads Date and Retry-After. Names match case-insensitively; the first of each wins; any
 * value of another shape is ignored. A Retry-After date is measured against the same
 * response's Date (or, failing that, the clock the agent already has).
 */
export function parseResponseHeaders(text: string, clock: UtcClock, nowMono: i64): ResponseHeaders {
  const h = new ResponseHeaders();
  let retryText = "";
  let sawRetry = false;
  let sawDate = false;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.substring(start, end);
    start = end + 1;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = asciiLower(trimAscii(line.substring(0, colon)));
    const value = trimAscii(line.substring(colon + 1));
    if (name == "date" && !sawDate) {
      sawDate = true;
      h.dateMs = parseHttpDate(value);
    } else if (name == "retry-after" && !sawRetry) {
      sawRetry = true;
      retryText = value;
    }
  }
  if (!sawRetry || retryText.length == 0) return h;
  let delay: i64 = -1;
  if (isAllDigits(retryText)) {
    // More than 10 digits is more than 300 years: clamp rather than overflow.
    delay = retryText.length > 10 ? RETRY_AFTER_MAX_MS + 1 : parseDecimal(retryText) * 1000;
  } else {
    const at = parseHttpDate(retryText);
    if (at >= 0) {
      const nowUtc = h.dateMs >= 0 ? h.dateMs : (clock.known ? clock.utcAt(nowMono) : -1);
      if (nowUtc >= 0) delay = at > nowUtc ? at - nowUtc : 0;
    }
  }
  if (delay > RETRY_AFTER_MAX_MS) {
    delay = RETRY_AFTER_MAX_MS;
    h.retryAfterClamped = true;
  }
  h.retryAfterMs = delay;
  return h;
}

function isAllDigits(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
