// Devices of the fake cloud and what they sent: uplinks, duplicate counts,
// the last connect report. A deviceId is unique across the whole cloud; the
// device belongs to the tenant it was created under.

import type { DeviceRef } from './keys.ts';
import type { StoredUplink } from './types.ts';

/** Factory settings of a tracker (spec, connect). */
export const FACTORY_TRACKER_SETTINGS = Object.freeze({
  type: 'tracker',
  uplinkIntervalS: 300,
  movingIntervalS: 60,
  heartbeatS: 3600,
  backfillBatchSize: 100,
  gnssTimeoutS: 90,
  sendIntervalS: 600,
});

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface DeviceRecord extends DeviceRef {
  name: string | null;
  description: string | null;
  type: 'tracker';
  isEnabled: boolean;
  /** Sent verbatim in connect answers; deliberately not validated (tests send bad settings). */
  settings: unknown;
  created: number;
  /** Keyed by uplinkKey(epoch, id): the cloud accepts each (deviceId, epoch, id) once. */
  uplinks: Map<string, StoredUplink>;
  duplicates: number;
  connects: number;
  /** Undefined before the first connect; null after a connect without body. */
  lastConnectBody: unknown;
}

/** The device as the operator API shows it. */
export interface DeviceView {
  deviceId: string;
  tenantId: string;
  name: string | null;
  description: string | null;
  isEnabled: boolean;
  type: 'tracker';
  settings: unknown;
}

export interface NewDevice {
  tenantId: string;
  deviceId: string;
  name?: string | null;
  description?: string | null;
  isEnabled?: boolean;
  settings?: unknown;
}

export class DeviceStore {
  private readonly devices = new Map<string, DeviceRecord>();

  /** The device if it exists under this tenant. */
  find(tenantId: string, deviceId: string): DeviceRecord | undefined {
    const d = this.devices.get(deviceId);
    return d && d.tenantId === tenantId ? d : undefined;
  }

  /** The device with this id, whatever its tenant. */
  byId(deviceId: string): DeviceRecord | undefined {
    return this.devices.get(deviceId);
  }

  has(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  inTenant(tenantId: string): DeviceRecord[] {
    return [...this.devices.values()].filter((d) => d.tenantId === tenantId);
  }

  create(spec: NewDevice, now: number): DeviceRecord {
    if (this.devices.has(spec.deviceId)) throw new Error(`device ${spec.deviceId} exists`);
    const record: DeviceRecord = {
      tenantId: spec.tenantId,
      deviceId: spec.deviceId,
      name: spec.name ?? null,
      description: spec.description ?? null,
      type: 'tracker',
      isEnabled: spec.isEnabled ?? true,
      settings: spec.settings === undefined ? structuredClone(FACTORY_TRACKER_SETTINGS) : spec.settings,
      created: now,
      uplinks: new Map(),
      duplicates: 0,
      connects: 0,
      lastConnectBody: undefined,
    };
    this.devices.set(spec.deviceId, record);
    return record;
  }

  remove(deviceId: string): void {
    this.devices.delete(deviceId);
  }
}

export function deviceView(d: DeviceRecord): DeviceView {
  return {
    deviceId: d.deviceId,
    tenantId: d.tenantId,
    name: d.name,
    description: d.description,
    isEnabled: d.isEnabled,
    type: d.type,
    settings: d.settings,
  };
}

/** The name of an uplink within its device. */
export function uplinkKey(epoch: number, id: number): string {
  return `${epoch}:${id}`;
}

/** Stored uplinks ordered by epoch, then id. */
export function uplinksById(d: DeviceRecord): StoredUplink[] {
  return [...d.uplinks.values()].sort((a, b) => a.epoch - b.epoch || a.id - b.id);
}

/**
 * The batch limit the cloud enforces on backfill: the device's
 * `settings.backfillBatchSize` when it is a valid value (1-500), else the
 * factory default — the device keeps its last good settings when it rejects
 * bad ones, and the cloud cannot know which those are.
 */
export function backfillLimit(d: DeviceRecord): number {
  const s = d.settings as { backfillBatchSize?: unknown } | null;
  const n = typeof s === 'object' && s !== null ? s.backfillBatchSize : undefined;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 500 ? n : FACTORY_TRACKER_SETTINGS.backfillBatchSize;
}
