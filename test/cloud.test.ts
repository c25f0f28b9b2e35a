// The fake cloud over real sockets: device API, operator API, faults, request log.

import { request as httpRequest, Agent } from 'node:http';
import { connect as netConnect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FACTORY_TRACKER_SETTINGS, FakeCloud, type ProvisionedDevice } from '../host-sim/cloud/fake-cloud.ts';
import { composeFaults, faultWhen, type FaultHook } from '../host-sim/cloud/faults.ts';
import { startCloudServer, type CloudServer } from '../host-sim/cloud/server.ts';

const START = Date.UTC(2026, 10, 23, 10, 15, 0);
const TENANT = 'acme';
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const ERROR_FIELDS = ['timestamp', 'path', 'status', 'error', 'message', 'requestId', 'errorId', 'traceId'];
/** An epoch of the devices in these tests (any unsigned 32-bit integer). */
const E = 2_882_400_018;

let clock: number;
let cloud: FakeCloud;
let server: CloudServer;
let dev: ProvisionedDevice;

beforeEach(async () => {
  clock = START;
  cloud = new FakeCloud({ now: () => clock });
  server = await startCloudServer(cloud);
  dev = cloud.createDevice({ tenantId: TENANT, deviceId: 'trk-1', name: 'Tracker 1' });
});

afterEach(async () => {
  await server.close();
});

interface CallOptions {
  key?: string;
  bearer?: string;
  /** Object → JSON; string/Uint8Array → sent as is. */
  body?: unknown;
  contentType?: string | null;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== undefined) headers['X-Api-Key'] = opts.key;
  if (opts.bearer !== undefined) headers['Authorization'] = `Bearer ${opts.bearer}`;
  let body: string | Uint8Array<ArrayBuffer> | undefined;
  if (opts.body !== undefined) {
    if (opts.body instanceof Uint8Array) body = new Uint8Array(opts.body);
    else body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    if (opts.contentType !== null) headers['Content-Type'] = opts.contentType ?? 'application/json';
  }
  const res = await fetch(server.url + path, { method, headers, body, signal: opts.signal });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

interface DeviceAddress {
  tenantId: string;
  deviceId: string;
}
const devicePath = (d: DeviceAddress, tail: string) => `/api/${d.tenantId}/devices/${d.deviceId}${tail}`;
const connectDev = (key: string, body?: unknown, d: DeviceAddress = dev) => call('POST', devicePath(d, '/connect'), { key, body });
const resetDev = (key: string, d: DeviceAddress = dev) => call('POST', devicePath(d, '/connections/reset'), { key });
const sendUplink = (key: string, body: unknown, d: DeviceAddress = dev) => call('POST', devicePath(d, '/uplinks'), { key, body });
const sendBackfill = (key: string, body: unknown, d: DeviceAddress = dev) => call('POST', devicePath(d, '/uplinks/backfill'), { key, body });
const admin = (method: string, path: string, body?: unknown) => call(method, path, { key: cloud.adminKey, body });

function expectErrorObject(json: any, status: number, path: string) {
  expect(Object.keys(json).sort()).toEqual([...ERROR_FIELDS].sort());
  expect(json.status).toBe(status);
  expect(json.path).toBe(path);
  expect(typeof json.error).toBe('string');
  expect(json.error.length).toBeGreaterThan(0);
  expect(Number.isNaN(Date.parse(json.timestamp))).toBe(false);
}

describe('responses', () => {
  it('carry a Date header from the cloud clock, and JSON content type', async () => {
    clock = Date.UTC(2031, 0, 2, 3, 4, 5);
    const r = await connectDev(dev.apiKey);
    expect(r.status).toBe(200);
    expect(r.headers.get('date')).toBe('Thu, 02 Jan 2031 03:04:05 GMT');
    expect(r.headers.get('date')).toMatch(IMF_FIXDATE);
    expect(r.headers.get('content-type')).toBe('application/json');
  });

  it('every error carries the error object with the reason phrase', async () => {
    const r = await connectDev('no-such-key-0123456789');
    expect(r.status).toBe(401);
    expectErrorObject(r.json, 401, devicePath(dev, '/connect'));
    expect(r.json.error).toBe('Unauthorized');
    expect(r.headers.get('date')).toMatch(IMF_FIXDATE);
  });

  it('unknown route → 404 error object; wrong method → 405 with Allow', async () => {
    const nf = await call('GET', '/nope?x=1', { key: cloud.adminKey });
    expect(nf.status).toBe(404);
    expectErrorObject(nf.json, 404, '/nope');
    const na = await call('GET', devicePath(dev, '/connect'), { key: dev.apiKey });
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('POST');
    expectErrorObject(na.json, 405, devicePath(dev, '/connect'));
    expect(cloud.requests.at(-1)).toMatchObject({ endpoint: 'connect', status: 405, deviceId: 'trk-1' });
  });
});

describe('connect', () => {
  it('answers the factory settings and no keyExpires for a key without expiry', async () => {
    const r = await connectDev(dev.apiKey);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ settings: { ...FACTORY_TRACKER_SETTINGS } });
    expect(r.json.settings).toEqual({
      type: 'tracker', uplinkIntervalS: 300, movingIntervalS: 60, heartbeatS: 3600, backfillBatchSize: 100, gnssTimeoutS: 90, sendIntervalS: 600,
    });
  });

  it('answers keyExpires when the key has an expiry', async () => {
    cloud.setKeyExpiry(dev.apiKey, '2026-12-01T00:00:00Z');
    const r = await connectDev(dev.apiKey);
    expect(r.status).toBe(200);
    expect(r.json.keyExpires).toBe('2026-12-01T00:00:00Z');
  });

  it('stores the last connect body; no body is recorded as null', async () => {
    expect(cloud.lastConnectBody('trk-1')).toBeUndefined();
    await connectDev(dev.apiKey, { firmware: '1.2.0', bufferedUplinks: 37 });
    expect(cloud.lastConnectBody('trk-1')).toEqual({ firmware: '1.2.0', bufferedUplinks: 37 });
    await connectDev(dev.apiKey, { settingsRejected: 'heartbeatS: out of range' });
    expect(cloud.lastConnectBody('trk-1')).toEqual({ settingsRejected: 'heartbeatS: out of range' });
    await connectDev(dev.apiKey);
    expect(cloud.lastConnectBody('trk-1')).toBeNull();
    expect(cloud.connectsOf('trk-1')).toBe(3);
  });

  it('refuses a body that is not a JSON object, or not JSON, with 400', async () => {
    for (const body of ['[1,2]', '"text"', '42', '{"firmware":', 'not json', '\u00ff']) {
      const r = await connectDev(dev.apiKey, body);
      expect(r.status, body).toBe(400);
      expectErrorObject(r.json, 400, devicePath(dev, '/connect'));
    }
    const badUtf8 = await call('POST', devicePath(dev, '/connect'), { key: dev.apiKey, body: new Uint8Array([0x7b, 0xff, 0x7d]) });
    expect(badUtf8.status).toBe(400);
  });

  it('refuses a JSON body without Content-Type application/json with 415', async () => {
    const r = await call('POST', devicePath(dev, '/connect'), { key: dev.apiKey, body: '{}', contentType: 'text/plain' });
    expect(r.status).toBe(415);
    const ok = await call('POST', devicePath(dev, '/connect'), { key: dev.apiKey, body: '{}', contentType: 'application/json; charset=utf-8' });
    expect(ok.status).toBe(200);
  });

  it('sends operator settings verbatim, even invalid ones', async () => {
    const bad = { type: 'tracker', uplinkIntervalS: 'soon', heartbeatS: 5, extra: [1, 2] };
    const put = await admin('PUT', devicePath(dev, ''), { settings: bad });
    expect(put.status).toBe(200);
    expect((await connectDev(dev.apiKey)).json.settings).toEqual(bad);
    cloud.updateDevice('trk-1', { settings: 'not even an object' });
    expect((await connectDev(dev.apiKey)).json.settings).toBe('not even an object');
  });
});

describe('device authentication', () => {
  it('reads X-Api-Key whatever the case of the header name', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(server.url + devicePath(dev, '/connect'), { method: 'POST', headers: { 'X-API-KEY': dev.apiKey } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(res).toBe(200);
    const inProcess = await cloud.handle({ method: 'post', path: devicePath(dev, '/connect'), headers: { 'x-Api-kEy': dev.apiKey }, body: new Uint8Array() });
    expect(inProcess.status).toBe(200);
  });

  it('401 for a missing, unknown, revoked or expired key', async () => {
    expect((await call('POST', devicePath(dev, '/connect'))).status).toBe(401);
    expect((await connectDev('ak_unknownunknownunknownunknown')).status).toBe(401);
    const extra = cloud.createKey({ forDevice: 'trk-1' });
    expect((await connectDev(extra.secret)).status).toBe(200);
    expect(cloud.revokeKey(extra.publicKey)).toBe(true);
    expect((await connectDev(extra.secret)).status).toBe(401);
    cloud.setKeyExpiry(dev.apiKey, START + 1000);
    expect((await connectDev(dev.apiKey)).status).toBe(200);
    clock = START + 1000;
    const expired = await connectDev(dev.apiKey);
    expect(expired.status).toBe(401);
    expect(expired.json.message).toMatch(/expired/);
  });

  it('403 for a key lacking the scope', async () => {
    const readOnly = cloud.createKey({ forDevice: 'trk-1', scopes: ['devices:connect'] });
    expect((await connectDev(readOnly.secret)).status).toBe(200);
    expect((await sendUplink(readOnly.secret, { epoch: E, id: 1 })).status).toBe(403);
    const noConnect = cloud.createKey({ forDevice: 'trk-1', scopes: ['uplinks:write'] });
    expect((await connectDev(noConnect.secret)).status).toBe(403);
    expect((await sendUplink(noConnect.secret, { epoch: E, id: 1 })).status).toBe(201);
  });

  it('403 for a key of another device', async () => {
    const other = cloud.createDevice({ tenantId: TENANT, deviceId: 'trk-2' });
    const r = await connectDev(other.apiKey);
    expect(r.status).toBe(403);
    expect(r.json.message).toMatch(/another device/);
    expect((await sendUplink(other.apiKey, { epoch: E, id: 1 })).status).toBe(403);
    expect(cloud.uplinksOf('trk-1')).toEqual([]);
    // Same deviceId under another tenant path is another device too.
    expect((await connectDev(dev.apiKey, undefined, { tenantId: 'other', deviceId: 'trk-1' })).status).toBe(403);
  });

  it('403 while the device is disabled, 200 again once enabled', async () => {
    expect((await admin('PUT', devicePath(dev, ''), { isEnabled: false })).json.isEnabled).toBe(false);
    const r = await connectDev(dev.apiKey);
    expect(r.status).toBe(403);
    expect(r.json.message).toMatch(/disabled/);
    expect((await sendUplink(dev.apiKey, { epoch: E, id: 1 })).status).toBe(403);
    expect((await resetDev(dev.resetSecret)).status).toBe(403);
    await admin('PUT', devicePath(dev, ''), { isEnabled: true });
    expect((await connectDev(dev.apiKey)).status).toBe(200);
  });

  it('404 for a key of a deleted device, 401 for an unknown key on its path', async () => {
    expect((await admin('DELETE', devicePath(dev, ''))).status).toBe(204);
    const gone = await connectDev(dev.apiKey);
    expect(gone.status).toBe(404);
    expectErrorObject(gone.json, 404, devicePath(dev, '/connect'));
    expect((await sendUplink(dev.apiKey, { epoch: E, id: 1 })).status).toBe(404);
    expect((await resetDev(dev.resetSecret)).status).toBe(404);
    expect((await connectDev('ak_neverissuedneverissuedneverissued')).status).toBe(401);
    // The old key of a device since re-created under the same id is just revoked.
    cloud.createDevice({ tenantId: TENANT, deviceId: 'trk-1' });
    expect((await connectDev(dev.apiKey)).status).toBe(401);
  });

  it('an operator key with the scope may act for any existing device, 404 for a missing one', async () => {
    expect((await connectDev(cloud.adminKey)).status).toBe(200);
    expect((await sendUplink(cloud.adminKey, { epoch: E, id: 5 })).status).toBe(201);
    const missing = await connectDev(cloud.adminKey, undefined, { tenantId: TENANT, deviceId: 'ghost' });
    expect(missing.status).toBe(404);
  });
});

describe('reset', () => {
  it('issues a fresh apiKey, revokes the old one, tells the environment', async () => {
    const r = await resetDev(dev.resetSecret);
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['apiKey', 'deviceId', 'environment', 'tenantId']);
    expect(r.json).toMatchObject({ deviceId: 'trk-1', tenantId: TENANT, environment: server.url });
    expect(r.json.apiKey).toMatch(/^[\x20-\x7e]{32,128}$/);
    expect(r.json.apiKey).not.toBe(dev.apiKey);
    expect((await connectDev(dev.apiKey)).status).toBe(401);
    expect((await connectDev(r.json.apiKey)).status).toBe(200);
    expect(cloud.apiKeyOf('trk-1')).toBe(r.json.apiKey);
  });

  it('revokes every previous apiKey of the device', async () => {
    const extra = cloud.createKey({ forDevice: 'trk-1' });
    const first = (await resetDev(dev.resetSecret)).json.apiKey;
    const second = (await resetDev(dev.resetSecret)).json.apiKey;
    expect((await connectDev(extra.secret)).status).toBe(401);
    expect((await connectDev(first)).status).toBe(401);
    expect((await connectDev(second)).status).toBe(200);
    // The reset secret itself stays valid.
    expect((await resetDev(dev.resetSecret)).status).toBe(200);
  });

  it('tells a per-device environment override', async () => {
    cloud.setEnvironment('trk-1', 'https://evil.example.net');
    expect((await resetDev(dev.resetSecret)).json.environment).toBe('https://evil.example.net');
    cloud.setEnvironment('trk-1', undefined);
    expect((await resetDev(dev.resetSecret)).json.environment).toBe(server.url);
  });

  it('only with the reset secret; the reset secret works nowhere else', async () => {
    expect((await resetDev(dev.apiKey)).status).toBe(403);
    expect((await resetDev(cloud.adminKey)).status).toBe(403);
    expect((await connectDev(dev.resetSecret)).status).toBe(403);
    expect((await sendUplink(dev.resetSecret, { epoch: E, id: 1 })).status).toBe(403);
    expect((await sendBackfill(dev.resetSecret, { uplinks: [] })).status).toBe(403);
    expect((await call('GET', '/keys', { key: dev.resetSecret })).status).toBe(403);
    const other = cloud.createDevice({ tenantId: TENANT, deviceId: 'trk-2' });
    expect((await resetDev(other.resetSecret)).status).toBe(403);
    expect((await connectDev(dev.apiKey)).status).toBe(200); // nothing was rotated
  });

  it('new keys carry the configured lifetime', async () => {
    cloud.apiKeyTtlMs = 3_600_000;
    const key = (await resetDev(dev.resetSecret)).json.apiKey;
    expect((await connectDev(key)).json.keyExpires).toBe('2026-11-23T11:15:00Z');
  });
});

describe('uplinks', () => {
  it('stores the first of an (epoch, id) (201, counted) and answers a repeat as a duplicate without storing it', async () => {
    const up = { epoch: E, id: 1291, timestamp: '2026-11-23T10:15:00Z', topic: 'position', data: { latitude: 47.3769, longitude: 8.5417 } };
    const first = await sendUplink(dev.apiKey, up);
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ accepted: 1, duplicates: 0 });
    const again = await sendUplink(dev.apiKey, { ...up, data: { changed: true } });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ accepted: 0, duplicates: 1 });
    expect(cloud.uplinksOf('trk-1')).toEqual([{ ...up, receivedAt: '2026-11-23T10:15:00Z' }]);
    expect(cloud.duplicatesOf('trk-1')).toBe(1);
    // The same id in another epoch is another uplink: a device that lost its counter keeps its data.
    expect((await sendUplink(dev.apiKey, { ...up, epoch: E + 1 })).status).toBe(201);
    expect(cloud.uplinksOf('trk-1').map((u) => [u.epoch - E, u.id])).toEqual([[0, 1291], [1, 1291]]);
  });

  it('defaults timestamp to receive time and topic to "default"', async () => {
    clock = START + 42_000;
    expect((await sendUplink(dev.apiKey, { epoch: E, id: 1, data: { timeUnknown: true } })).status).toBe(201);
    expect(cloud.uplinksOf('trk-1')[0]).toEqual({
      epoch: E, id: 1, timestamp: '2026-11-23T10:15:42Z', topic: 'default', data: { timeUnknown: true }, receivedAt: '2026-11-23T10:15:42Z',
    });
  });

  it('accepts 1e2 and 100.0 as id 100', async () => {
    expect((await sendUplink(dev.apiKey, `{"epoch":${E},"id":1e2}`)).status).toBe(201);
    expect((await sendUplink(dev.apiKey, `{"epoch":${E},"id":100.0}`)).json).toEqual({ accepted: 0, duplicates: 1 });
    expect(cloud.uplinksOf('trk-1').map((u) => u.id)).toEqual([100]);
  });

  it('refuses invalid uplinks with 400', async () => {
    const bad: unknown[] = [
      {}, { id: 1 }, { epoch: -1, id: 1 }, { epoch: 2 ** 32, id: 1 }, { epoch: 1.5, id: 1 }, { epoch: '7', id: 1 },
      { epoch: E, id: 0 }, { epoch: E, id: -1 }, { epoch: E, id: 1.5 }, { epoch: E, id: '7' }, { epoch: E, id: null }, { epoch: E, id: 1, timestamp: 'yesterday' },
      { epoch: E, id: 1, timestamp: '2026-11-23T10:15:00' }, { epoch: E, id: 1, timestamp: 12345 }, { epoch: E, id: 1, topic: 5 }, [{ epoch: E, id: 1 }], 'null',
    ];
    for (const body of bad) {
      const r = await sendUplink(dev.apiKey, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect((await call('POST', devicePath(dev, '/uplinks'), { key: dev.apiKey })).status).toBe(400); // no body
    expect(cloud.uplinksOf('trk-1')).toEqual([]);
  });

  it('operator reads them ordered by epoch, then id', async () => {
    for (const id of [3, 1, 2]) await sendUplink(dev.apiKey, { epoch: E, id });
    await sendUplink(dev.apiKey, { epoch: E + 1, id: 1 });
    const r = await admin('GET', devicePath(dev, '/uplinks'));
    expect(r.status).toBe(200);
    expect(r.json.map((u: { epoch: number; id: number }) => [u.epoch - E, u.id])).toEqual([[0, 1], [0, 2], [0, 3], [1, 1]]);
  });
});

describe('backfill', () => {
  it('stores a batch and counts duplicates, within the batch too', async () => {
    await sendUplink(dev.apiKey, { epoch: E, id: 2 });
    const r = await sendBackfill(dev.apiKey, { uplinks: [{ epoch: E, id: 1 }, { epoch: E, id: 2 }, { epoch: E, id: 3, topic: 'position' }, { epoch: E, id: 3 }] });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ accepted: 2, duplicates: 2 });
    expect(cloud.uplinksOf('trk-1').map((u) => [u.id, u.topic])).toEqual([[1, 'default'], [2, 'default'], [3, 'position']]);
    expect(cloud.duplicatesOf('trk-1')).toBe(2);
    expect((await sendBackfill(dev.apiKey, { uplinks: [] })).json).toEqual({ accepted: 0, duplicates: 0 });
  });

  it('413 above 16384 bytes of body', async () => {
    const uplinks = Array.from({ length: 10 }, (_, i) => ({ epoch: E, id: i + 1, data: { pad: 'x'.repeat(1700) } }));
    const body = JSON.stringify({ uplinks });
    expect(body.length).toBeGreaterThan(16384);
    const r = await sendBackfill(dev.apiKey, body);
    expect(r.status).toBe(413);
    expectErrorObject(r.json, 413, devicePath(dev, '/uplinks/backfill'));
    expect(cloud.uplinksOf('trk-1')).toEqual([]);
    const fits = await sendBackfill(dev.apiKey, { uplinks: uplinks.slice(0, 5) });
    expect(fits.status).toBe(200);
  });

  it('413 for more entries than the device backfillBatchSize', async () => {
    cloud.updateDevice('trk-1', { settings: { ...FACTORY_TRACKER_SETTINGS, backfillBatchSize: 3 } });
    const four = [{ epoch: E, id: 1 }, { epoch: E, id: 2 }, { epoch: E, id: 3 }, { epoch: E, id: 4 }];
    expect((await sendBackfill(dev.apiKey, { uplinks: four })).status).toBe(413);
    expect((await sendBackfill(dev.apiKey, { uplinks: four.slice(0, 3) })).status).toBe(200);
    // Invalid settings on the cloud side: the factory limit (100) applies.
    cloud.updateDevice('trk-1', { settings: { backfillBatchSize: 'many' } });
    const many = Array.from({ length: 101 }, (_, i) => ({ epoch: E, id: 10 + i }));
    expect((await sendBackfill(dev.apiKey, { uplinks: many })).status).toBe(413);
    expect((await sendBackfill(dev.apiKey, { uplinks: many.slice(0, 100) })).status).toBe(200);
  });

  it('400 for the whole request when one entry is invalid; nothing stored', async () => {
    const r = await sendBackfill(dev.apiKey, { uplinks: [{ epoch: E, id: 1 }, { epoch: E, id: 'two' }, { epoch: E, id: 3 }] });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/uplinks\[1\]/);
    expect(cloud.uplinksOf('trk-1')).toEqual([]);
    for (const body of [{}, { uplinks: {} }, [], '{"uplinks":[']) {
      expect((await sendBackfill(dev.apiKey, body)).status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('operator devices', () => {
  it('creates a device with its secrets once, 409 on a repeat, generates an id when absent', async () => {
    const r = await admin('POST', `/api/${TENANT}/devices`, { deviceId: 'trk-9', name: 'Nine', type: 'tracker' });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ deviceId: 'trk-9', tenantId: TENANT, name: 'Nine', isEnabled: true, type: 'tracker', settings: FACTORY_TRACKER_SETTINGS });
    expect(r.json.apiKey).toMatch(/^[\x20-\x7e]{32,128}$/);
    expect(r.json.resetSecret).toMatch(/^[\x20-\x7e]{16,128}$/);
    expect((await connectDev(r.json.apiKey, undefined, r.json)).status).toBe(200);
    expect((await admin('POST', `/api/${TENANT}/devices`, { deviceId: 'trk-9' })).status).toBe(409);
    expect((await admin('POST', `/api/elsewhere/devices`, { deviceId: 'trk-9' })).status).toBe(409);
    const get = await admin('GET', `/api/${TENANT}/devices/trk-9`);
    expect(get.json.apiKey).toBeUndefined();
    expect(get.json.resetSecret).toBeUndefined();
    const generated = await admin('POST', `/api/${TENANT}/devices`);
    expect(generated.status).toBe(201);
    expect(generated.json.deviceId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('validates the create payload', async () => {
    for (const body of [{ deviceId: 'bad id' }, { deviceId: 'x'.repeat(65) }, { type: 'crewcheck' }, { isEnabled: 'yes' }, { name: 5 }]) {
      expect((await admin('POST', `/api/${TENANT}/devices`, body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await admin('POST', `/api/${TENANT}/devices`, '{"deviceId":')).status).toBe(400);
  });

  it('lists, reads, updates and deletes', async () => {
    cloud.createDevice({ tenantId: TENANT, deviceId: 'trk-2' });
    cloud.createDevice({ tenantId: 'other', deviceId: 'trk-3' });
    const list = await admin('GET', `/api/${TENANT}/devices`);
    expect(list.json.map((d: { deviceId: string }) => d.deviceId)).toEqual(['trk-1', 'trk-2']);
    const put = await admin('PUT', devicePath(dev, ''), { name: 'Renamed', description: null, isEnabled: false });
    expect(put.json).toMatchObject({ name: 'Renamed', description: null, isEnabled: false });
    expect((await admin('GET', devicePath(dev, ''))).json.name).toBe('Renamed');
    expect((await admin('PUT', devicePath(dev, ''), { isEnabled: 'no' })).status).toBe(400);
    expect((await admin('GET', `/api/other/devices/trk-1`)).status).toBe(404);
    expect((await admin('DELETE', devicePath(dev, ''))).status).toBe(204);
    expect((await admin('GET', devicePath(dev, ''))).status).toBe(404);
    expect((await admin('DELETE', devicePath(dev, ''))).status).toBe(404);
    expect(cloud.device('trk-1')).toBeUndefined();
  });

  it('takes the key as Bearer too; checks scopes, and :write implies :read', async () => {
    expect((await call('GET', `/api/${TENANT}/devices`, { bearer: cloud.adminKey })).status).toBe(200);
    expect((await call('GET', `/api/${TENANT}/devices`)).status).toBe(401);
    expect((await call('GET', `/api/${TENANT}/devices`, { bearer: 'sk_nonsense' })).status).toBe(401);
    const reader = cloud.createKey({ scopes: ['devices:read'] });
    expect((await call('GET', `/api/${TENANT}/devices`, { key: reader.secret })).status).toBe(200);
    const denied = await call('POST', `/api/${TENANT}/devices`, { key: reader.secret, body: {} });
    expect(denied.status).toBe(403);
    expectErrorObject(denied.json, 403, `/api/${TENANT}/devices`);
    expect((await call('GET', devicePath(dev, '/uplinks'), { key: reader.secret })).status).toBe(403);
    const writer = cloud.createKey({ scopes: ['devices:write', 'uplinks:write'] });
    expect((await call('GET', `/api/${TENANT}/devices`, { key: writer.secret })).status).toBe(200);
    expect((await call('GET', devicePath(dev, '/uplinks'), { key: writer.secret })).status).toBe(200);
  });

  it('refuses device keys on operator endpoints', async () => {
    expect((await call('GET', devicePath(dev, '/uplinks'), { key: dev.apiKey })).status).toBe(403);
    expect((await call('GET', devicePath(dev, ''), { key: dev.apiKey })).status).toBe(403);
  });
});

describe('operator keys', () => {
  it('creates a key whose secret is shown once and never listed', async () => {
    const created = await admin('POST', '/keys', { alias: 'My Key', ips: [], scopes: ['devices:read'], expires: '2027-01-01T00:00:00Z' });
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ alias: 'My Key', scopes: ['devices:read'], expires: '2027-01-01T00:00:00Z', created: '2026-11-23T10:15:00Z' });
    expect(typeof created.json.secret).toBe('string');
    expect((await call('GET', `/api/${TENANT}/devices`, { key: created.json.secret })).status).toBe(200);
    const list = await admin('GET', '/keys');
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(created.json.secret);
    expect(list.text).not.toContain(cloud.adminKey);
    expect(list.text).not.toContain(dev.apiKey);
    const mine = list.json.find((k: { key: string }) => k.key === created.json.key);
    expect(mine).toEqual({ key: created.json.key, alias: 'My Key', ips: [], scopes: ['devices:read'], created: '2026-11-23T10:15:00Z', expires: '2027-01-01T00:00:00Z' });
    const deviceKey = list.json.find((k: { deviceId?: string; scopes: string[] }) => k.deviceId === 'trk-1' && k.scopes.includes('devices:connect'));
    expect(deviceKey).toBeDefined();
  });

  it('pages with offset and limit 1-64; out of range → 400', async () => {
    for (let i = 0; i < 70; i++) cloud.createKey({ alias: `k${i}`, scopes: [] });
    const total = 73; // admin, trk-1 apiKey and resetSecret, 70 more
    expect((await admin('GET', '/keys')).json).toHaveLength(64);
    expect((await admin('GET', '/keys?offset=64')).json).toHaveLength(total - 64);
    const page = await admin('GET', '/keys?offset=3&limit=2');
    expect(page.json.map((k: { alias: string }) => k.alias)).toEqual(['k0', 'k1']);
    for (const q of ['limit=0', 'limit=65', 'limit=abc', 'limit=', 'offset=-1', 'limit=1.5']) {
      const r = await admin('GET', `/keys?${q}`);
      expect(r.status, q).toBe(400);
      expectErrorObject(r.json, 400, '/keys');
    }
  });

  it('PATCH changes alias and ips only; DELETE revokes', async () => {
    const k = cloud.createKey({ alias: 'old', scopes: ['keys:read'] });
    const patched = await admin('PATCH', `/keys/${k.publicKey}`, { alias: 'new', ips: ['10.0.0.1'] });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ key: k.publicKey, alias: 'new', ips: ['10.0.0.1'] });
    expect((await admin('PATCH', `/keys/${k.publicKey}`, { scopes: ['keys:write'] })).status).toBe(400);
    expect((await admin('PATCH', `/keys/${k.publicKey}`, { ips: ['not-an-ip'] })).status).toBe(400);
    const del = await admin('DELETE', `/keys/${k.publicKey}`);
    expect(del.status).toBe(200);
    expect(del.json).toEqual({ revoked: true });
    expect((await admin('DELETE', `/keys/${k.publicKey}`)).status).toBe(404);
    expect((await admin('PATCH', `/keys/pk_doesnotexist`, { alias: 'x' })).status).toBe(404);
    expect((await call('GET', '/keys', { key: k.secret })).status).toBe(401);
  });

  it('an address outside the ips list → 403; an expired key → 401', async () => {
    const far = cloud.createKey({ scopes: ['keys:read'], ips: ['10.1.2.3'] });
    const near = cloud.createKey({ scopes: ['keys:read'], ips: ['127.0.0.1'] });
    expect((await call('GET', '/keys', { key: far.secret })).status).toBe(403);
    expect((await call('GET', '/keys', { key: near.secret })).status).toBe(200);
    const created = await admin('POST', '/keys', { scopes: ['keys:read'], expires: '2026-11-23T10:20:00Z' });
    expect((await call('GET', '/keys', { key: created.json.secret })).status).toBe(200);
    clock = Date.UTC(2026, 10, 23, 10, 20, 0);
    expect((await call('GET', '/keys', { key: created.json.secret })).status).toBe(401);
  });

  it('a key cannot grant scopes it lacks; bad payloads → 400', async () => {
    const keyAdmin = cloud.createKey({ scopes: ['keys:write'] });
    expect((await call('POST', '/keys', { key: keyAdmin.secret, body: { scopes: ['keys:read'] } })).status).toBe(200);
    expect((await call('POST', '/keys', { key: keyAdmin.secret, body: { scopes: ['devices:write'] } })).status).toBe(403);
    for (const body of [{ scopes: ['root'] }, { scopes: 'keys:read' }, { ips: 'any' }, { expires: 'soon' }, { alias: 3 }, '{']) {
      expect((await admin('POST', '/keys', body)).status, JSON.stringify(body)).toBe(400);
    }
  });

  it('revoking a device apiKey through the API makes the device reset', async () => {
    const list = (await admin('GET', '/keys')).json;
    const apiKeyEntry = list.find((k: { deviceId?: string; scopes: string[] }) => k.deviceId === 'trk-1' && k.scopes.includes('uplinks:write'));
    expect((await admin('DELETE', `/keys/${apiKeyEntry.key}`)).status).toBe(200);
    expect((await connectDev(dev.apiKey)).status).toBe(401);
    expect((await resetDev(dev.resetSecret)).status).toBe(200);
  });
});

describe('faults', () => {
  it('status with Retry-After in seconds and as a date; default body is the error object', async () => {
    cloud.faults = composeFaults(
      faultWhen((c) => c.endpoint === 'connect', { kind: 'status', status: 503, retryAfter: { seconds: 7 } }, 1),
      faultWhen((c) => c.endpoint === 'connect', { kind: 'status', status: 429, retryAfter: { date: START + 90_000 } }, 1),
    );
    const first = await connectDev(dev.apiKey);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('7');
    expectErrorObject(first.json, 503, devicePath(dev, '/connect'));
    const second = await connectDev(dev.apiKey);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('Mon, 23 Nov 2026 10:16:30 GMT');
    expect(second.headers.get('date')).toMatch(IMF_FIXDATE);
    expect((await connectDev(dev.apiKey)).status).toBe(200);
    expect(cloud.requests.map((r) => [r.status, r.retryAfterS, r.fault])).toEqual([
      [503, 7, 'status'],
      [429, 90, 'status'],
      [200, undefined, undefined],
    ]);
    // Not handled: the connect body of faulted requests is not recorded.
    expect(cloud.connectsOf('trk-1')).toBe(1);
  });

  it('the request log lets a test check that no retry came before Retry-After', async () => {
    cloud.faults = faultWhen((c) => c.endpoint === 'uplink', { kind: 'status', status: 503, retryAfter: { seconds: 30 } }, 1);
    await sendUplink(dev.apiKey, { epoch: E, id: 1 });
    clock += 30_000;
    await sendUplink(dev.apiKey, { epoch: E, id: 1 });
    const [refused, retried] = cloud.requests;
    expect(retried.t - refused.t).toBeGreaterThanOrEqual(refused.retryAfterS! * 1000);
    expect(retried.status).toBe(201);
  });

  it('body: raw truncated, empty or non-JSON bodies', async () => {
    cloud.faults = faultWhen(() => true, { kind: 'body', body: '{"settings":{"type":"trac' }, 1);
    const truncated = await connectDev(dev.apiKey);
    expect(truncated.status).toBe(200);
    expect(truncated.text).toBe('{"settings":{"type":"trac');
    cloud.faults = faultWhen(() => true, { kind: 'body', status: 502, body: '<html>Bad Gateway</html>', headers: { 'Content-Type': 'text/html' } }, 1);
    const html = await connectDev(dev.apiKey);
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(html.text).toBe('<html>Bad Gateway</html>');
    cloud.faults = faultWhen(() => true, { kind: 'body', status: 500, body: new Uint8Array(0) }, 1);
    const empty = await connectDev(dev.apiKey);
    expect(empty.status).toBe(500);
    expect(empty.text).toBe('');
    expect(cloud.requests.map((r) => r.bytesOut)).toEqual([25, 24, 0]);
  });

  it('drop: the socket closes without an answer; the server goes on serving', async () => {
    cloud.faults = faultWhen((c) => c.endpoint === 'uplink', { kind: 'drop' }, 1);
    await expect(sendUplink(dev.apiKey, { epoch: E, id: 1 })).rejects.toThrow();
    expect(cloud.uplinksOf('trk-1')).toEqual([]);
    expect(cloud.requests[0]).toMatchObject({ endpoint: 'uplink', status: 0, fault: 'drop' });
    expect((await sendUplink(dev.apiKey, { epoch: E, id: 1 })).status).toBe(201);
  });

  it('drop after handling: stored, answer lost, the retry is answered as a duplicate', async () => {
    cloud.faults = faultWhen((c) => c.endpoint === 'uplink', { kind: 'drop', afterHandling: true }, 1);
    await expect(sendUplink(dev.apiKey, { epoch: E, id: 7 })).rejects.toThrow();
    expect(cloud.uplinksOf('trk-1').map((u) => u.id)).toEqual([7]);
    expect(cloud.requests[0]).toMatchObject({ status: 0, handledStatus: 201, fault: 'drop' });
    expect((await sendUplink(dev.apiKey, { epoch: E, id: 7 })).json).toEqual({ accepted: 0, duplicates: 1 });
  });

  it('reset answer lost after handling: the old key is already revoked', async () => {
    cloud.faults = faultWhen((c) => c.endpoint === 'reset', { kind: 'body', body: '{"deviceId":"trk-1","tena', afterHandling: true }, 1);
    expect((await resetDev(dev.resetSecret)).text).toBe('{"deviceId":"trk-1","tena');
    expect((await connectDev(dev.apiKey)).status).toBe(401);
    const again = await resetDev(dev.resetSecret);
    expect((await connectDev(again.json.apiKey)).status).toBe(200);
  });

  it('hang: the request stays unanswered until the client gives up', async () => {
    cloud.faults = faultWhen((c) => c.endpoint === 'connect', { kind: 'hang' }, 1);
    const started = Date.now();
    const err = await call('POST', devicePath(dev, '/connect'), { key: dev.apiKey, signal: AbortSignal.timeout(300) }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(cloud.requests[0]).toMatchObject({ status: 0, fault: 'hang' });
    expect((await connectDev(dev.apiKey)).status).toBe(200);
  });

  it('delay: answers after the delay, handled on arrival', async () => {
    cloud.faults = faultWhen((c) => c.endpoint === 'uplink', { kind: 'delay', ms: 250 }, 1);
    const started = Date.now();
    const r = await sendUplink(dev.apiKey, { epoch: E, id: 1 });
    expect(r.status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(cloud.requests[0]).toMatchObject({ status: 201, fault: 'delay' });
  });

  it('delay then another action', async () => {
    cloud.faults = faultWhen(() => true, { kind: 'delay', ms: 150, then: { kind: 'status', status: 504 } }, 1);
    const started = Date.now();
    expect((await connectDev(dev.apiKey)).status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(cloud.requests[0].fault).toBe('delay+status');
  });

  it('in process: drop → ECONNRESET, hang → ETIMEDOUT, delay answers at once', async () => {
    const local = new FakeCloud({ now: () => START });
    const d = local.createDevice({ deviceId: 'p1' });
    const req = { method: 'POST', path: `/api/default/devices/p1/connect`, headers: { 'x-api-key': d.apiKey }, body: new Uint8Array() };
    local.faults = faultWhen(() => true, { kind: 'drop' }, 1);
    await expect(local.handle(req)).rejects.toMatchObject({ code: 'ECONNRESET' });
    local.faults = faultWhen(() => true, { kind: 'hang' }, 1);
    await expect(local.handle(req)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    local.faults = faultWhen(() => true, { kind: 'delay', ms: 60_000 }, 1);
    expect((await local.handle(req)).status).toBe(200);
    expect(local.requests.map((r) => r.fault)).toEqual(['drop', 'hang', 'delay']);
  });

  it('composeFaults returns the first action; faultWhen counts down; a throwing hook → 500', async () => {
    const seen: string[] = [];
    const spy: FaultHook = (c) => {
      seen.push(c.endpoint);
      return null;
    };
    cloud.faults = composeFaults(spy, undefined, faultWhen(() => true, { kind: 'status', status: 500 }, 2), () => ({ kind: 'status', status: 418 }));
    expect((await connectDev(dev.apiKey)).status).toBe(500);
    expect((await connectDev(dev.apiKey)).status).toBe(500);
    expect((await connectDev(dev.apiKey)).status).toBe(418);
    expect(seen).toEqual(['connect', 'connect', 'connect']);
    cloud.faults = () => {
      throw new Error('oops');
    };
    const r = await connectDev(dev.apiKey);
    expect(r.status).toBe(500);
    expect(r.json.message).toMatch(/oops/);
  });

  it('hook sees endpoint, deviceId, tenantId and now', async () => {
    const contexts: unknown[] = [];
    cloud.faults = (c) => {
      contexts.push({ endpoint: c.endpoint, deviceId: c.deviceId, tenantId: c.tenantId, now: c.now, method: c.req.method });
      return null;
    };
    await sendBackfill(dev.apiKey, { uplinks: [] });
    await admin('GET', '/keys');
    expect(contexts).toEqual([
      { endpoint: 'backfill', deviceId: 'trk-1', tenantId: TENANT, now: START, method: 'POST' },
      { endpoint: 'operator', deviceId: undefined, tenantId: undefined, now: START, method: 'GET' },
    ]);
  });
});

describe('request log and stats', () => {
  it('logs every request with endpoint, device, status and body bytes', async () => {
    const body = { epoch: E, id: 1, data: { battery: 87 } };
    await connectDev(dev.apiKey);
    clock += 1000;
    await sendUplink(dev.apiKey, body);
    await sendUplink(dev.apiKey, body);
    await resetDev(dev.resetSecret);
    await admin('GET', '/keys');
    await call('GET', '/elsewhere');
    expect(cloud.requests.map((r) => [r.t - START, r.method, r.endpoint, r.deviceId, r.status])).toEqual([
      [0, 'POST', 'connect', 'trk-1', 200],
      [1000, 'POST', 'uplink', 'trk-1', 201],
      [1000, 'POST', 'uplink', 'trk-1', 200],
      [1000, 'POST', 'reset', 'trk-1', 200],
      [1000, 'GET', 'operator', undefined, 200],
      [1000, 'GET', 'unknown', undefined, 404],
    ]);
    expect(cloud.requests[1].bytesIn).toBe(JSON.stringify(body).length);
    expect(cloud.requests[1].bytesOut).toBe('{"accepted":1,"duplicates":0}'.length);
    const stats = cloud.stats();
    expect(stats.requests).toBe(6);
    expect(stats.byEndpoint).toEqual({ connect: 1, uplink: 2, reset: 1, operator: 1, unknown: 1 });
    expect(stats.byStatus).toEqual({ 200: 4, 201: 1, 404: 1 });
    expect(stats.byEndpointStatus.uplink).toEqual({ 201: 1, 200: 1 });
    expect(stats.bytesIn).toBe(cloud.requests.reduce((n, r) => n + r.bytesIn, 0));
    expect(stats.bytesOut).toBe(cloud.requests.reduce((n, r) => n + r.bytesOut, 0));
    expect(stats.faults).toBe(0);
  });
});

describe('server', () => {
  it('keeps connections alive', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const once = () =>
      new Promise<{ status: number; reused: boolean; port: number }>((resolve, reject) => {
        const req = httpRequest(server.url + devicePath(dev, '/connect'), { method: 'POST', agent, headers: { 'x-api-key': dev.apiKey } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket, port: req.socket!.localPort! }));
        });
        req.on('error', reject);
        req.end();
      });
    const a = await once();
    const b = await once();
    agent.destroy();
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.reused).toBe(true);
    expect(b.port).toBe(a.port);
  });

  it('survives garbage on the wire and oversized bodies', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(Number(new URL(server.url).port), '127.0.0.1');
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      socket.write('\x00\x01GARBAGE /// HTTP/9\r\n\r\n');
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    const big = new Uint8Array(2 * 1024 * 1024).fill(0x20);
    const r = await call('POST', devicePath(dev, '/uplinks'), { key: dev.apiKey, body: big });
    expect(r.status).toBe(413);
    expect((await connectDev(dev.apiKey)).status).toBe(200);
  });

  it('sets baseUrl only when unset, and close() ends idle and hanging connections', async () => {
    expect(cloud.baseUrl).toBe(server.url);
    const preset = new FakeCloud({ baseUrl: 'https://cloud.example.com' });
    const second = await startCloudServer(preset);
    expect(preset.baseUrl).toBe('https://cloud.example.com');
    preset.faults = () => ({ kind: 'hang' });
    const pending = fetch(second.url + '/keys', { headers: { 'x-api-key': preset.adminKey } }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await second.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
  });
});
