// A reference JSON reader for the property tests, written independently of the module's scan:
// strict RFC 8259 over UTF-8 bytes, reporting what the module's documented limits care about
// (nesting depth, members per object, duplicate names) besides the value itself.

/** A number as written: exactness is decided on its digits (exactInteger), never through a float. */
export class RawNumber {
  constructor(readonly token: string) {}
}

export interface OracleResult {
  ok: boolean;
  value?: unknown;
  maxDepth: number;
  /** Largest member count and whether any object had a duplicate name, per nesting level 1 (root) and 2. */
  rootMembers: number;
  rootDuplicate: boolean;
  objects: { depth: number; members: number; duplicate: boolean; longestName: number; value: Record<string, unknown> }[];
}

export function readJson(bytes: Uint8Array): OracleResult {
  const res: OracleResult = { ok: false, maxDepth: 0, rootMembers: 0, rootDuplicate: false, objects: [] };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return res;
  }
  let p = 0;
  const ws = () => { while (p < text.length && ' \t\n\r'.includes(text[p])) p++; };
  const fail = (): never => { throw new Error('bad'); };
  const str = (): string => {
    if (text[p] !== '"') fail();
    p++;
    let out = '';
    for (;;) {
      if (p >= text.length) fail();
      const c = text[p];
      const code = c.charCodeAt(0);
      if (c === '"') { p++; return out; }
      if (code < 0x20) fail();
      if (c === '\\') {
        const e = text[p + 1];
        const map: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e === 'u') {
          const hex = text.slice(p + 2, p + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail();
          out += String.fromCharCode(parseInt(hex, 16));
          p += 6;
        } else if (e !== undefined && e in map) {
          out += map[e];
          p += 2;
        } else fail();
        continue;
      }
      out += c;
      p++;
    }
  };
  const num = (): RawNumber => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(p));
    if (!m) fail();
    p += m![0].length;
    return new RawNumber(m![0]);
  };
  const value = (depth: number): unknown => {
    res.maxDepth = Math.max(res.maxDepth, depth);
    ws();
    const c = text[p];
    if (c === '{') {
      p++;
      const obj: Record<string, unknown> = {};
      const names = new Set<string>();
      let duplicate = false;
      let longestName = 0;
      ws();
      if (text[p] === '}') { p++; }
      else {
        for (;;) {
          ws();
          const k = str();
          longestName = Math.max(longestName, new TextEncoder().encode(k).length);
          if (names.has(k)) duplicate = true;
          names.add(k);
          ws();
          if (text[p] !== ':') fail();
          p++;
          obj[k] = value(depth + 1);
          ws();
          if (text[p] === ',') { p++; continue; }
          if (text[p] === '}') { p++; break; }
          fail();
        }
      }
      res.objects.push({ depth: depth + 1, members: names.size + (duplicate ? 1 : 0), duplicate, longestName, value: obj });
      return obj;
    }
    if (c === '[') {
      p++;
      const arr: unknown[] = [];
      ws();
      if (text[p] === ']') { p++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[p] === ',') { p++; continue; }
        if (text[p] === ']') { p++; return arr; }
        fail();
      }
    }
    if (c === '"') return str();
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    for (const [w, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(w, p)) { p += w.length; return v; }
    }
    return fail();
  };
  try {
    res.value = value(0);
    ws();
    if (p !== text.length) return res;
    res.ok = true;
  } catch {
    return res;
  }
  return res;
}

/** Exact integer test on the token's decimal digits (mirrors the contract, not the module). */
export function exactInteger(token: string): { integer: boolean; value: bigint } {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(token);
  if (!m) return { integer: false, value: 0n };
  const digits = (m[2] + (m[3] ?? '')).replace(/^0+(?=.)/, '');
  const exp = BigInt(m[4] ?? '0') - BigInt((m[3] ?? '').length);
  if (exp >= 0n) {
    if (exp > 40n) return { integer: true, value: digits.replace(/0/g, '') === '' ? 0n : 10n ** 40n };
    return { integer: true, value: BigInt((m[1] === '-' ? '-' : '') + digits) * 10n ** exp };
  }
  const cut = Number(-exp);
  if (cut > digits.length) return { integer: /^0*$/.test(digits), value: 0n };
  const whole = digits.slice(0, digits.length - cut) || '0';
  const frac = digits.slice(digits.length - cut);
  if (!/^0*$/.test(frac)) return { integer: false, value: 0n };
  return { integer: true, value: BigInt((m[1] === '-' ? '-' : '') + whole) };
}
