// Fault injection: a hook the fake cloud asks before handling each request,
// and what its answers (actions) do.

import { errorResponse, imfFixdate, utf8 } from './http-util.ts';
import type { CloudRequest, CloudResponse, Endpoint } from './types.ts';

export interface FaultContext {
  req: CloudRequest;
  endpoint: Endpoint;
  deviceId?: string;
  tenantId?: string;
  /** The cloud's `now()`, UTC ms. */
  now: number;
}

/** Sent as `Retry-After: <int seconds>` or `Retry-After: <IMF-fixdate>`. */
export type RetryAfter = { seconds: number } | { date: number };

interface ReplacesAnswer {
  /**
   * Handle the request normally first (state changes happen: an uplink is
   * stored, a key is rotated) and then answer with this action instead of the
   * normal answer — a response lost or mangled on the way back.
   */
  afterHandling?: boolean;
}

export type FaultAction =
  /** Answer this status; body defaults to the error object (empty for 2xx). */
  | ({ kind: 'status'; status: number; retryAfter?: RetryAfter; body?: Uint8Array | string; headers?: Record<string, string> } & ReplacesAnswer)
  /** Raw body (truncated, not JSON, huge, empty...); status defaults to 200. */
  | ({ kind: 'body'; status?: number; body: Uint8Array | string; headers?: Record<string, string> } & ReplacesAnswer)
  /** Close the connection without answering (in-process: reject with code ECONNRESET). */
  | ({ kind: 'drop' } & ReplacesAnswer)
  /** Never answer (in-process: reject with code ETIMEDOUT; the caller picks the timeout). */
  | ({ kind: 'hang' } & ReplacesAnswer)
  /** Answer normally, or with `then`, after `ms` of real time (the request itself is handled on arrival). */
  | { kind: 'delay'; ms: number; then?: FaultAction };

export type FaultHook = (ctx: FaultContext) => FaultAction | null | undefined;

/** A hook that returns the first action any of the hooks returns. */
export function composeFaults(...hooks: (FaultHook | null | undefined)[]): FaultHook {
  return (ctx) => {
    for (const hook of hooks) {
      const action = hook?.(ctx);
      if (action) return action;
    }
    return null;
  };
}

/** A hook that answers `action` for requests matching `match`, at most `times` times. */
export function faultWhen(
  match: (ctx: FaultContext) => boolean,
  action: FaultAction | ((ctx: FaultContext) => FaultAction),
  times = Infinity,
): FaultHook {
  let left = times;
  return (ctx) => {
    if (left <= 0 || !match(ctx)) return null;
    left--;
    return typeof action === 'function' ? action(ctx) : action;
  };
}

/** A fault action with its delays added up: what to do in the end, and after how long. */
export interface ResolvedFault {
  delayMs: number;
  /** undefined: answer normally. */
  final?: Exclude<FaultAction, { kind: 'delay' }>;
  /** For the request log, e.g. `delay+status`. */
  label: string;
}

export function resolveFault(action: FaultAction): ResolvedFault {
  const kinds: string[] = [];
  let delayMs = 0;
  let current: FaultAction | undefined = action;
  while (current && current.kind === 'delay') {
    kinds.push('delay');
    delayMs += Math.max(0, current.ms);
    current = current.then;
  }
  if (current) kinds.push(current.kind);
  return { delayMs, final: current, label: kinds.join('+') };
}

function bytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? utf8(body) : body;
}

/** Renders a `status` or `body` action into a response; also says what Retry-After told, in seconds. */
export function faultResponse(
  action: Extract<FaultAction, { kind: 'status' } | { kind: 'body' }>,
  pathname: string,
  now: number,
  requestId: string,
): { response: CloudResponse; retryAfterS?: number } {
  const status = action.status ?? 200;
  let response: CloudResponse;
  if (action.body !== undefined) {
    const body = bytes(action.body);
    const headers: Record<string, string> = { date: imfFixdate(now) };
    if (body.length > 0) headers['content-type'] = 'application/json';
    response = { status, headers, body };
  } else if (status >= 200 && status < 300) {
    response = { status, headers: { date: imfFixdate(now) }, body: new Uint8Array(0) };
  } else {
    response = errorResponse(status, pathname, 'Injected fault', now, requestId);
  }
  let retryAfterS: number | undefined;
  if (action.kind === 'status' && action.retryAfter) {
    if ('seconds' in action.retryAfter) {
      retryAfterS = Math.max(0, Math.trunc(action.retryAfter.seconds));
      response.headers['retry-after'] = String(retryAfterS);
    } else {
      const date = imfFixdate(action.retryAfter.date);
      response.headers['retry-after'] = date;
      retryAfterS = Math.max(0, Math.ceil((Date.parse(date) - now) / 1000));
    }
  }
  Object.assign(response.headers, lowerCaseKeys(action.headers ?? {}));
  return { response, retryAfterS };
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
