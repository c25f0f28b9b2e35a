// Shapes shared by the fake cloud's modules, its server and its users.

/** One HTTP request as the fake cloud sees it, with or without a socket. */
export interface CloudRequest {
  method: string;
  /** Request target: path, optionally with `?query`. */
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Uint8Array;
  remoteAddress?: string;
}

export interface CloudResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Which part of the API a request was aimed at (by path and method). */
export type Endpoint = 'connect' | 'reset' | 'uplink' | 'backfill' | 'operator' | 'unknown';

/** One line of `cloud.requests`. */
export interface RequestLogEntry {
  /** `now()` when the request arrived, UTC ms. */
  t: number;
  method: string;
  endpoint: Endpoint;
  deviceId?: string;
  /** Status sent; 0 when no answer was sent (drop, hang). */
  status: number;
  /** Request body bytes. */
  bytesIn: number;
  /** Response body bytes. */
  bytesOut: number;
  /** The Retry-After told to the client, in seconds, whichever form was sent. */
  retryAfterS?: number;
  /** Chain of fault kinds applied, e.g. `status` or `delay+drop`. */
  fault?: string;
  /** Status of the normal handling when a fault with `afterHandling` replaced its answer. */
  handledStatus?: number;
}

/** An uplink as stored by the cloud. */
export interface StoredUplink {
  /** The device's id sequence (contract: uplinks are named by (deviceId, epoch, id)). */
  epoch: number;
  id: number;
  /** As sent by the device, or the server receive time when absent. */
  timestamp: string;
  topic: string;
  data: unknown;
  /** Server receive time, ISO 8601 UTC. */
  receivedAt: string;
}

/** What the fake cloud decided to do with a request; the server acts it out on a socket. */
export type CloudOutcome =
  | { kind: 'respond'; response: CloudResponse; delayMs: number }
  | { kind: 'drop'; delayMs: number }
  | { kind: 'hang'; delayMs: number };
