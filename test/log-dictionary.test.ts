// The log dictionary (issue 11, phase 2): the module logs ids and arguments, the hosts print the
// text. Module lines must read exactly as they did when the module logged text (the lines below
// were printed by the text-logging module, ABI 1, for the same scenarios); an id no dictionary
// knows prints as a code, a bad record never as garbage; the build refuses what it cannot put
// in the dictionary.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import asc from 'assemblyscript/asc';
import { describe, expect, it } from 'vitest';
import { BareDevice } from './helpers/bare.ts';
import { MemoryKv } from '../host-sim/hal/kv.ts';
import { DEFAULT_LOG_DICTIONARY, expandLog, loadLogDictionary } from '../host-sim/log-dictionary.ts';
import { messageId } from '../tools/log-dictionary/dictionary.js';
import { mergeDataSegments } from '../tools/merge-data-segments.js';

const TRANSFORM = path.resolve('tools/log-dictionary/transform.js');
const dict = loadLogDictionary();
const enc = new TextEncoder();

/** An argument record as assembly/logger.ts writes it (ABI.md "log"). */
function record(...args: Array<['i32' | 'u32' | 'i64' | 'f64' | 'bool', number] | string | null>): Uint8Array {
  const out: number[] = [];
  const v = new DataView(new ArrayBuffer(8));
  for (const a of args) {
    if (a === null) out.push(8);
    else if (typeof a === 'string') { const b = enc.encode(a); out.push(7, b.length & 0xff, b.length >> 8, ...b); }
    else if (a[0] === 'i32' || a[0] === 'u32') { v.setInt32(0, a[1], true); out.push(a[0] === 'i32' ? 1 : 2, ...new Uint8Array(v.buffer, 0, 4)); }
    else if (a[0] === 'i64') { v.setBigInt64(0, BigInt(a[1]), true); out.push(3, ...new Uint8Array(v.buffer, 0, 8)); }
    else if (a[0] === 'f64') { v.setFloat64(0, a[1], true); out.push(5, ...new Uint8Array(v.buffer, 0, 8)); }
    else out.push(6, a[1] ? 1 : 0);
  }
  return Uint8Array.from(out);
}

describe('log dictionary', () => {
  it('is written by the build, and every id is the hash of its text', () => {
    expect(fs.existsSync(DEFAULT_LOG_DICTIONARY)).toBe(true);
    expect(dict.size).toBeGreaterThan(30);
    for (const [id, format] of dict) expect(messageId(format), format).toBe(id);
    expect(fs.readFileSync('build/log_dictionary.c', 'utf8').match(/^ {4}\{ 0x[0-9a-f]{8}u, /gm)?.length).toBe(dict.size);
  });

  it('module lines read as the text-logging module printed them', () => {
    const run = (kv: MemoryKv | undefined, cfg: string, geometry?: { sectorSize: number; sectorCount: number; progSize: number }) => {
      const d = new BareDevice(kv);
      d.start(cfg, 0, geometry);
      return d;
    };
    expect(run(undefined, 'allow_host=cloud.example.com').lines).toEqual(
      [expect.stringMatching(/^2 started: device trk-1, epoch \d+ boot 1, 0 uplinks buffered, next id 1$/)]);
    expect(run(new MemoryKv(), '').lines).toEqual(["0 identity: tenantId missing: provision the device's key-value store and restart"]);
    expect(run(undefined, 'nonsense').lines).toEqual(['0 board config line 1 is not key=value: fix the board configuration']);
    expect(run(undefined, 'colour=red').lines).toEqual(["0 board config: unknown key 'colour': fix the board configuration"]);
    expect(run(undefined, '', { sectorSize: 100, sectorCount: 1, progSize: 3 }).lines).toEqual(
      ["0 flash geometry unusable (sector 100 B x 1, program unit 3 B): fix the board's partition"]);

    const d = run(undefined, 'allow_host=cloud.example.com');
    const answers: Array<[number, string, string]> = [
      [503, '', 'retry-after: 30\n'], [-1, '', ''], [-2, '', ''], [403, '{}', ''],
      [200, '{"settings":{"uplinkIntervalS":"x"}}', 'date: Mon, 07 Dec 2026 10:00:00 GMT\n'], [200, '{"settings":{},"keyExpires":"bad"}', ''],
    ];
    let now = 0;
    for (const [status, body, headers] of answers) {
      for (let i = 0; i < 50 && !d.request; i++) now = Math.max(now + 1000, d.step(now));
      d.answer(now, status, enc.encode(body), headers);
      now += 1;
    }
    expect(d.lines.slice(1)).toEqual([
      '1 connect: HTTP 503; retry 1 in 30 s',
      '1 connect: timeout; retry 2 in 3 s',
      '1 connect: connection refused; retry 3 in 1 s',
      '1 connect: HTTP 403 (key lacks scope or device disabled); retry 4 in 1299 s',
      '1 settings rejected, last good kept: type: missing',
      '1 connect: keyExpires ignored: unreadable',
      '1 settings rejected, last good kept: type: missing',
    ]);
  });

  it('fills each type as AssemblyScript\'s toString writes it, and a trap line names its place', () => {
    const trap = messageId('trap: {} at {}:{}:{}');
    expect(expandLog(dict, trap, record('Index out of range', '~lib/array.ts', ['u32', 106], ['u32', 42]))).toBe('trap: Index out of range at ~lib/array.ts:106:42');
    const fmt = new Map([[7, '{} {} {} {} {} {} {}']]);
    expect(expandLog(fmt, 7, record(['i32', -5], ['u32', 0xffffffff], ['i64', -9], ['f64', 2], ['f64', 0.1], ['bool', 1], null))).toBe('-5 4294967295 -9 2.0 0.1 true null');
    expect(expandLog(fmt, 7, record('ünïcode ✓'))).toBe('ünïcode ✓ {} {} {} {} {} {}');
  });

  it('prints an unknown id as a code with its raw arguments, and a bad record never as garbage', () => {
    expect(expandLog(dict, 0xdeadbeef, new Uint8Array(0))).toBe('log #deadbeef');
    expect(expandLog(dict, 0x00c0ffee, record(['i32', 503], 'HTTP'))).toBe('log #00c0ffee [503, "HTTP"]');
    expect(expandLog(new Map(), messageId('settings updated'), new Uint8Array(0))).toBe(`log #${messageId('settings updated').toString(16).padStart(8, '0')}`);
    expect(expandLog(dict, 0xdeadbeef, Uint8Array.of(1, 2, 3))).toBe('log #deadbeef <bad args>');
    expect(expandLog(dict, messageId('HTTP: no answer to request {}; timed out'), Uint8Array.of(99))).toBe('HTTP: no answer to request {}; timed out <bad args>');
    expect(expandLog(dict, 0xdeadbeef, Uint8Array.of(7, 200, 0, 65))).toBe('log #deadbeef <bad args>');
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from({ length: i % 40 }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
      expect(typeof expandLog(dict, seed, b)).toBe('string');
    }
  });
});

describe('log dictionary: the build refuses', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-dictionary-'));
  const logger = path.resolve('assembly/logger.ts').replace(/\.ts$/, '');
  async function compile(body: string): Promise<string> {
    const src = path.join(dir, `case${Math.random().toString(36).slice(2)}.ts`);
    fs.writeFileSync(src, `import { logWarn } from ${JSON.stringify(path.relative(dir, logger))};\nexport function f(n: i32): void { ${body} }\n`);
    let out = '';
    const sink = { write(c: string | Uint8Array) { out += typeof c === 'string' ? c : new TextDecoder().decode(c); return true; } };
    const { error } = await asc.main([src, '--transform', TRANSFORM, '--runtime', 'stub', '--noEmit', '--baseDir', dir], { stdout: sink, stderr: sink });
    return error ? `${error.message}\n${out}` : '';
  }

  it('a call it can rewrite builds', async () => {
    expect(await compile('logWarn("n is {}", n);')).toBe('');
  });

  it('a text that is not a literal, and a count of {} that is not the count of arguments', async () => {
    expect(await compile('const t = "x"; logWarn(t);')).toMatch(/logWarn takes a string literal first/);
    expect(await compile('logWarn("n is {} and {}", n);')).toMatch(/has 2 \{\} for 1 arguments/);
  });

  it('a call under another name, which the transform cannot see', async () => {
    expect(await compile('const w = logWarn; w("n");')).toMatch(/did not rewrite/);
  });

  it('two texts with one id', async () => {
    const seen = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair; i++) {
      const t = `m${i}`;
      const id = messageId(t);
      const other = seen.get(id);
      if (other !== undefined) pair = [other, t];
      seen.set(id, t);
    }
    expect(await compile(`logWarn(${JSON.stringify(pair[0])}); logWarn(${JSON.stringify(pair[1])});`)).toMatch(/is also that of/);
  }, 30_000);
});

describe('merged data segments', () => {
  it('leave the module\'s memory as the unmerged segments wrote it', () => {
    const debug = new Uint8Array(fs.readFileSync('build/trackagent.debug.wasm'));
    const m = mergeDataSegments(debug);
    expect(m.after).toBeLessThan(m.before);
    const memoryOf = (bytes: Uint8Array<ArrayBuffer>) => {
      const mod = new WebAssembly.Module(bytes);
      const host = Object.fromEntries(WebAssembly.Module.imports(mod).map((i) => [i.name, () => 0]));
      const inst = new WebAssembly.Instance(mod, { host });
      return new Uint8Array((inst.exports.memory as WebAssembly.Memory).buffer).slice();
    };
    expect(memoryOf(m.bytes)).toEqual(memoryOf(debug));
  });
});
