// The route table: which (method, path) is which handler, and which endpoint
// class it is logged under.

import type { DeviceStore } from './devices.ts';
import type { ParsedRequest } from './http-util.ts';
import type { KeyStore } from './keys.ts';
import type { Endpoint } from './types.ts';

export type RouteName =
  | 'connect'
  | 'reset'
  | 'uplink'
  | 'backfill'
  | 'listDevices'
  | 'createDevice'
  | 'getDevice'
  | 'updateDevice'
  | 'deleteDevice'
  | 'listUplinks'
  | 'listKeys'
  | 'createKey'
  | 'updateKey'
  | 'deleteKey';

export interface RouteParams {
  tenantId?: string;
  deviceId?: string;
  publicKey?: string;
}

/** Everything a handler needs; handlers answer or throw ApiError. */
export interface HandlerContext {
  req: ParsedRequest;
  params: RouteParams;
  now: number;
  keys: KeyStore;
  devices: DeviceStore;
  environmentFor(deviceId: string): string;
  /** Lifetime given to newly issued device apiKeys; undefined = no expiry. */
  apiKeyTtlMs?: number;
}

export type RouteMatch =
  | { kind: 'found'; name: RouteName; endpoint: Endpoint; params: RouteParams }
  | { kind: 'method-not-allowed'; endpoint: Endpoint; params: RouteParams; allow: string[] }
  | { kind: 'not-found'; endpoint: 'unknown'; params: RouteParams };

interface RouteDef {
  pattern: RegExp;
  paramNames: (keyof RouteParams)[];
  methods: Partial<Record<string, RouteName>>;
  /** Endpoint logged for a method the path does not serve. */
  pathEndpoint: Endpoint;
}

const ID = '([A-Za-z0-9_-]{1,64})';
const DEVICE = `^/api/${ID}/devices/${ID}`;

const ROUTES: RouteDef[] = [
  { pattern: new RegExp(`${DEVICE}/connect$`), paramNames: ['tenantId', 'deviceId'], methods: { POST: 'connect' }, pathEndpoint: 'connect' },
  { pattern: new RegExp(`${DEVICE}/connections/reset$`), paramNames: ['tenantId', 'deviceId'], methods: { POST: 'reset' }, pathEndpoint: 'reset' },
  { pattern: new RegExp(`${DEVICE}/uplinks$`), paramNames: ['tenantId', 'deviceId'], methods: { POST: 'uplink', GET: 'listUplinks' }, pathEndpoint: 'uplink' },
  { pattern: new RegExp(`${DEVICE}/uplinks/backfill$`), paramNames: ['tenantId', 'deviceId'], methods: { POST: 'backfill' }, pathEndpoint: 'backfill' },
  { pattern: new RegExp(`${DEVICE}$`), paramNames: ['tenantId', 'deviceId'], methods: { GET: 'getDevice', PUT: 'updateDevice', DELETE: 'deleteDevice' }, pathEndpoint: 'operator' },
  { pattern: new RegExp(`^/api/${ID}/devices$`), paramNames: ['tenantId'], methods: { GET: 'listDevices', POST: 'createDevice' }, pathEndpoint: 'operator' },
  { pattern: /^\/keys$/, paramNames: [], methods: { GET: 'listKeys', POST: 'createKey' }, pathEndpoint: 'operator' },
  { pattern: /^\/keys\/([A-Za-z0-9_-]{1,128})$/, paramNames: ['publicKey'], methods: { PATCH: 'updateKey', DELETE: 'deleteKey' }, pathEndpoint: 'operator' },
];

const DEVICE_ROUTES: ReadonlySet<RouteName> = new Set(['connect', 'reset', 'uplink', 'backfill']);

export function isDeviceRoute(name: RouteName): name is 'connect' | 'reset' | 'uplink' | 'backfill' {
  return DEVICE_ROUTES.has(name);
}

export function matchRoute(method: string, pathname: string): RouteMatch {
  for (const route of ROUTES) {
    const m = route.pattern.exec(pathname);
    if (!m) continue;
    const params: RouteParams = {};
    route.paramNames.forEach((name, i) => (params[name] = m[i + 1]));
    const name = route.methods[method];
    if (name === undefined) {
      return { kind: 'method-not-allowed', endpoint: route.pathEndpoint, params, allow: Object.keys(route.methods) };
    }
    const endpoint: Endpoint = isDeviceRoute(name) ? name : 'operator';
    return { kind: 'found', name, endpoint, params };
  }
  return { kind: 'not-found', endpoint: 'unknown', params: {} };
}
