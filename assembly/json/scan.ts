// The validating scan that stands in front of json-as. Every byte the cloud sends is hostile:
// json-as 1.6 traps on truncated or non-JSON input and silently misreads numbers (`1.5`,
// `1e2`, `99999999999`, `"300"`), so nothing reaches it that this scan has not checked.
//
// The scan checks one JSON object strictly (RFC 8259 syntax, valid UTF-8, no duplicate names
// among the members it records) and records where the value of each top-level member the caller
// asked for lies and what type it is. Members of any other name are checked and skipped, however
// many there are and however deeply they nest (contract: unknown fields are ignored); the bytes
// read are bounded by the receive buffer, so nothing else needs a bound. Values are then read
// from the raw bytes by exact rules (readInt, decodeString) rather than by float conversion. It
// never allocates per byte and never recurses.

export const J_NULL: u8 = 0;
export const J_FALSE: u8 = 1;
export const J_TRUE: u8 = 2;
export const J_NUMBER: u8 = 3;
export const J_STRING: u8 = 4;
export const J_OBJECT: u8 = 5;
export const J_ARRAY: u8 = 6;

// Nesting needs one opening byte per level, so a body of the receive buffer's size (4 KiB)
// cannot nest deeper than this; one bit per level records object or array.
export const SCAN_MAX_DEPTH: i32 = 4096;
export const SCAN_MAX_STRING: i32 = 512;

export const INT_OK: i32 = 0;
export const INT_NOT_INTEGER: i32 = 1;
export const INT_OUT_OF_RANGE: i32 = 2;

export class Member {
  name: string = "";
  kind: u8 = J_NULL;
  start: usize = 0; // first byte of the value
  end: usize = 0;   // one past its last byte
}

export function kindName(kind: u8): string {
  if (kind == J_NULL) return "null";
  if (kind == J_FALSE || kind == J_TRUE) return "boolean";
  if (kind == J_NUMBER) return "number";
  if (kind == J_STRING) return "string";
  if (kind == J_OBJECT) return "object";
  return "array";
}

@inline function isDigit(c: u32): bool { return c - 0x30 < 10; }

@inline function hexValue(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = c | 0x20;
  if (l - 0x61 < 6) return <i32>(l - 0x61 + 10);
  return -1;
}

export class ObjectScan {
  error: string = "";
  count: i32 = 0;
  members: StaticArray<Member>;
  private p: usize = 0;
  private end: usize = 0;
  // Nesting of containers below the member being skipped, one bit a level: 1 = object.
  private stack: StaticArray<u8> = new StaticArray<u8>(SCAN_MAX_DEPTH / 8);

  /** A scan that records the members named in `wanted` and skips every other. */
  constructor(private wanted: StaticArray<string>) {
    this.members = new StaticArray<Member>(wanted.length);
    for (let i = 0; i < wanted.length; i++) this.members[i] = new Member();
  }

  @inline private pushLevel(depth: i32, isObject: bool): void {
    const i = depth >> 3;
    const bit = <u8>(<i32>1 << (depth & 7));
    this.stack[i] = isObject ? this.stack[i] | bit : this.stack[i] & ~bit;
  }

  @inline private levelIsObject(depth: i32): bool {
    return (this.stack[depth >> 3] & <u8>(<i32>1 << (depth & 7))) != 0;
  }

  private isWanted(name: string): bool {
    for (let i = 0; i < this.wanted.length; i++) if (this.wanted[i] == name) return true;
    return false;
  }

  /** Scans [ptr, ptr+len) as exactly one JSON object. Returns false with `error` set. */
  scan(ptr: usize, len: i32): bool {
    this.error = "";
    this.count = 0;
    this.p = ptr;
    this.end = ptr + <usize>len;
    if (len <= 0) return this.fail("empty body");
    this.ws();
    if (!this.at(0x7b)) return this.fail("not a JSON object");
    this.p++;
    this.ws();
    if (this.at(0x7d)) {
      this.p++;
      return this.finish();
    }
    while (true) {
      this.ws();
      if (!this.at(0x22)) return this.fail("expected a member name");
      const nameStart = this.p;
      if (!this.skipString()) return false;
      // A name longer than any wanted one is skipped undecoded.
      const name = decodeString(nameStart, this.p);
      const wanted = name != null && this.isWanted(name!);
      if (wanted) {
        for (let i = 0; i < this.count; i++) {
          if (this.members[i].name == name!) return this.fail("duplicate member '" + name! + "'");
        }
      }
      this.ws();
      if (!this.at(0x3a)) return this.fail("expected ':'");
      this.p++;
      this.ws();
      const valueStart = this.p;
      const kind = this.skipValue();
      if (kind < 0) return false;
      if (wanted) {
        const m = this.members[this.count++];
        m.name = name!;
        m.kind = <u8>kind;
        m.start = valueStart;
        m.end = this.p;
      }
      this.ws();
      if (this.at(0x2c)) { this.p++; continue; }
      if (this.at(0x7d)) { this.p++; return this.finish(); }
      return this.fail(this.p >= this.end ? "truncated" : "expected ',' or '}'");
    }
  }

  find(name: string): i32 {
    for (let i = 0; i < this.count; i++) if (this.members[i].name == name) return i;
    return -1;
  }

  private finish(): bool {
    this.ws();
    if (this.p != this.end) return this.fail("bytes after the object");
    return true;
  }

  private fail(msg: string): bool {
    this.error = msg;
    return false;
  }

  @inline private at(c: u32): bool { return this.p < this.end && <u32>load<u8>(this.p) == c; }

  private ws(): void {
    while (this.p < this.end) {
      const c = <u32>load<u8>(this.p);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.p++;
    }
  }

  /** Skips one value of any type, containers included (iteratively). Returns its kind or -1. */
  private skipValue(): i32 {
    const first = this.scalarOrOpen();
    if (first < 0 || (first != J_OBJECT && first != J_ARRAY)) return first;
    let depth = 1;
    this.pushLevel(0, first == J_OBJECT);
    // Just after an opening bracket: allow an immediate close.
    let justOpened = true;
    while (depth > 0) {
      this.ws();
      const inObject = this.levelIsObject(depth - 1);
      const close: u32 = inObject ? 0x7d : 0x5d;
      if (justOpened && this.at(close)) { this.p++; depth--; justOpened = false; continue; }
      if (!justOpened) {
        if (this.at(close)) { this.p++; depth--; continue; }
        if (!this.at(0x2c)) { this.fail(this.p >= this.end ? "truncated" : "expected ',' or ']' or '}'"); return -1; }
        this.p++;
        this.ws();
      }
      justOpened = false;
      if (inObject) {
        if (!this.at(0x22)) { this.fail("expected a member name"); return -1; }
        if (!this.skipString()) return -1;
        this.ws();
        if (!this.at(0x3a)) { this.fail("expected ':'"); return -1; }
        this.p++;
        this.ws();
      }
      const k = this.scalarOrOpen();
      if (k < 0) return -1;
      if (k == J_OBJECT || k == J_ARRAY) {
        if (depth == SCAN_MAX_DEPTH) { this.fail("nested too deeply"); return -1; }
        this.pushLevel(depth++, k == J_OBJECT);
        justOpened = true;
      }
    }
    return first;
  }

  /** Consumes a scalar, or just the opening bracket of a container. */
  private scalarOrOpen(): i32 {
    if (this.p >= this.end) { this.fail("truncated"); return -1; }
    const c = <u32>load<u8>(this.p);
    if (c == 0x7b) { this.p++; return J_OBJECT; }
    if (c == 0x5b) { this.p++; return J_ARRAY; }
    if (c == 0x22) return this.skipString() ? J_STRING : -1;
    if (c == 0x2d || isDigit(c)) return this.skipNumber() ? J_NUMBER : -1;
    if (this.word("true")) return J_TRUE;
    if (this.word("false")) return J_FALSE;
    if (this.word("null")) return J_NULL;
    this.fail("unexpected character");
    return -1;
  }

  private word(w: string): bool {
    const n = w.length;
    if (this.p + <usize>n > this.end) return false;
    for (let i = 0; i < n; i++) if (<u32>load<u8>(this.p + <usize>i) != <u32>w.charCodeAt(i)) return false;
    this.p += <usize>n;
    return true;
  }

  private skipNumber(): bool {
    if (this.at(0x2d)) this.p++;
    if (this.at(0x30)) {
      this.p++;
    } else {
      if (!this.digits()) return this.fail("bad number");
    }
    if (this.at(0x2e)) {
      this.p++;
      if (!this.digits()) return this.fail("bad number");
    }
    if (this.at(0x65) || this.at(0x45)) {
      this.p++;
      if (this.at(0x2b) || this.at(0x2d)) this.p++;
      if (!this.digits()) return this.fail("bad number");
    }
    return true;
  }

  private digits(): bool {
    const s = this.p;
    while (this.p < this.end && isDigit(<u32>load<u8>(this.p))) this.p++;
    return this.p > s;
  }

  /** Skips a string token, checking escapes, control characters and UTF-8. */
  private skipString(): bool {
    this.p++; // opening quote
    while (true) {
      if (this.p >= this.end) return this.fail("truncated string");
      const c = <u32>load<u8>(this.p);
      if (c == 0x22) { this.p++; return true; }
      if (c < 0x20) return this.fail("control character");
      if (c == 0x5c) {
        if (this.p + 1 >= this.end) return this.fail("truncated string");
        const e = <u32>load<u8>(this.p + 1);
        if (e == 0x75) {
          if (this.p + 6 > this.end) return this.fail("truncated string");
          for (let i: usize = 2; i < 6; i++) {
            if (hexValue(<u32>load<u8>(this.p + i)) < 0) return this.fail("bad \\u escape");
          }
          this.p += 6;
          continue;
        }
        if (e != 0x22 && e != 0x5c && e != 0x2f && e != 0x62 && e != 0x66 && e != 0x6e && e != 0x72 && e != 0x74) {
          return this.fail("bad escape");
        }
        this.p += 2;
        continue;
      }
      if (c < 0x80) { this.p++; continue; }
      const n = utf8SequenceLength(this.p, this.end);
      if (n == 0) return this.fail("invalid UTF-8");
      this.p += <usize>n;
    }
  }
}

/** Length of the valid UTF-8 sequence at p (2-4), or 0 if it is not one. */
function utf8SequenceLength(p: usize, end: usize): i32 {
  const c = <u32>load<u8>(p);
  let n: i32;
  let min: u32;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
  else return 0;
  if (p + <usize>n > end) return 0;
  let cp: u32 = c & (0x7f >> n);
  for (let i = 1; i < n; i++) {
    const b = <u32>load<u8>(p + <usize>i);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

/**
 * Decodes a string token [start, end) (quotes included) that the scan has already checked.
 * Returns null when it is longer than SCAN_MAX_STRING bytes.
 */
export function decodeString(start: usize, end: usize): string | null {
  if (end - start - 2 > <usize>SCAN_MAX_STRING) return null;
  let out = "";
  let p = start + 1;
  const stop = end - 1;
  let runStart = p;
  while (p < stop) {
    const c = <u32>load<u8>(p);
    if (c != 0x5c) { p++; continue; }
    out += String.UTF8.decodeUnsafe(runStart, p - runStart);
    const e = <u32>load<u8>(p + 1);
    if (e == 0x75) {
      let cu: i32 = 0;
      for (let i: usize = 2; i < 6; i++) cu = (cu << 4) | hexValue(<u32>load<u8>(p + i));
      out += String.fromCharCode(cu);
      p += 6;
    } else {
      let ch: i32 = <i32>e; // \" \\ \/
      if (e == 0x62) ch = 8;
      else if (e == 0x66) ch = 12;
      else if (e == 0x6e) ch = 10;
      else if (e == 0x72) ch = 13;
      else if (e == 0x74) ch = 9;
      out += String.fromCharCode(ch);
      p += 2;
    }
    runStart = p;
  }
  const tail = String.UTF8.decodeUnsafe(runStart, p - runStart);
  return out.length == 0 ? tail : out + tail; // no escape: the text as decoded, not a copy of it
}

/** The outcome of reading a JSON number as an exact integer. */
export class IntRead {
  status: i32 = INT_OK;
  value: i64 = 0;
}

const MAX_INT_DIGITS: i32 = 15; // far above every range the agent accepts, far below i64 overflow

/**
 * Reads the number token [start, end) as an exact integer: `100`, `1e2`, `100.0` and `1.5e2`
 * are integers; `100.5` is not. Decided on the decimal digits, never through a float.
 */
export function readInt(start: usize, end: usize, out: IntRead): void {
  out.status = INT_OK;
  out.value = 0;
  let p = start;
  let negative = false;
  if (<u32>load<u8>(p) == 0x2d) { negative = true; p++; }
  // Significant digits (int part then fraction), and how many of them sit before the point.
  const digitsStart = p;
  let intDigits: i32 = 0;
  while (p < end && isDigit(<u32>load<u8>(p))) { p++; intDigits++; }
  let fracStart = p;
  let fracDigits: i32 = 0;
  if (p < end && <u32>load<u8>(p) == 0x2e) {
    p++;
    fracStart = p;
    while (p < end && isDigit(<u32>load<u8>(p))) { p++; fracDigits++; }
  }
  let exp: i64 = 0;
  if (p < end) {
    p++; // e or E
    let expNegative = false;
    const s = <u32>load<u8>(p);
    if (s == 0x2d || s == 0x2b) { expNegative = s == 0x2d; p++; }
    while (p < end) {
      if (exp < 100000) exp = exp * 10 + <i64>(<u32>load<u8>(p) - 0x30);
      p++;
    }
    if (expNegative) exp = -exp;
  }
  // The point moves `exp` places: digit k (0-based over int+frac digits) has weight
  // 10^(intDigits + exp - 1 - k). Digits of negative weight must all be zero.
  const total = intDigits + fracDigits;
  const pointAt: i64 = <i64>intDigits + exp;
  let value: i64 = 0;
  let significant: i32 = 0;
  for (let k = 0; k < total; k++) {
    const addr = k < intDigits ? digitsStart + <usize>k : fracStart + <usize>(k - intDigits);
    const d = <i64>(<u32>load<u8>(addr) - 0x30);
    if (<i64>k >= pointAt) {
      if (d != 0) { out.status = INT_NOT_INTEGER; return; }
      continue;
    }
    if (value == 0 && d == 0) continue;
    if (++significant > MAX_INT_DIGITS) { out.status = INT_OUT_OF_RANGE; return; }
    value = value * 10 + d;
  }
  // Trailing zeros implied by a positive exponent beyond the written digits.
  if (value != 0) {
    for (let k: i64 = <i64>total; k < pointAt; k++) {
      if (++significant > MAX_INT_DIGITS) { out.status = INT_OUT_OF_RANGE; return; }
      value *= 10;
    }
  }
  out.value = negative ? -value : value;
}
