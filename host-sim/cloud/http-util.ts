// HTTP plumbing of the fake cloud: dates, response builders, the error object,
// request body decoding.

import { STATUS_CODES } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { CloudRequest, CloudResponse } from './types.ts';

/** Thrown by handlers to answer with an error object; the pipeline turns it into a response. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The request as handlers see it: method upper-cased, path split from its query. */
export interface ParsedRequest {
  method: string;
  pathname: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Uint8Array;
  remoteAddress?: string;
}

export function parseRequest(req: CloudRequest): ParsedRequest {
  const target = req.path.split('#')[0];
  const q = target.indexOf('?');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value;
  return {
    method: req.method.toUpperCase(),
    pathname: q < 0 ? target : target.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
    headers,
    body: req.body,
    remoteAddress: req.remoteAddress,
  };
}

/** RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function imfFixdate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** ISO 8601 UTC; whole seconds are written without a fraction (`2026-12-01T00:00:00Z`). */
export function isoInstant(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** UTC ms of an ISO 8601 date-time with a zone, or undefined if it is not one. */
export function parseIsoInstant(text: unknown): number | undefined {
  if (typeof text !== 'string' || !ISO_DATE_TIME.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'Server Error' : 'Unknown Status');
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function jsonResponse(status: number, value: unknown, now: number): CloudResponse {
  return {
    status,
    headers: { date: imfFixdate(now), 'content-type': 'application/json' },
    body: utf8(JSON.stringify(value)),
  };
}

export function emptyResponse(status: number, now: number): CloudResponse {
  return { status, headers: { date: imfFixdate(now) }, body: new Uint8Array(0) };
}

/** The error object every non-2xx answer carries (spec "Errors"). */
export function errorObject(status: number, pathname: string, message: string, now: number, requestId: string) {
  return {
    timestamp: new Date(now).toISOString(),
    path: pathname,
    status,
    error: reasonPhrase(status),
    message,
    requestId,
    errorId: randomUUID(),
    traceId: randomBytes(8).toString('hex'),
  };
}

export function errorResponse(status: number, pathname: string, message: string, now: number, requestId: string): CloudResponse {
  return jsonResponse(status, errorObject(status, pathname, message, now, requestId), now);
}

function isBlank(body: Uint8Array): boolean {
  for (const b of body) if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  return true;
}

/** Whether the request carries a body worth parsing (whitespace counts as none). */
export function hasBody(req: ParsedRequest): boolean {
  return !isBlank(req.body);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses the JSON body. The spec says JSON bodies come with
 * `Content-Type: application/json`, so anything else is refused with 415
 * (catches an agent that forgets the header). No body, bad UTF-8 or bad JSON → 400.
 */
export function readJsonBody(req: ParsedRequest): unknown {
  if (!hasBody(req)) throw new ApiError(400, 'JSON body required');
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') throw new ApiError(415, 'Content-Type must be application/json');
  let text: string;
  try {
    text = strictUtf8.decode(req.body);
  } catch {
    throw new ApiError(400, 'body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'body is not valid JSON');
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a JSON object body; an empty body counts as `{}` when `emptyAllowed`. */
export function readJsonObject(req: ParsedRequest, what: string, emptyAllowed = false): Record<string, unknown> {
  if (emptyAllowed && !hasBody(req)) return {};
  const value = readJsonBody(req);
  if (!isPlainObject(value)) throw new ApiError(400, `${what} must be a JSON object`);
  return value;
}
