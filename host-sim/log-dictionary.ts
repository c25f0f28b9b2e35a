// The Node side of the log dictionary (issue 11, phase 2): the module logs a message id and an
// argument record (assembly/logger.ts; encoding in assembly/ABI.md, "log"); this turns them back
// into the line of text a person reads, from the dictionary the build writes beside the module
// (build/log-dictionary.json, tools/log-dictionary/). boards/common/log_expand.c is the same
// for the boards: both must print the same line.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ARG } from './abi-constants.ts';

/** The dictionary of the module in build/ (ids are hashes of the text: any build of the same sources agrees). */
export const DEFAULT_LOG_DICTIONARY = fileURLToPath(new URL('../build/log-dictionary.json', import.meta.url));

export type LogDictionary = ReadonlyMap<number, string>;


const loaded = new Map<string, LogDictionary>();

/** id -> format. A dictionary that is missing or unreadable is empty: every line then prints as a code. */
export function loadLogDictionary(file = DEFAULT_LOG_DICTIONARY): LogDictionary {
  let d = loaded.get(file);
  if (d) return d;
  const m = new Map<number, string>();
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { messages?: Record<string, { format?: unknown }> };
    for (const [id, v] of Object.entries(json.messages ?? {})) {
      if (typeof v?.format === 'string' && /^0x[0-9a-f]{8}$/.test(id)) m.set(Number(id), v.format);
    }
  } catch { /* no dictionary: codes */ }
  d = m;
  loaded.set(file, d);
  return d;
}

/** An f64 as AssemblyScript's toString writes it: an integral value keeps its ".0". */
function f64Text(v: number): string {
  return Number.isInteger(v) && Math.abs(v) < 1e21 ? `${Object.is(v, -0) ? '-0' : v}.0` : String(v);
}

/** One argument: its text, and whether it was a string (quoted when the id is unknown). */
export interface LogArg { text: string; str: boolean }
interface Decoded { values: LogArg[]; ok: boolean }

/** The argument record, as far as it reads; ok is false when it ends inside an argument or holds an unknown tag. */
export function decodeLogArgs(b: Uint8Array): Decoded {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const values: Decoded['values'] = [];
  const need = (at: number, n: number) => at + n <= b.length;
  let at = 0;
  while (at < b.length) {
    const tag = b[at++];
    const num = (x: number | bigint | boolean) => values.push({ text: String(x), str: false });
    if (tag === ARG.i32 && need(at, 4)) { num(v.getInt32(at, true)); at += 4; }
    else if (tag === ARG.u32 && need(at, 4)) { num(v.getUint32(at, true)); at += 4; }
    else if (tag === ARG.i64 && need(at, 8)) { num(v.getBigInt64(at, true)); at += 8; }
    else if (tag === ARG.u64 && need(at, 8)) { num(v.getBigUint64(at, true)); at += 8; }
    else if (tag === ARG.f64 && need(at, 8)) { values.push({ text: f64Text(v.getFloat64(at, true)), str: false }); at += 8; }
    else if (tag === ARG.bool && need(at, 1)) { num(b[at] !== 0); at += 1; }
    else if (tag === ARG.str && need(at, 2) && need(at + 2, v.getUint16(at, true))) {
      const n = v.getUint16(at, true);
      values.push({ text: new TextDecoder().decode(b.subarray(at + 2, at + 2 + n)), str: true });
      at += 2 + n;
    } else if (tag === ARG.null) values.push({ text: 'null', str: false });
    else return { values, ok: false };
  }
  return { values, ok: true };
}

// Quoted as the C glue quotes: between two '"', nothing escaped (the line is for a person).
const raw = (x: LogArg) => (x.str ? `"${x.text}"` : x.text);

/**
 * The line of message id with argument record b. A known id fills its `{}` in order (one with
 * no argument left stays `{}`); an unknown id prints as `log #<8 hex digits>` and its arguments,
 * `[1, "text"]` (strings between quotes, unescaped). A record that does not read ends the line with `<bad args>`. Never throws.
 */
export function expandLog(dict: LogDictionary, id: number, b: Uint8Array): string {
  const { values, ok } = decodeLogArgs(b);
  const format = dict.get(id >>> 0);
  let line: string;
  if (format === undefined) {
    line = `log #${(id >>> 0).toString(16).padStart(8, '0')}`;
    if (values.length > 0) line += ` [${values.map(raw).join(', ')}]`;
  } else {
    let i = 0;
    line = format.replace(/\{\}/g, () => (i < values.length ? values[i++].text : '{}'));
  }
  return ok ? line : `${line} <bad args>`;
}
