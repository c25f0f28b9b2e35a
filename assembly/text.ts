// Small ASCII helpers. The standard library's toLowerCase/trim carry Unicode tables that would
// cost kilobytes of flash; every text the agent compares (host names, header names, config
// keys) is ASCII by contract.

export function asciiLower(s: string): string {
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) { changed = true; break; }
  }
  if (!changed) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return out;
}

function isSpace(c: i32): bool { return c == 0x20 || c == 0x09 || c == 0x0d || c == 0x0a; }

export function trimAscii(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s.charCodeAt(a))) a++;
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
  return s.substring(a, b);
}

/** A decimal of 1-18 digits, or -1. */
export function parseDecimal(s: string): i64 {
  if (s.length == 0 || s.length > 18) return -1;
  let v: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
