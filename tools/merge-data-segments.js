// Merges a module's active data segments (issue 11, phase 2). AssemblyScript writes one segment
// per static object (each string, each array): hundreds of segments, each costing its header in
// the file (memory index, offset expression, size: about 6 bytes) and a table entry in wasm3's
// heap. Neighbours at most MAX_GAP bytes apart become one segment, the gap filled with the zeros
// memory holds there anyway, so linear memory starts byte for byte the same.
//
// The gaps are mostly the 12 zero bytes of each object's header plus alignment (Binaryen's
// memory packing cut the segments there): writing them costs a little more file than the
// headers saved, and saves wasm3 a table entry per segment. Measured on the release module
// (issue 11, phase 2): 389 segments -> 15, +1,045 bytes of file, -7,480 bytes of wasm3 heap
// peak in the 2,000-record drain; with gaps up to 8 only, 306 segments, -246 bytes, -1,660.
// RAM is what a board lacks (the module stays in flash), so the heap wins.
//
// Only a module whose segments are all active, on memory 0, at constant i32 offsets is changed
// (a passive segment is addressed by its index, which merging would move); any other is returned
// as is. The debug target is left alone: its source map addresses bytes of the file.
//
//   mergeDataSegments(bytes[, maxGap]) -> { bytes, before, after }   (segment counts)

/** Longest run of zeros written instead of a new segment: an object header and its alignment. */
const MAX_GAP = 16;
const SECTION_DATA = 11;
const SECTION_DATA_COUNT = 12;
const OP_I32_CONST = 0x41;
const OP_END = 0x0b;

function readU(b, at) {
  let v = 0, shift = 0, byte;
  do { byte = b[at++]; v += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
  return [v, at];
}

function readS32(b, at) {
  let v = 0, shift = 0, byte;
  do { byte = b[at++]; v |= (byte & 0x7f) << shift; shift += 7; } while (byte & 0x80);
  if (shift < 32 && (byte & 0x40)) v |= -1 << shift;
  return [v, at];
}

function u(v) {
  const out = [];
  do { let byte = v % 128; v = Math.floor(v / 128); if (v > 0) byte |= 0x80; out.push(byte); } while (v > 0);
  return out;
}

function s32(v) {
  const out = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) { out.push(byte); return out; }
    out.push(byte | 0x80);
  }
}

/** The data section's segments, or null when one is not a plain active segment. */
function segments(b, start, end) {
  let [n, at] = readU(b, start);
  const segs = [];
  for (let i = 0; i < n; i++) {
    if (b[at++] !== 0 || b[at++] !== OP_I32_CONST) return null;
    let offset, size;
    [offset, at] = readS32(b, at);
    if (b[at++] !== OP_END || offset < 0) return null;
    [size, at] = readU(b, at);
    segs.push({ offset, data: b.subarray(at, at + size) });
    at += size;
  }
  return at === end ? segs : null;
}

function merged(segs, maxGap) {
  const sorted = [...segs].sort((a, b) => a.offset - b.offset);
  const out = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    const lastEnd = last ? last.offset + last.length : 0;
    if (last && s.offset < lastEnd) return null; // overlapping: leave the module alone
    if (last && s.offset - lastEnd <= maxGap) {
      last.parts.push({ at: s.offset - last.offset, data: s.data });
      last.length = s.offset + s.data.length - last.offset;
    } else {
      out.push({ offset: s.offset, length: s.data.length, parts: [{ at: 0, data: s.data }] });
    }
  }
  return out.map((m) => {
    const data = new Uint8Array(m.length);
    for (const p of m.parts) data.set(p.data, p.at);
    return { offset: m.offset, data };
  });
}

export function mergeDataSegments(bytes, maxGap = MAX_GAP) {
  const b = bytes;
  const sections = [];
  let at = 8;
  while (at < b.length) {
    const id = b[at];
    const [len, body] = readU(b, at + 1);
    sections.push({ id, start: at, body, end: body + len });
    at = body + len;
  }
  const data = sections.find((s) => s.id === SECTION_DATA);
  if (!data) return { bytes, before: 0, after: 0 };
  const segs = segments(b, data.body, data.end);
  const joined = segs && merged(segs, maxGap);
  if (!joined || joined.length === segs.length) return { bytes, before: segs ? segs.length : 0, after: segs ? segs.length : 0 };
  const body = [...u(joined.length)];
  const chunks = [];
  for (const s of joined) {
    chunks.push(Uint8Array.from([0, OP_I32_CONST, ...s32(s.offset), OP_END, ...u(s.data.length)]), s.data);
  }
  const parts = [];
  let prev = 0;
  for (const s of sections) {
    if (s.id !== SECTION_DATA && s.id !== SECTION_DATA_COUNT) continue;
    parts.push(b.subarray(prev, s.start));
    if (s.id === SECTION_DATA_COUNT) {
      const count = u(joined.length);
      parts.push(Uint8Array.from([SECTION_DATA_COUNT, ...u(count.length), ...count]));
    } else {
      const size = body.length + chunks.reduce((n, c) => n + c.length, 0);
      parts.push(Uint8Array.from([SECTION_DATA, ...u(size), ...body]), ...chunks);
    }
    prev = s.end;
  }
  parts.push(b.subarray(prev));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return { bytes: out, before: segs.length, after: joined.length };
}
