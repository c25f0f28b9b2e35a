// The fleet's operator: provisions devices and acts on them through the fake cloud's operator
// API (shared/spec device API reference: devices, keys) — over HTTP, or straight into an
// in-process cloud with the very same requests.
import type { FakeCloud } from '../cloud/fake-cloud.ts';

export interface OperatorAnswer { status: number; body: unknown }

export interface Operator {
  call(method: string, path: string, body?: unknown): Promise<OperatorAnswer>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function parse(text: string): unknown {
  if (text.length === 0) return null;
  try { return JSON.parse(text); } catch { return text; }
}

export function httpOperator(baseUrl: string, key: string): Operator {
  return {
    async call(method, path, body) {
      const res = await fetch(baseUrl.replace(/\/$/, '') + path, {
        method,
        headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: parse(await res.text()) };
    },
  };
}

export function memoryOperator(cloud: FakeCloud): Operator {
  return {
    async call(method, path, body) {
      const res = await cloud.handle({
        method,
        path,
        headers: { 'x-api-key': cloud.adminKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? new Uint8Array(0) : enc.encode(JSON.stringify(body)),
        remoteAddress: '127.0.0.1',
      });
      return { status: res.status, body: parse(dec.decode(res.body)) };
    },
  };
}

function fail(what: string, a: OperatorAnswer): never {
  const msg = a.body && typeof a.body === 'object' && 'message' in a.body ? String((a.body as { message: unknown }).message) : JSON.stringify(a.body);
  throw new Error(`operator API: ${what} answered ${a.status}: ${msg}`);
}

const dev = (tenant: string, id: string) => `/api/${encodeURIComponent(tenant)}/devices/${encodeURIComponent(id)}`;

/** POST /api/{tenant}/devices: the device's secrets, shown this once. */
export async function provisionDevice(op: Operator, tenant: string, deviceId: string, name?: string): Promise<{ apiKey: string; resetSecret: string }> {
  const a = await op.call('POST', `/api/${encodeURIComponent(tenant)}/devices`, { deviceId, name: name ?? null, type: 'tracker' });
  if (a.status !== 201) fail(`creating device ${deviceId}`, a);
  const b = a.body as { apiKey?: unknown; resetSecret?: unknown };
  if (typeof b.apiKey !== 'string' || typeof b.resetSecret !== 'string') fail(`creating device ${deviceId} (no secrets in the answer)`, a);
  return { apiKey: b.apiKey, resetSecret: b.resetSecret };
}

export async function deviceExists(op: Operator, tenant: string, deviceId: string): Promise<boolean> {
  const a = await op.call('GET', dev(tenant, deviceId));
  return a.status === 200;
}

/** Finds the device's live apiKey in GET /keys (paged) and revokes it with DELETE /keys/{key}. */
export async function revokeDeviceKey(op: Operator, tenant: string, deviceId: string): Promise<boolean> {
  for (let offset = 0; ; offset += 64) {
    const a = await op.call('GET', `/keys?offset=${offset}&limit=64`);
    if (a.status !== 200) fail('listing keys', a);
    const page = a.body as { key: string; tenantId?: string; deviceId?: string; scopes: string[] }[];
    const k = page.find((v) => v.tenantId === tenant && v.deviceId === deviceId && v.scopes.includes('uplinks:write'));
    if (k) {
      const d = await op.call('DELETE', `/keys/${encodeURIComponent(k.key)}`);
      if (d.status !== 200) fail(`revoking the key of ${deviceId}`, d);
      return true;
    }
    if (page.length < 64) return false;
  }
}

export async function setEnabled(op: Operator, tenant: string, deviceId: string, isEnabled: boolean): Promise<boolean> {
  const a = await op.call('PUT', dev(tenant, deviceId), { isEnabled });
  return a.status === 200;
}

/** Keeps the device's uplink ids (GET .../uplinks), then deletes it (its uplinks go with it). */
export async function deleteDevice(op: Operator, tenant: string, deviceId: string): Promise<number[] | null> {
  const a = await op.call('GET', `${dev(tenant, deviceId)}/uplinks`);
  if (a.status !== 200) return null;
  const ids = (a.body as { id: number }[]).map((u) => u.id);
  const d = await op.call('DELETE', dev(tenant, deviceId));
  if (d.status !== 204) fail(`deleting ${deviceId}`, d);
  return ids;
}
