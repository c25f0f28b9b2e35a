// The fake cloud: the device API and the operator API of
// shared/spec/device-api.md, in process, no sockets (server.ts puts it on one).
// Every request goes: route → fault hook → handler → request log.

import { backfill, connect, reset, uplink } from './device-api.ts';
import { DeviceStore, deviceView, uplinksById, type DeviceView } from './devices.ts';
import { faultResponse, resolveFault, type FaultAction, type FaultHook } from './faults.ts';
import { ApiError, errorResponse, parseIsoInstant, parseRequest, type ParsedRequest } from './http-util.ts';
import { DEVICE_API_KEY_SCOPES, KeyStore, SCOPES, type DeviceRef, type KeyPurpose, type Scope, type SecretFactory } from './keys.ts';
import {
  applyDeviceUpdate,
  createDevice,
  createKey,
  deleteDevice,
  deleteKey,
  getDevice,
  listDevices,
  listKeys,
  listUplinks,
  provisionDevice,
  removeDevice,
  updateDevice,
  updateKey,
  type ProvisionedDevice,
} from './operator-api.ts';
import { matchRoute, type HandlerContext, type RouteMatch, type RouteName, type RouteParams } from './routes.ts';
import type { CloudOutcome, CloudRequest, CloudResponse, Endpoint, RequestLogEntry, StoredUplink } from './types.ts';

export type { CloudOutcome, CloudRequest, CloudResponse, Endpoint, RequestLogEntry, StoredUplink } from './types.ts';
export type { FaultAction, FaultContext, FaultHook, RetryAfter } from './faults.ts';
export type { DeviceView } from './devices.ts';
export type { ProvisionedDevice } from './operator-api.ts';
export type { KeyPurpose, Scope, SecretFactory } from './keys.ts';
export { FACTORY_TRACKER_SETTINGS } from './devices.ts';
export { SCOPES } from './keys.ts';

export interface FakeCloudOptions {
  /** UTC ms; drives the Date header, key expiry and timestamps. Default Date.now. */
  now?: () => number;
  /** The environment URL devices are told in reset answers. */
  baseUrl?: string;
  faults?: FaultHook;
  /** Lifetime of newly issued device apiKeys (so connect answers keyExpires); default none. */
  apiKeyTtlMs?: number;
  /** Makes key secrets; default: prefix + 32 random base64url characters. */
  makeSecret?: SecretFactory;
}

/** Used when neither a per-device environment nor baseUrl is set. */
export const DEFAULT_ENVIRONMENT = 'https://fake-cloud.invalid';
/** Tenant of devices created through `cloud.createDevice` without one. */
export const DEFAULT_TENANT_ID = 'default';
/** Any request body above this is refused with 413 (the server stops buffering there). */
export const MAX_REQUEST_BYTES = 1 << 20;

export interface CloudStats {
  requests: number;
  byEndpoint: Partial<Record<Endpoint, number>>;
  byStatus: Record<number, number>;
  byEndpointStatus: Partial<Record<Endpoint, Record<number, number>>>;
  faults: number;
  bytesIn: number;
  bytesOut: number;
}

export interface NewKeyOptions {
  alias?: string | null;
  ips?: string[];
  /** Default: all scopes for an operator key, `devices:connect uplinks:write` for a device key. */
  scopes?: Scope[];
  expires?: number | Date | string | null;
  /** Make it an apiKey of this (existing) device instead of an operator key. */
  forDevice?: string;
}

export interface NewDeviceOptions {
  tenantId?: string;
  deviceId?: string;
  name?: string | null;
  description?: string | null;
  isEnabled?: boolean;
  settings?: unknown;
}

const HANDLERS: Record<RouteName, (ctx: HandlerContext) => CloudResponse> = {
  connect,
  reset,
  uplink,
  backfill,
  listDevices,
  createDevice,
  getDevice,
  updateDevice,
  deleteDevice,
  listUplinks,
  listKeys,
  createKey,
  updateKey,
  deleteKey,
};

function connectionError(code: 'ECONNRESET' | 'ETIMEDOUT'): Error {
  const message = code === 'ECONNRESET' ? 'fake cloud dropped the connection' : 'fake cloud never answered';
  return Object.assign(new Error(message), { code });
}

function toMs(expires: number | Date | string | null | undefined): number | null {
  if (expires === undefined || expires === null) return null;
  if (typeof expires === 'number') return expires;
  if (expires instanceof Date) return expires.getTime();
  const ms = parseIsoInstant(expires);
  if (ms === undefined) throw new Error(`not an ISO 8601 date-time: ${expires}`);
  return ms;
}

export class FakeCloud {
  readonly now: () => number;
  baseUrl: string | undefined;
  faults: FaultHook | undefined;
  apiKeyTtlMs: number | undefined;
  /** Secret of the built-in operator key: alias "admin", all scopes, any address. */
  readonly adminKey: string;
  readonly adminPublicKey: string;
  /** Every request, in arrival order. */
  readonly requests: RequestLogEntry[] = [];

  private readonly keys: KeyStore;
  private readonly devices = new DeviceStore();
  private readonly environments = new Map<string, string>();
  private requestSeq = 0;
  private readonly instanceTag = Math.random().toString(16).slice(2, 10);

  constructor(options: FakeCloudOptions = {}) {
    this.now = options.now ?? Date.now;
    this.baseUrl = options.baseUrl;
    this.faults = options.faults;
    this.apiKeyTtlMs = options.apiKeyTtlMs;
    this.keys = new KeyStore(options.makeSecret);
    const admin = this.keys.create({ purpose: 'operator', alias: 'admin', scopes: [...SCOPES] }, this.now());
    this.adminKey = admin.secret;
    this.adminPublicKey = admin.publicKey;
  }

  /** Answers one request. Rejects (code ECONNRESET / ETIMEDOUT) where a socket would be dropped or left hanging. */
  async handle(req: CloudRequest): Promise<CloudResponse> {
    const outcome = this.serve(req);
    if (outcome.kind === 'respond') return outcome.response;
    throw connectionError(outcome.kind === 'drop' ? 'ECONNRESET' : 'ETIMEDOUT');
  }

  /** Decides what to do with one request, including socket-level faults and delays (used by the server). */
  serve(req: CloudRequest): CloudOutcome {
    const now = this.now();
    const parsed = parseRequest(req);
    const route = matchRoute(parsed.method, parsed.pathname);
    const requestId = `${this.instanceTag}-${++this.requestSeq}`;
    const entry: RequestLogEntry = { t: now, method: parsed.method, endpoint: route.endpoint, status: 0, bytesIn: req.body.length, bytesOut: 0 };
    if (route.params.deviceId !== undefined) entry.deviceId = route.params.deviceId;
    this.requests.push(entry);

    let action: FaultAction | null | undefined;
    try {
      action = this.faults?.({ req, endpoint: route.endpoint, deviceId: route.params.deviceId, tenantId: route.params.tenantId, now });
    } catch (e) {
      entry.fault = 'hook-error';
      return this.respond(entry, errorResponse(500, parsed.pathname, `Fault hook threw: ${String(e)}`, now, requestId), 0);
    }
    if (!action) return this.respond(entry, this.answer(parsed, route, now, requestId), 0);

    const { delayMs, final, label } = resolveFault(action);
    entry.fault = label;
    if (!final || final.afterHandling) {
      const normal = this.answer(parsed, route, now, requestId);
      if (!final) return this.respond(entry, normal, delayMs);
      entry.handledStatus = normal.status;
    }
    if (final.kind === 'drop' || final.kind === 'hang') return { kind: final.kind, delayMs };
    const { response, retryAfterS } = faultResponse(final, parsed.pathname, now, requestId);
    if (retryAfterS !== undefined) entry.retryAfterS = retryAfterS;
    return this.respond(entry, response, delayMs);
  }

  private respond(entry: RequestLogEntry, response: CloudResponse, delayMs: number): CloudOutcome {
    entry.status = response.status;
    entry.bytesOut = response.body.length;
    return { kind: 'respond', response, delayMs };
  }

  /** The normal answer; never throws. */
  private answer(req: ParsedRequest, route: RouteMatch, now: number, requestId: string): CloudResponse {
    try {
      if (route.kind === 'not-found') throw new ApiError(404, `No route for ${req.method} ${req.pathname}`);
      if (route.kind === 'method-not-allowed') {
        const response = errorResponse(405, req.pathname, `${req.method} not allowed here`, now, requestId);
        response.headers['allow'] = route.allow.join(', ');
        return response;
      }
      if (req.body.length > MAX_REQUEST_BYTES) throw new ApiError(413, `Request body exceeds ${MAX_REQUEST_BYTES} bytes`);
      return HANDLERS[route.name](this.context(req, route.params, now));
    } catch (e) {
      if (e instanceof ApiError) return errorResponse(e.status, req.pathname, e.message, now, requestId);
      // A handler bug must not take the cloud down; the test sees a 500 with the reason.
      return errorResponse(500, req.pathname, `Internal error: ${e instanceof Error ? e.message : String(e)}`, now, requestId);
    }
  }

  private context(req: ParsedRequest, params: RouteParams, now: number): HandlerContext {
    return {
      req,
      params,
      now,
      keys: this.keys,
      devices: this.devices,
      environmentFor: (deviceId) => this.environmentFor(deviceId),
      apiKeyTtlMs: this.apiKeyTtlMs,
    };
  }

  // ---- environment told in reset answers ----

  environmentFor(deviceId: string): string {
    return this.environments.get(deviceId) ?? this.baseUrl ?? DEFAULT_ENVIRONMENT;
  }

  /** Overrides (or with undefined, clears) the environment one device is told on reset. */
  setEnvironment(deviceId: string, url: string | undefined): void {
    if (url === undefined) this.environments.delete(deviceId);
    else this.environments.set(deviceId, url);
  }

  // ---- operator helpers (no HTTP) ----

  /** Creates a device as POST /api/{tenantId}/devices would; throws on invalid input or an existing id. */
  createDevice(options: NewDeviceOptions = {}): ProvisionedDevice {
    const { tenantId = DEFAULT_TENANT_ID, ...body } = options;
    const ctx = { keys: this.keys, devices: this.devices, now: this.now(), apiKeyTtlMs: this.apiKeyTtlMs };
    return provisionDevice(ctx, tenantId, body as Record<string, unknown>);
  }

  /** Updates name, description, isEnabled and/or settings (settings as given, unchecked). */
  updateDevice(deviceId: string, patch: Omit<NewDeviceOptions, 'tenantId' | 'deviceId'>): DeviceView {
    const device = this.devices.byId(deviceId);
    if (!device) throw new Error(`no device ${deviceId}`);
    applyDeviceUpdate(device, patch as Record<string, unknown>);
    return deviceView(device);
  }

  /** Deletes a device and revokes its keys; false if there was none. */
  deleteDevice(deviceId: string): boolean {
    const device = this.devices.byId(deviceId);
    if (!device) return false;
    removeDevice({ keys: this.keys, devices: this.devices }, device);
    return true;
  }

  device(deviceId: string): DeviceView | undefined {
    const device = this.devices.byId(deviceId);
    return device && deviceView(device);
  }

  createKey(options: NewKeyOptions = {}): { publicKey: string; secret: string } {
    let purpose: KeyPurpose = 'operator';
    let scopes = options.scopes ?? [...SCOPES];
    let device: DeviceRef | undefined;
    if (options.forDevice !== undefined) {
      const d = this.devices.byId(options.forDevice);
      if (!d) throw new Error(`no device ${options.forDevice}`);
      purpose = 'apiKey';
      scopes = options.scopes ?? DEVICE_API_KEY_SCOPES;
      device = { tenantId: d.tenantId, deviceId: d.deviceId };
    }
    const key = this.keys.create(
      { purpose, alias: options.alias, ips: options.ips, scopes, expires: toMs(options.expires), device },
      this.now(),
    );
    return { publicKey: key.publicKey, secret: key.secret };
  }

  /** Revokes a key named by its public id or its secret; false if unknown or already revoked. */
  revokeKey(ref: string): boolean {
    const key = this.keys.find(ref);
    if (!key || key.revoked) return false;
    key.revoked = true;
    return true;
  }

  /** Sets (or with null, clears) the expiry of a key named by its public id or its secret. */
  setKeyExpiry(ref: string, expires: number | Date | string | null): void {
    const key = this.keys.find(ref);
    if (!key) throw new Error(`no key ${ref}`);
    key.expires = toMs(expires);
  }

  /** Secret of the device's current apiKey. */
  apiKeyOf(deviceId: string): string | undefined {
    const d = this.devices.byId(deviceId);
    return d && this.keys.deviceKey(d, 'apiKey')?.secret;
  }

  resetSecretOf(deviceId: string): string | undefined {
    const d = this.devices.byId(deviceId);
    return d && this.keys.deviceKey(d, 'resetSecret')?.secret;
  }

  // ---- what arrived ----

  /** Stored uplinks of a device, ordered by id (copies). */
  uplinksOf(deviceId: string): StoredUplink[] {
    const d = this.devices.byId(deviceId);
    return d ? uplinksById(d).map((u) => structuredClone(u)) : [];
  }

  /** How many uplinks (single or in backfill) repeated an id already stored. */
  duplicatesOf(deviceId: string): number {
    return this.devices.byId(deviceId)?.duplicates ?? 0;
  }

  /** The body of the device's last successful connect: undefined if none yet, null if it sent no body. */
  lastConnectBody(deviceId: string): unknown {
    return this.devices.byId(deviceId)?.lastConnectBody;
  }

  /** Successful connects of a device. */
  connectsOf(deviceId: string): number {
    return this.devices.byId(deviceId)?.connects ?? 0;
  }

  stats(): CloudStats {
    const stats: CloudStats = { requests: 0, byEndpoint: {}, byStatus: {}, byEndpointStatus: {}, faults: 0, bytesIn: 0, bytesOut: 0 };
    for (const r of this.requests) {
      stats.requests++;
      stats.byEndpoint[r.endpoint] = (stats.byEndpoint[r.endpoint] ?? 0) + 1;
      stats.byStatus[r.status] = (stats.byStatus[r.status] ?? 0) + 1;
      const perEndpoint = (stats.byEndpointStatus[r.endpoint] ??= {});
      perEndpoint[r.status] = (perEndpoint[r.status] ?? 0) + 1;
      if (r.fault) stats.faults++;
      stats.bytesIn += r.bytesIn;
      stats.bytesOut += r.bytesOut;
    }
    return stats;
  }
}
