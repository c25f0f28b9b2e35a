// The operator API: devices (tenant device API reference) and keys (keys
// reference). Operator keys go in X-Api-Key or `Authorization: Bearer <key>`.

import { randomBytes } from 'node:crypto';
import { DEVICE_ID_PATTERN, deviceView, uplinksById, type DeviceRecord, type DeviceView } from './devices.ts';
import { issueDeviceApiKey } from './device-api.ts';
import { ApiError, emptyResponse, jsonResponse, parseIsoInstant, readJsonObject } from './http-util.ts';
import {
  grants,
  isIpAddress,
  isScope,
  keyView,
  normalizeAddress,
  RESET_SECRET_SCOPES,
  requireAddress,
  requireScope,
  requireUsable,
  type KeyRecord,
  type Scope,
} from './keys.ts';
import type { HandlerContext } from './routes.ts';
import type { CloudResponse } from './types.ts';

/** A device as created: its view plus the two secrets, shown this once. */
export interface ProvisionedDevice extends DeviceView {
  apiKey: string;
  resetSecret: string;
}

const KEYS_PAGE_MAX = 64;

function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/** 401 no/unknown/revoked/expired key; 403 wrong address, device key, or missing scope. */
function authorizeOperator(ctx: HandlerContext, scope: Scope): KeyRecord {
  const secret = ctx.req.headers['x-api-key'] || bearerToken(ctx.req.headers['authorization']);
  if (!secret) throw new ApiError(401, 'API key required (X-Api-Key or Authorization: Bearer)');
  const key = ctx.keys.withSecret(secret);
  if (!key) throw new ApiError(401, 'Unknown API key');
  requireUsable(key, ctx.now);
  requireAddress(key, ctx.req.remoteAddress);
  // A device's own keys serve the device endpoints only, even where scope implication would allow more.
  if (key.device) throw new ApiError(403, 'Device keys cannot use the operator API');
  requireScope(key, scope);
  return key;
}

function existingDevice(ctx: HandlerContext): DeviceRecord {
  const { tenantId, deviceId } = ctx.params;
  const device = ctx.devices.find(tenantId!, deviceId!);
  if (!device) throw new ApiError(404, `Device ${deviceId} not found`);
  return device;
}

function optionalText(body: Record<string, unknown>, field: string): string | null | undefined {
  const v = body[field];
  if (v === undefined || v === null || typeof v === 'string') return v;
  throw new ApiError(400, `${field} must be a string or null`);
}

function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || typeof v === 'boolean') return v;
  throw new ApiError(400, `${field} must be a boolean`);
}

// ---- devices ----

/** Creates a device from an operator payload and issues its apiKey and reset secret. */
export function provisionDevice(
  ctx: Pick<HandlerContext, 'keys' | 'devices' | 'now' | 'apiKeyTtlMs'>,
  tenantId: string,
  body: Record<string, unknown>,
): ProvisionedDevice {
  if (!DEVICE_ID_PATTERN.test(tenantId)) throw new ApiError(400, 'tenantId must be 1-64 of [A-Za-z0-9_-]');
  let deviceId = body.deviceId;
  if (deviceId === undefined) {
    do deviceId = 'dev-' + randomBytes(6).toString('hex');
    while (ctx.devices.has(deviceId as string));
  } else if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) {
    throw new ApiError(400, 'deviceId must be 1-64 of [A-Za-z0-9_-]');
  }
  const name = optionalText(body, 'name');
  const description = optionalText(body, 'description');
  const isEnabled = optionalBoolean(body, 'isEnabled');
  if (body.type !== undefined && body.type !== 'tracker') throw new ApiError(400, 'type must be "tracker"');
  // deviceIds are unique across tenants, so helpers can name a device by id alone.
  if (ctx.devices.has(deviceId as string)) throw new ApiError(409, `Device ${deviceId} already exists`);

  const device = ctx.devices.create(
    { tenantId, deviceId: deviceId as string, name, description, isEnabled, settings: body.settings },
    ctx.now,
  );
  const ref = { tenantId, deviceId: device.deviceId };
  const apiKey = issueDeviceApiKey(ctx, ref);
  const resetSecret = ctx.keys.create(
    { purpose: 'resetSecret', alias: `${device.deviceId} resetSecret`, scopes: RESET_SECRET_SCOPES, device: ref },
    ctx.now,
  );
  return { ...deviceView(device), apiKey: apiKey.secret, resetSecret: resetSecret.secret };
}

/** Applies an operator update (name, description, isEnabled, settings); all checked before any is applied. */
export function applyDeviceUpdate(device: DeviceRecord, body: Record<string, unknown>): void {
  const name = optionalText(body, 'name');
  const description = optionalText(body, 'description');
  const isEnabled = optionalBoolean(body, 'isEnabled');
  if (name !== undefined) device.name = name;
  if (description !== undefined) device.description = description;
  if (isEnabled !== undefined) device.isEnabled = isEnabled;
  // Any JSON, on purpose: tests make the cloud send bad settings.
  if (body.settings !== undefined) device.settings = body.settings;
}

/** Deletes a device and revokes every key it had. */
export function removeDevice(ctx: Pick<HandlerContext, 'keys' | 'devices'>, device: DeviceRecord): void {
  ctx.keys.revokeDeviceKeys({ tenantId: device.tenantId, deviceId: device.deviceId });
  ctx.devices.remove(device.deviceId);
}

export function listDevices(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'devices:read');
  return jsonResponse(200, ctx.devices.inTenant(ctx.params.tenantId!).map(deviceView), ctx.now);
}

export function createDevice(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'devices:write');
  const body = readJsonObject(ctx.req, 'device', true);
  return jsonResponse(201, provisionDevice(ctx, ctx.params.tenantId!, body), ctx.now);
}

export function getDevice(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'devices:read');
  return jsonResponse(200, deviceView(existingDevice(ctx)), ctx.now);
}

export function updateDevice(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'devices:write');
  const device = existingDevice(ctx);
  applyDeviceUpdate(device, readJsonObject(ctx.req, 'device update'));
  return jsonResponse(200, deviceView(device), ctx.now);
}

export function deleteDevice(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'devices:write');
  removeDevice(ctx, existingDevice(ctx));
  return emptyResponse(204, ctx.now);
}

export function listUplinks(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'uplinks:read');
  return jsonResponse(200, uplinksById(existingDevice(ctx)), ctx.now);
}

// ---- keys ----

function queryInt(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw new ApiError(400, `${name} must be an integer from ${min} to ${max}`);
  return n;
}

function optionalIps(body: Record<string, unknown>): string[] | undefined {
  const ips = body.ips;
  if (ips === undefined) return undefined;
  if (!Array.isArray(ips) || !ips.every(isIpAddress)) throw new ApiError(400, 'ips must be a list of IP addresses');
  return ips.map(normalizeAddress);
}

export function listKeys(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'keys:read');
  const offset = queryInt(ctx.req.query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = queryInt(ctx.req.query, 'limit', KEYS_PAGE_MAX, 1, KEYS_PAGE_MAX);
  return jsonResponse(200, ctx.keys.list().slice(offset, offset + limit).map(keyView), ctx.now);
}

export function createKey(ctx: HandlerContext): CloudResponse {
  const caller = authorizeOperator(ctx, 'keys:write');
  const body = readJsonObject(ctx.req, 'key');
  const alias = optionalText(body, 'alias');
  const ips = optionalIps(body);
  const scopes = body.scopes ?? [];
  if (!Array.isArray(scopes) || !scopes.every(isScope)) throw new ApiError(400, 'scopes must be a list of known scopes');
  // No escalation: a key can only hand out what it holds.
  const beyond = scopes.filter((s) => !grants(caller.scopes, s));
  if (beyond.length > 0) throw new ApiError(403, `Cannot grant scopes the calling key lacks: ${beyond.join(' ')}`);
  let expires: number | null = null;
  if (body.expires !== undefined && body.expires !== null) {
    const ms = parseIsoInstant(body.expires);
    if (ms === undefined) throw new ApiError(400, 'expires must be an ISO 8601 date-time with zone');
    expires = ms;
  }
  const key = ctx.keys.create({ purpose: 'operator', alias, ips, scopes: [...new Set(scopes)], expires }, ctx.now);
  return jsonResponse(200, { ...keyView(key), secret: key.secret }, ctx.now);
}

function liveKey(ctx: HandlerContext): KeyRecord {
  const key = ctx.keys.live(ctx.params.publicKey!);
  if (!key) throw new ApiError(404, `Key ${ctx.params.publicKey} not found`);
  return key;
}

export function updateKey(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'keys:write');
  const key = liveKey(ctx);
  const body = readJsonObject(ctx.req, 'key update');
  if ('scopes' in body || 'expires' in body) throw new ApiError(400, 'scopes and expires are fixed when a key is created');
  const alias = optionalText(body, 'alias');
  const ips = optionalIps(body);
  if (alias !== undefined) key.alias = alias;
  if (ips !== undefined) key.ips = ips;
  return jsonResponse(200, keyView(key), ctx.now);
}

export function deleteKey(ctx: HandlerContext): CloudResponse {
  authorizeOperator(ctx, 'keys:write');
  liveKey(ctx).revoked = true;
  return jsonResponse(200, { revoked: true }, ctx.now);
}
