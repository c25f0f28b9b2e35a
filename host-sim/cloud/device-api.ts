// The device-facing endpoints of the spec: connect, connections/reset,
// uplinks, uplinks/backfill.

import { backfillLimit, uplinkKey, type DeviceRecord } from './devices.ts';
import { ApiError, hasBody, isoInstant, isPlainObject, jsonResponse, parseIsoInstant, readJsonBody, readJsonObject } from './http-util.ts';
import {
  DEVICE_API_KEY_SCOPES,
  requireAddress,
  requireScope,
  requireUsable,
  sameDevice,
  type DeviceRef,
  type KeyRecord,
  type Scope,
} from './keys.ts';
import type { HandlerContext } from './routes.ts';
import type { CloudResponse, StoredUplink } from './types.ts';

/** Largest backfill request body (spec: 16 KiB). */
export const BACKFILL_MAX_BYTES = 16384;

function pathDevice(ctx: HandlerContext): DeviceRef {
  return { tenantId: ctx.params.tenantId!, deviceId: ctx.params.deviceId! };
}

/**
 * Authenticates a device call, in this order:
 * 1. no X-Api-Key, or a secret never issued → 401;
 * 2. a key issued to the path's device while that device no longer exists → 404
 *    (deleting a device revokes its keys, so this must come before the revoked check);
 * 3. revoked or expired → 401;
 * 4. outside the key's `ips` → 403; lacking the scope → 403; bound to another device → 403;
 * 5. the path's device does not exist (reachable with an operator key) → 404;
 * 6. the device is disabled → 403.
 * Device endpoints read only `X-Api-Key`, never `Authorization`, as the spec has devices send it.
 */
function authorizeDevice(ctx: HandlerContext, scope: Scope): { key: KeyRecord; device: DeviceRecord } {
  const secret = ctx.req.headers['x-api-key'];
  if (!secret) throw new ApiError(401, 'X-Api-Key header required');
  const key = ctx.keys.withSecret(secret);
  if (!key) throw new ApiError(401, 'Unknown API key');
  const ref = pathDevice(ctx);
  const device = ctx.devices.find(ref.tenantId, ref.deviceId);
  if (!device && sameDevice(key.device, ref)) throw new ApiError(404, `Device ${ref.deviceId} not found`);
  requireUsable(key, ctx.now);
  requireAddress(key, ctx.req.remoteAddress);
  requireScope(key, scope);
  if (key.device && !sameDevice(key.device, ref)) throw new ApiError(403, 'API key belongs to another device');
  if (!device) throw new ApiError(404, `Device ${ref.deviceId} not found`);
  if (!device.isEnabled) throw new ApiError(403, 'Device is disabled');
  return { key, device };
}

export function connect(ctx: HandlerContext): CloudResponse {
  const { key, device } = authorizeDevice(ctx, 'devices:connect');
  const report = hasBody(ctx.req) ? readJsonObject(ctx.req, 'connect body') : null;
  device.lastConnectBody = report;
  device.connects++;
  const answer: Record<string, unknown> = { settings: device.settings };
  if (key.expires !== null) answer.keyExpires = isoInstant(key.expires);
  return jsonResponse(200, answer, ctx.now);
}

export function reset(ctx: HandlerContext): CloudResponse {
  const { key, device } = authorizeDevice(ctx, 'connections:reset');
  // Only the device's own reset secret, not an operator key that happens to hold the scope.
  if (key.purpose !== 'resetSecret') throw new ApiError(403, 'Only the device reset secret may reset its connection');
  const ref = { tenantId: device.tenantId, deviceId: device.deviceId };
  ctx.keys.revokeDeviceKeys(ref, 'apiKey');
  const apiKey = issueDeviceApiKey(ctx, ref);
  return jsonResponse(
    200,
    { deviceId: device.deviceId, tenantId: device.tenantId, apiKey: apiKey.secret, environment: ctx.environmentFor(device.deviceId) },
    ctx.now,
  );
}

export function issueDeviceApiKey(ctx: Pick<HandlerContext, 'keys' | 'now' | 'apiKeyTtlMs'>, device: DeviceRef): KeyRecord {
  return ctx.keys.create(
    {
      purpose: 'apiKey',
      alias: `${device.deviceId} apiKey`,
      scopes: DEVICE_API_KEY_SCOPES,
      device,
      expires: ctx.apiKeyTtlMs === undefined ? null : ctx.now + ctx.apiKeyTtlMs,
    },
    ctx.now,
  );
}

export function uplink(ctx: HandlerContext): CloudResponse {
  const { device } = authorizeDevice(ctx, 'uplinks:write');
  const entry = parseUplink(readJsonBody(ctx.req), 'uplink', ctx.now);
  // A repeat is acknowledged as a duplicate (200), so a retry after a lost answer is verified too.
  if (!store(device, entry)) return jsonResponse(200, { accepted: 0, duplicates: 1 }, ctx.now);
  return jsonResponse(201, { accepted: 1, duplicates: 0 }, ctx.now);
}

export function backfill(ctx: HandlerContext): CloudResponse {
  const { device } = authorizeDevice(ctx, 'uplinks:write');
  if (ctx.req.body.length > BACKFILL_MAX_BYTES) {
    throw new ApiError(413, `Backfill body of ${ctx.req.body.length} bytes exceeds ${BACKFILL_MAX_BYTES}`);
  }
  const body = readJsonObject(ctx.req, 'backfill body');
  if (!Array.isArray(body.uplinks)) throw new ApiError(400, 'uplinks must be an array');
  const limit = backfillLimit(device);
  if (body.uplinks.length > limit) {
    throw new ApiError(413, `Batch of ${body.uplinks.length} uplinks exceeds backfillBatchSize ${limit}`);
  }
  // Validate all before storing any: a bad entry refuses the whole request.
  const entries = body.uplinks.map((u, i) => parseUplink(u, `uplinks[${i}]`, ctx.now));
  let accepted = 0;
  let duplicates = 0;
  for (const entry of entries) {
    if (store(device, entry)) accepted++;
    else duplicates++;
  }
  return jsonResponse(200, { accepted, duplicates }, ctx.now);
}

/** Stores a new uplink; false (and counted) when the device already sent this (epoch, id). */
function store(device: DeviceRecord, entry: StoredUplink): boolean {
  const key = uplinkKey(entry.epoch, entry.id);
  if (device.uplinks.has(key)) {
    device.duplicates++;
    return false;
  }
  device.uplinks.set(key, entry);
  return true;
}

/** Checks one uplink (spec, uplinks) and fills in the defaults. */
export function parseUplink(value: unknown, what: string, now: number): StoredUplink {
  if (!isPlainObject(value)) throw new ApiError(400, `${what} must be a JSON object`);
  const { epoch, id, timestamp, topic, data } = value;
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new ApiError(400, `${what}: epoch must be an unsigned 32-bit integer`);
  }
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new ApiError(400, `${what}: id must be an integer >= 1`);
  }
  if (timestamp !== undefined && parseIsoInstant(timestamp) === undefined) {
    throw new ApiError(400, `${what}: timestamp must be an ISO 8601 date-time with zone`);
  }
  if (topic !== undefined && typeof topic !== 'string') throw new ApiError(400, `${what}: topic must be a string`);
  const receivedAt = isoInstant(now);
  return {
    epoch,
    id,
    timestamp: (timestamp as string | undefined) ?? receivedAt,
    topic: (topic as string | undefined) ?? 'default',
    data: data === undefined ? null : data,
    receivedAt,
  };
}
