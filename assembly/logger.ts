// One place that turns a line of text into a `host.log` call. Callers pass text that never
// holds a key or secret: identity.ts masks what it reports.
import { host_log } from "./host";

export const LOG_ERROR: i32 = 0;
export const LOG_WARN: i32 = 1;
export const LOG_INFO: i32 = 2;
export const LOG_DEBUG: i32 = 3;

export function log(level: i32, text: string): void {
  const bytes = String.UTF8.encode(text);
  host_log(level, changetype<usize>(bytes), bytes.byteLength);
}

export function logError(text: string): void { log(LOG_ERROR, text); }
export function logWarn(text: string): void { log(LOG_WARN, text); }
export function logInfo(text: string): void { log(LOG_INFO, text); }
export function logDebug(text: string): void { log(LOG_DEBUG, text); }
