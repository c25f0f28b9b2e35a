// Little-endian byte records for the key-value store. Readers never trust a stored record:
// every read is bounds-checked and reports failure instead of reading past the end.

export class ByteWriter {
  buf: Uint8Array;
  pos: i32 = 0;
  constructor(capacity: i32) { this.buf = new Uint8Array(capacity); }
  u8(v: u32): void { this.buf[this.pos++] = <u8>v; }
  u16(v: u32): void { this.u8(v & 0xff); this.u8((v >>> 8) & 0xff); }
  u32(v: u32): void { for (let i = 0; i < 4; i++) this.u8((v >>> (8 * i)) & 0xff); }
  u64(v: u64): void { this.u32(<u32>v); this.u32(<u32>(v >>> 32)); }
  i64(v: i64): void { this.u64(<u64>v); }
  str(s: string): void {
    const b = Uint8Array.wrap(String.UTF8.encode(s));
    this.u8(b.length);
    for (let i = 0; i < b.length; i++) this.u8(b[i]);
  }
  bytes(): Uint8Array { return this.buf.subarray(0, this.pos); }
}

export class ByteReader {
  ok: bool = true;
  pos: i32 = 0;
  constructor(public buf: Uint8Array) {}
  private need(n: i32): bool {
    if (this.pos + n > this.buf.length) this.ok = false;
    return this.ok;
  }
  u8(): u32 {
    if (!this.need(1)) return 0;
    return this.buf[this.pos++];
  }
  u16(): u32 {
    if (!this.need(2)) return 0;
    const v = <u32>this.buf[this.pos] | ((<u32>this.buf[this.pos + 1]) << 8);
    this.pos += 2;
    return v;
  }
  u32(): u32 {
    if (!this.need(4)) return 0;
    let v: u32 = 0;
    for (let i = 0; i < 4; i++) v |= (<u32>this.buf[this.pos++]) << (8 * i);
    return v;
  }
  u64(): u64 { const lo = <u64>this.u32(); return lo | ((<u64>this.u32()) << 32); }
  i64(): i64 { return <i64>this.u64(); }
  str(): string {
    const n = <i32>this.u8();
    if (!this.need(n)) return "";
    const s = String.UTF8.decodeUnsafe(this.buf.dataStart + this.pos, n);
    this.pos += n;
    return s;
  }
  atEnd(): bool { return this.ok && this.pos == this.buf.length; }
}
