// The fake cloud's state on disk (`--state DIR`): devices, keys (secrets included: this is a
// test double, the file is written 0600), uplinks and per-device environments, as one JSON
// file replaced by rename, so that a crash leaves the old or the new state. The request log
// is not kept.
import fs from 'node:fs';
import path from 'node:path';
import { FakeCloud, type FakeCloudOptions } from './fake-cloud.ts';
import { uplinkKey, type DeviceRecord, type DeviceStore } from './devices.ts';
import type { KeyRecord, KeyStore } from './keys.ts';
import type { StoredUplink } from './types.ts';

export const STATE_FILE = 'cloud.json';
const FORMAT = 'trackagent-fake-cloud';
const VERSION = 1;

interface SavedDevice extends Omit<DeviceRecord, 'uplinks'> { uplinks: StoredUplink[] }

export interface SavedCloud {
  format: typeof FORMAT;
  version: number;
  savedAt: string;
  adminKey: string;
  adminPublicKey: string;
  keys: KeyRecord[];
  devices: SavedDevice[];
  environments: [string, string][];
}

// The stores are private to FakeCloud; this module is their one other reader (bracket access).
function stores(cloud: FakeCloud) {
  const keys = cloud['keys'] as KeyStore;
  const devices = cloud['devices'] as DeviceStore;
  return {
    keys,
    byPublic: keys['byPublic'] as Map<string, KeyRecord>,
    bySecret: keys['bySecret'] as Map<string, KeyRecord>,
    devices: devices['devices'] as Map<string, DeviceRecord>,
    environments: cloud['environments'] as Map<string, string>,
  };
}

/** The whole state as one JSON-able object. */
export function cloudToJSON(cloud: FakeCloud): SavedCloud {
  const s = stores(cloud);
  return {
    format: FORMAT,
    version: VERSION,
    savedAt: new Date(cloud.now()).toISOString(),
    adminKey: cloud.adminKey,
    adminPublicKey: cloud.adminPublicKey,
    keys: [...s.byPublic.values()],
    devices: [...s.devices.values()].map((d) => ({ ...d, uplinks: [...d.uplinks.values()] })),
    environments: [...s.environments],
  };
}

/** A cloud holding a saved state (a new admin key is not made: the saved one stays). */
export function cloudFromJSON(saved: unknown, options: FakeCloudOptions = {}): FakeCloud {
  const v = saved as Partial<SavedCloud> | null;
  if (!v || typeof v !== 'object' || v.format !== FORMAT) throw new Error('not a fake-cloud state file');
  if (v.version !== VERSION) throw new Error(`state format version ${String(v.version)}, this simulator reads ${VERSION}`);
  if (!Array.isArray(v.keys) || !Array.isArray(v.devices) || !Array.isArray(v.environments) || typeof v.adminKey !== 'string') {
    throw new Error('state file is missing keys, devices or the admin key');
  }
  const cloud = new FakeCloud(options);
  const s = stores(cloud);
  s.byPublic.clear();
  s.bySecret.clear();
  for (const k of v.keys) {
    if (typeof k?.publicKey !== 'string' || typeof k.secret !== 'string') throw new Error('state file has a malformed key');
    const rec: KeyRecord = { ...k, ips: [...(k.ips ?? [])], scopes: [...(k.scopes ?? [])], device: k.device && { ...k.device } };
    s.byPublic.set(rec.publicKey, rec);
    s.bySecret.set(rec.secret, rec);
  }
  if (!s.bySecret.has(v.adminKey)) throw new Error('state file: the admin key is not among its keys');
  Object.assign(cloud, { adminKey: v.adminKey, adminPublicKey: v.adminPublicKey });
  for (const d of v.devices) {
    if (typeof d?.deviceId !== 'string' || !Array.isArray(d.uplinks)) throw new Error('state file has a malformed device');
    s.devices.set(d.deviceId, { ...d, uplinks: new Map(d.uplinks.map((u) => [uplinkKey(u.epoch, u.id), u])) });
  }
  for (const [id, url] of v.environments) s.environments.set(id, url);
  return cloud;
}

/** Writes DIR/cloud.json (atomically: temporary file, then rename). */
export function saveCloud(cloud: FakeCloud, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(cloudToJSON(cloud)), { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

/** The cloud saved in DIR, or a new empty one when DIR holds no state yet. Throws a readable sentence. */
export function loadCloud(dir: string, options: FakeCloudOptions = {}): { cloud: FakeCloud; loaded: boolean } {
  const file = path.join(dir, STATE_FILE);
  if (!fs.existsSync(file)) return { cloud: new FakeCloud(options), loaded: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not readable JSON (${(e as Error).message})`);
  }
  try {
    return { cloud: cloudFromJSON(parsed, options), loaded: true };
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}
