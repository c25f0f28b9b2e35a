// The release module itself: only the WebAssembly features wasm3 runs, and exactly the
// imports and exports that assembly/ABI.md documents (so the docs cannot drift).
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import binaryen from 'binaryen';
import { RELEASE_WASM } from './helpers/harness.ts';

const F = binaryen.Features;
/** MVP plus what wasm3 supports: mutable globals, sign-extension, non-trapping f2i, bulk memory. */
const WASM3_FEATURES = F.MVP | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.BulkMemory | F.BulkMemoryOpt;

function validUnder(bytes: Uint8Array, features: number): boolean {
  const m = binaryen.readBinary(bytes);
  try {
    m.setFeatures(features);
    return m.validate() === 1;
  } finally {
    m.dispose();
  }
}

/** The names in the first column of the markdown table under `heading` in ABI.md. */
function abiNames(heading: string): string[] {
  const md = fs.readFileSync('assembly/ABI.md', 'utf8');
  const section = md.split(/^#{2,3} /m).find((s) => s.startsWith(heading))!;
  return [...section.matchAll(/^\| `([a-z_0-9]+)` \|/gm)].map((m) => m[1]);
}

describe('release module', () => {
  const bytes = fs.readFileSync(RELEASE_WASM);

  it('uses only MVP, mutable-globals, sign-ext, nontrapping-f2i and bulk-memory', () => {
    expect(validUnder(bytes, WASM3_FEATURES)).toBe(true);
  });

  it('the feature check fails for a module that uses SIMD', () => {
    const m = binaryen.parseText('(module (func (export "f") (result v128) (v128.const i32x4 0 0 0 0)))');
    m.setFeatures(F.All);
    const simd = m.emitBinary();
    m.dispose();
    expect(validUnder(simd, F.All)).toBe(true);
    expect(validUnder(simd, WASM3_FEATURES)).toBe(false);
  });

  it('imports exactly the host functions of ABI.md, from module "host"', () => {
    const mod = new WebAssembly.Module(bytes);
    const imports = WebAssembly.Module.imports(mod);
    expect(imports.every((i) => i.module === 'host' && i.kind === 'function')).toBe(true);
    expect(imports.map((i) => i.name).sort()).toEqual(abiNames('Imports').sort());
  });

  it('exports exactly the functions of ABI.md, plus its memory', () => {
    const mod = new WebAssembly.Module(bytes);
    const exports = WebAssembly.Module.exports(mod);
    expect(exports.filter((e) => e.kind === 'memory').map((e) => e.name)).toEqual(['memory']);
    expect(exports.filter((e) => e.kind !== 'memory').map((e) => e.name).sort()).toEqual(abiNames('Exports').sort());
  });

  it('starts with one page of linear memory', () => {
    const mod = new WebAssembly.Module(bytes);
    const inst = new WebAssembly.Instance(mod, { host: Object.fromEntries(WebAssembly.Module.imports(mod).map((i) => [i.name, () => 0])) });
    expect((inst.exports.memory as WebAssembly.Memory).buffer.byteLength).toBe(65536);
  });
});
