// API keys of the fake cloud: operator keys, device apiKeys and reset secrets
// live in one key space. A key has a public id (listed, used in /keys/{publicKey})
// and a secret (sent in X-Api-Key or as a Bearer token, shown once).

import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { ApiError, isoInstant } from './http-util.ts';

export const SCOPES = [
  'devices:connect',
  'uplinks:write',
  'connections:reset',
  'devices:read',
  'devices:write',
  'uplinks:read',
  'keys:read',
  'keys:write',
] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** Whether `held` grants `needed`; a `:write` scope implies the `:read` of the same resource. */
export function grants(held: readonly Scope[], needed: Scope): boolean {
  if (held.includes(needed)) return true;
  if (!needed.endsWith(':read')) return false;
  const write = needed.replace(/:read$/, ':write');
  return held.some((s) => s === write);
}

export type KeyPurpose = 'operator' | 'apiKey' | 'resetSecret';

export interface DeviceRef {
  tenantId: string;
  deviceId: string;
}

export interface KeyRecord {
  publicKey: string;
  secret: string;
  purpose: KeyPurpose;
  alias: string | null;
  /** Allowed client addresses; empty = any. */
  ips: string[];
  scopes: Scope[];
  created: number;
  expires: number | null;
  revoked: boolean;
  /** Set for a device's apiKey and reset secret: the only device it may act for. */
  device?: DeviceRef;
}

/** What `GET /keys` shows of a key: never the secret. */
export interface KeyView {
  key: string;
  alias: string | null;
  ips: string[];
  scopes: Scope[];
  created: string;
  expires: string | null;
  tenantId?: string;
  deviceId?: string;
}

export type SecretFactory = (purpose: KeyPurpose) => string;

const SECRET_PREFIX: Record<KeyPurpose, string> = { operator: 'sk_', apiKey: 'ak_', resetSecret: 'rs_' };

/** Default secrets: prefix + 32 base64url characters (35 printable ASCII bytes). */
export const randomSecret: SecretFactory = (purpose) => SECRET_PREFIX[purpose] + randomBytes(24).toString('base64url');

export const DEVICE_API_KEY_SCOPES: Scope[] = ['devices:connect', 'uplinks:write'];
export const RESET_SECRET_SCOPES: Scope[] = ['connections:reset'];

export interface NewKey {
  purpose: KeyPurpose;
  alias?: string | null;
  ips?: string[];
  scopes: Scope[];
  expires?: number | null;
  device?: DeviceRef;
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are the same client. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return (mapped ? mapped[1] : address).toLowerCase();
}

export function isIpAddress(value: unknown): value is string {
  return typeof value === 'string' && isIP(value) !== 0;
}

export class KeyStore {
  private readonly bySecret = new Map<string, KeyRecord>();
  private readonly byPublic = new Map<string, KeyRecord>();
  private readonly makeSecret: SecretFactory;

  constructor(makeSecret: SecretFactory = randomSecret) {
    this.makeSecret = makeSecret;
  }

  create(spec: NewKey, now: number): KeyRecord {
    const secret = this.makeSecret(spec.purpose);
    if (this.bySecret.has(secret) || this.byPublic.has(secret)) throw new Error('secret factory returned a secret already in use');
    let publicKey: string;
    do publicKey = 'pk_' + randomBytes(8).toString('hex');
    while (this.byPublic.has(publicKey));
    const record: KeyRecord = {
      publicKey,
      secret,
      purpose: spec.purpose,
      alias: spec.alias ?? null,
      ips: (spec.ips ?? []).map(normalizeAddress),
      scopes: [...spec.scopes],
      created: now,
      expires: spec.expires ?? null,
      revoked: false,
      device: spec.device && { ...spec.device },
    };
    this.bySecret.set(secret, record);
    this.byPublic.set(publicKey, record);
    return record;
  }

  /** Any key ever issued with this secret, revoked ones included. */
  withSecret(secret: string): KeyRecord | undefined {
    return this.bySecret.get(secret);
  }

  /** A live (not revoked) key by its public id. */
  live(publicKey: string): KeyRecord | undefined {
    const k = this.byPublic.get(publicKey);
    return k && !k.revoked ? k : undefined;
  }

  /** A key named by its public id or by its secret (test helpers accept either). */
  find(ref: string): KeyRecord | undefined {
    return this.byPublic.get(ref) ?? this.bySecret.get(ref);
  }

  /** Live keys in creation order. */
  list(): KeyRecord[] {
    return [...this.byPublic.values()].filter((k) => !k.revoked);
  }

  /** Revokes the live keys of a device, of one purpose or all. */
  revokeDeviceKeys(device: DeviceRef, purpose?: KeyPurpose): void {
    for (const k of this.byPublic.values()) {
      if (!k.revoked && sameDevice(k.device, device) && (purpose === undefined || k.purpose === purpose)) k.revoked = true;
    }
  }

  /** The live key of a device for a purpose (the newest if several). */
  deviceKey(device: DeviceRef, purpose: KeyPurpose): KeyRecord | undefined {
    let found: KeyRecord | undefined;
    for (const k of this.byPublic.values()) {
      if (!k.revoked && k.purpose === purpose && sameDevice(k.device, device)) found = k;
    }
    return found;
  }
}

export function sameDevice(a: DeviceRef | undefined, b: DeviceRef): boolean {
  return a !== undefined && a.tenantId === b.tenantId && a.deviceId === b.deviceId;
}

export function keyView(k: KeyRecord): KeyView {
  const view: KeyView = {
    key: k.publicKey,
    alias: k.alias,
    ips: [...k.ips],
    scopes: [...k.scopes],
    created: isoInstant(k.created),
    expires: k.expires === null ? null : isoInstant(k.expires),
  };
  if (k.device) {
    view.tenantId = k.device.tenantId;
    view.deviceId = k.device.deviceId;
  }
  return view;
}

/** 401 when the key is unusable as such: revoked or expired. */
export function requireUsable(k: KeyRecord, now: number): void {
  if (k.revoked) throw new ApiError(401, 'API key revoked');
  if (k.expires !== null && now >= k.expires) throw new ApiError(401, 'API key expired');
}

/** 403 when the key is used from an address outside its `ips` list. */
export function requireAddress(k: KeyRecord, remoteAddress: string | undefined): void {
  if (k.ips.length === 0) return;
  if (remoteAddress === undefined || !k.ips.includes(normalizeAddress(remoteAddress))) {
    throw new ApiError(403, 'API key not allowed from this address');
  }
}

export function requireScope(k: KeyRecord, scope: Scope): void {
  if (!grants(k.scopes, scope)) throw new ApiError(403, `Permission denied: scope ${scope} required`);
}
