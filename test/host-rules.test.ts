// The ABI's host rules (assembly/ABI.md "Import status", on_http_response, the key limit) on the
// Node device host, with the glue's hostile probe module (boards/common/test/probe.wat): the same
// cases boards/common/test/glue_test.c runs on the C glue, with the same expected codes.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import binaryen from 'binaryen';
import { ABI_VERSION, IMPORT_STATUS as IMPORT } from '../host-sim/abi-constants.ts';
import { simDevice } from '../host-sim/sim-device.ts';
import { headerBlock, isKey } from '../host-sim/device-host.ts';
import { FixedPoint } from '../host-sim/hal/gnss.ts';
import { Rng } from '../host-sim/hal/random.ts';
import type { HttpRequest, HttpResult, HttpTransport } from '../host-sim/hal/http.ts';

const PROBE = path.resolve(import.meta.dirname, '../boards/common/test/probe.wat');

function probeModule(): WebAssembly.Module {
  const text = fs.readFileSync(PROBE, 'utf8').replaceAll('ABI_VERSION', String(ABI_VERSION)).replaceAll('EXTRA_IMPORT', '');
  const m = binaryen.parseText(text);
  try {
    return new WebAssembly.Module(Uint8Array.from(m.emitBinary()));
  } finally {
    m.dispose();
  }
}

const LONG = 'r'.repeat(3000);

/** Answers every request at once with a 404, a Date and a Retry-After too long for half the buffer. */
class Answering implements HttpTransport {
  seen: HttpRequest[] = [];
  readonly connectionsOpened = 0;
  close(): void {}
  requestSync(req: HttpRequest): HttpResult {
    this.seen.push(req);
    return { status: 404, headers: { date: 'Mon, 07 Dec 2026 10:00:00 GMT', 'retry-after': LONG }, body: new TextEncoder().encode('{}'), virtualMs: 0 };
  }
  request(req: HttpRequest): Promise<HttpResult> { return Promise.resolve(this.requestSync(req)); }
}

function probeDevice() {
  const http = new Answering();
  const rng = new Rng(1);
  const device = simDevice({
    module: probeModule(), http, rng,
    flash: { sectorSize: 4096, sectorCount: 64, progSize: 4 },
    gnss: { route: new FixedPoint(0, 0) },
    board: {},
  });
  return { device, http };
}

describe('host rules on the Node device host (probe module)', () => {
  it('answers each fault with the ABI code the C glue gives', () => {
    const { device } = probeDevice();
    expect(device.boot(0)).toBe(0);
    const expected: Array<[number, number, string]> = [
      [0, IMPORT.badPointer, 'kv_get key past the end'],
      [1, IMPORT.badPointer, 'kv_get key at 2^31'],
      [2, IMPORT.badPointer, 'kv_set negative length'],
      [3, IMPORT.badPointer, 'kv_get buffer past the end'],
      [4, IMPORT.badPointer, 'http_request url past the end'],
      [5, IMPORT.badPointer, 'flash_read buffer past the end'],
      [6, IMPORT.outOfRange, 'flash_read past the partition'],
      [7, IMPORT.misaligned, 'flash_program misaligned'],
      [8, IMPORT.ok, 'kv_set ok'],
      [9, 1, 'kv_get ok'],
      [10, IMPORT.badKey, 'kv_get bad key'],
      [11, 'v'.charCodeAt(0), 'kv_get value'],
      [12, IMPORT.badKey, 'kv_get key of 16 bytes'],
      [13, IMPORT.ok, 'kv_set key of 15 bytes'],
      [14, IMPORT.ok, 'http_request'],
      [15, IMPORT.busy, 'http_request while one is in flight'],
      [16, IMPORT.invalid, 'http_request method 5'],
      [17, IMPORT.ok, 'flash_program aligned'],
    ];
    expect(expected.map(([i, , what]) => [what, device.stat(i)])).toEqual(expected.map(([, want, what]) => [what, want]));
  });

  it('keeps the request in flight when a second is refused, and drops a header line past half the buffer', () => {
    const { device, http } = probeDevice();
    device.boot(0);
    expect(http.seen.length).toBe(1); // the refused second never reached the transport
    expect(device.http?.reqId).toBe(2);
    device.deliverHttp(1);
    const dateLine = 'date: Mon, 07 Dec 2026 10:00:00 GMT\n';
    expect([device.stat(21), device.stat(18), device.stat(19), device.stat(20)]).toEqual([404, dateLine.length, 2, 0]);
  });
});

describe('host rules: the pieces', () => {
  it('headers: a line past half the buffer is dropped whole, a later one that fits is kept (as glue_test.c)', () => {
    expect(headerBlock({ date: 'x'.repeat(10), 'retry-after': 'y'.repeat(20) }, 80)).toBe('date: xxxxxxxxxx\n');
    expect(headerBlock({ date: 'x'.repeat(40), 'retry-after': '30' }, 80)).toBe('retry-after: 30\n');
    expect(headerBlock({ date: 'd', 'retry-after': '30' }, 4096)).toBe('date: d\nretry-after: 30\n');
  });

  it('keys: 1 to 15 bytes of A-Z a-z 0-9 _ . -', () => {
    const k = (s: string) => isKey(new TextEncoder().encode(s));
    expect([k('resetSecret'), k('a'.repeat(15)), k('a_b.c-D9')]).toEqual([true, true, true]);
    expect([k(''), k('a'.repeat(16)), k('a/b'), k('é')]).toEqual([false, false, false, false]);
  });
});
