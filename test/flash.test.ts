// The simulated NOR flash (host-sim/hal/flash.ts): NOR semantics, the three power-loss models,
// and the ABI bridge (flash_read / flash_program / flash_erase).
import { describe, expect, it } from 'vitest';
import {
  FLASH_ERR_ALIGN, FLASH_ERR_POINTER, FLASH_ERR_RANGE, FLASH_OK, NorFlash, PowerCut, flashImports,
} from '../host-sim/hal/flash.ts';

const g = { sectorSize: 256, sectorCount: 4, progSize: 4 };
const bytes = (...v: number[]) => Uint8Array.from(v);

describe('NorFlash: NOR semantics', () => {
  it('starts erased, or from a given image (copied)', () => {
    expect(new NorFlash(g).read(0, 1024).every((b) => b === 0xff)).toBe(true);
    const image = new Uint8Array(1024).fill(0x5a);
    const f = new NorFlash({ ...g, image });
    image[0] = 0;
    expect(f.read(0, 2)).toEqual(bytes(0x5a, 0x5a));
    expect(() => new NorFlash({ ...g, image: new Uint8Array(10) })).toThrow(RangeError);
    expect(() => new NorFlash({ ...g, progSize: 3 })).toThrow(RangeError);
  });

  it('programs by clearing bits only: new = old AND data', () => {
    const f = new NorFlash(g);
    expect(f.program(8, bytes(0xf0, 0x0f, 0xaa, 0xff))).toBe(FLASH_OK);
    expect(f.read(8, 4)).toEqual(bytes(0xf0, 0x0f, 0xaa, 0xff));
    // A 0 bit cannot be programmed back to 1; programming again only clears more.
    expect(f.program(8, bytes(0xff, 0xff, 0x0f, 0x3c))).toBe(FLASH_OK);
    expect(f.read(8, 4)).toEqual(bytes(0xf0, 0x0f, 0x0a, 0x3c));
    expect(f.image.subarray(8, 12)).toEqual(bytes(0xf0, 0x0f, 0x0a, 0x3c));
    // Only an erase brings bits back, for the whole sector and nothing else.
    f.program(256, bytes(0, 0, 0, 0));
    expect(f.erase(0)).toBe(FLASH_OK);
    expect(f.read(0, 256).every((b) => b === 0xff)).toBe(true);
    expect(f.read(256, 4)).toEqual(bytes(0, 0, 0, 0));
  });

  it('rejects misaligned and out-of-range operations without touching anything', () => {
    const f = new NorFlash(g);
    expect(f.program(2, bytes(0, 0, 0, 0))).toBe(FLASH_ERR_ALIGN);
    expect(f.program(4, bytes(0, 0))).toBe(FLASH_ERR_ALIGN);
    expect(f.program(1020, bytes(0, 0, 0, 0, 0, 0, 0, 0))).toBe(FLASH_ERR_RANGE);
    expect(f.program(-4, bytes(0, 0, 0, 0))).toBe(FLASH_ERR_RANGE);
    expect(f.erase(4)).toBe(FLASH_ERR_RANGE);
    expect(f.erase(-1)).toBe(FLASH_ERR_RANGE);
    expect(f.erase(1.5)).toBe(FLASH_ERR_RANGE);
    expect(f.readInto(1000, new Uint8Array(30))).toBe(FLASH_ERR_RANGE);
    expect(() => f.read(1020, 8)).toThrow(RangeError);
    expect([f.programs, f.erases, f.bytesProgrammed]).toEqual([0, 0, 0]);
    expect(f.image.every((b) => b === 0xff)).toBe(true);
  });

  it('counts programs, erases and wear per sector', () => {
    const f = new NorFlash(g);
    f.program(0, bytes(1, 2, 3, 4));
    f.program(4, new Uint8Array(8));
    f.erase(1);
    f.erase(1);
    f.erase(3);
    expect([f.programs, f.bytesProgrammed, f.erases]).toEqual([2, 12, 3]);
    expect(f.erasesPerSector).toEqual([0, 2, 0, 1]);
  });
});

describe('NorFlash: power cuts', () => {
  it('cuts after n operations, then refuses everything until powerOn', () => {
    const f = new NorFlash({ ...g, model: 'torn' });
    f.cutAfter(2);
    expect(f.program(0, bytes(0, 0, 0, 0))).toBe(FLASH_OK);
    expect(f.erase(1)).toBe(FLASH_OK);
    expect(() => f.program(4, bytes(0, 0, 0, 0))).toThrow(PowerCut);
    expect(f.powered).toBe(false);
    expect(f.lastCut).toMatchObject({ op: 'program', target: 4, length: 4 });
    expect(() => f.read(0, 4)).toThrow(PowerCut);
    expect(() => f.erase(0)).toThrow(PowerCut);
    expect(() => f.program(8, bytes(0, 0, 0, 0))).toThrow(PowerCut);
    f.powerOn();
    expect(f.read(0, 4)).toEqual(bytes(0, 0, 0, 0));
    // One cut per cutAfter: later operations run normally.
    for (let i = 0; i < 10; i++) expect(f.program(16 + 4 * i, bytes(1, 1, 1, 1))).toBe(FLASH_OK);
    f.cutAfter(0);
    expect(() => f.erase(2)).toThrow(PowerCut);
    f.powerOn();
    f.cutAfter(5);
    f.cancelCut();
    for (let i = 0; i < 10; i++) expect(f.erase(3)).toBe(FLASH_OK);
  });

  it('atomic: an interrupted operation lands entirely or not at all', () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const f = new NorFlash({ ...g, model: 'atomic', seed });
      f.program(256, new Uint8Array(256));
      const data = new Uint8Array(64).map((_, i) => i);
      f.cutAfter(0);
      expect(() => f.program(0, data)).toThrow(PowerCut);
      f.powerOn();
      const got = f.read(0, 64);
      const all = got.every((b, i) => b === data[i]);
      const none = got.every((b) => b === 0xff);
      expect(all || none).toBe(true);
      seen.add(all ? 'program:all' : 'program:none');
      f.cutAfter(0);
      expect(() => f.erase(1)).toThrow(PowerCut);
      f.powerOn();
      const sector = f.read(256, 256);
      const erased = sector.every((b) => b === 0xff);
      expect(erased || sector.every((b) => b === 0)).toBe(true);
      seen.add(erased ? 'erase:all' : 'erase:none');
    }
    expect(seen.size).toBe(4);
  });

  it('torn: only a prefix of an interrupted program or erase lands', () => {
    const prefixes = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const f = new NorFlash({ ...g, model: 'torn', seed });
      const data = new Uint8Array(128).fill(0);
      f.cutAfter(0);
      expect(() => f.program(64, data)).toThrow(PowerCut);
      f.powerOn();
      const got = f.read(64, 128);
      const k = got.indexOf(0xff);
      const landed = k < 0 ? 128 : k;
      expect(landed).toBeLessThan(128);
      expect(f.lastCut!.landed).toBe(landed);
      expect(got.subarray(landed).every((b) => b === 0xff)).toBe(true);
      prefixes.add(landed);
      // Reads of a torn area are stable.
      expect(f.read(64, 128)).toEqual(got);

      f.program(512, new Uint8Array(256)); // sector 2 all zeros
      f.cutAfter(0);
      expect(() => f.erase(2)).toThrow(PowerCut);
      f.powerOn();
      const sector = f.read(512, 256);
      const e = sector.indexOf(0);
      expect(e).toBe(f.lastCut!.landed);
      expect(sector.subarray(0, e).every((b) => b === 0xff)).toBe(true);
      expect(sector.subarray(e).every((b) => b === 0)).toBe(true);
    }
    // Tears land all over, including on the edges: nothing, or all but the last unit.
    expect(prefixes.has(0)).toBe(true);
    expect([...prefixes].some((p) => p >= 124)).toBe(true);
    expect(prefixes.size).toBeGreaterThan(10);
  });

  it('flaky: cells at the tear boundary read back differently until programmed to 0 or erased', () => {
    let weakSeen = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const f = new NorFlash({ ...g, model: 'flaky', seed });
      const data = new Uint8Array(64).fill(0x00);
      f.cutAfter(0);
      expect(() => f.program(0, data)).toThrow(PowerCut);
      f.powerOn();
      const landed = f.lastCut!.landed;
      const unitEnd = Math.min(64, (Math.floor(landed / 4) + 1) * 4);
      expect(f.weakCellCount).toBe(unitEnd - landed);
      const reads = Array.from({ length: 16 }, () => f.read(0, 64));
      for (const r of reads) {
        expect(r.subarray(0, landed).every((b) => b === 0)).toBe(true); // landed: solid
        expect(r.subarray(unitEnd).every((b) => b === 0xff)).toBe(true); // untouched: solid
      }
      const boundary = new Set(reads.map((r) => r[landed]));
      if (boundary.size > 1) weakSeen++;
      // Programming the weak bits to 0 makes them solid.
      expect(f.program(0, new Uint8Array(64))).toBe(FLASH_OK);
      expect(f.weakCellCount).toBe(0);
      expect(f.read(0, 64).every((b) => b === 0)).toBe(true);
    }
    expect(weakSeen).toBeGreaterThan(20);

    // Only the bits the cut operation was changing go weak; erase clears them.
    const f = new NorFlash({ ...g, model: 'flaky', seed: 3 });
    let hit = false;
    for (let tries = 0; tries < 40 && !hit; tries++) {
      f.erase(0);
      f.cutAfter(0);
      expect(() => f.program(0, new Uint8Array(16).fill(0xf0))).toThrow(PowerCut);
      f.powerOn();
      for (let k = 0; k < 8; k++) {
        const r = f.read(0, 16);
        expect(r.every((b) => (b & 0xf0) === 0xf0)).toBe(true); // 0xf0 clears only the low nibble
      }
      hit = f.weakCellCount > 0;
    }
    expect(hit).toBe(true);
    f.erase(0);
    expect(f.weakCellCount).toBe(0);
    expect(f.read(0, 256).every((b) => b === 0xff)).toBe(true);

    // A cut erase leaves half-erased cells among the old content.
    const e = new NorFlash({ ...g, model: 'flaky', seed: 9 });
    e.program(0, new Uint8Array(256));
    e.cutAfter(0);
    expect(() => e.erase(0)).toThrow(PowerCut);
    e.powerOn();
    const landed = e.lastCut!.landed;
    const r = e.read(0, 256);
    expect(r.subarray(0, landed).every((b) => b === 0xff)).toBe(true);
    expect(r.subarray(Math.min(256, (Math.floor(landed / 4) + 1) * 4)).every((b) => b === 0)).toBe(true);
    expect(e.weakCellCount).toBeGreaterThan(0);
  });

  it('is deterministic for a seed', () => {
    const run = (seed: number) => {
      const f = new NorFlash({ ...g, model: 'flaky', seed });
      f.cutAfter(0);
      try { f.program(0, new Uint8Array(64)); } catch { /* the cut */ }
      f.powerOn();
      return [f.lastCut!.landed, ...f.read(0, 64)].join(',');
    };
    expect(run(42)).toBe(run(42));
  });
});

describe('flashImports: the ABI bridge', () => {
  const setup = () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const flash = new NorFlash(g);
    return { memory, flash, imp: flashImports(() => memory, flash), ram: new Uint8Array(memory.buffer) };
  };

  it('moves bytes between linear memory and flash', () => {
    const { flash, imp, ram } = setup();
    ram.set([1, 2, 3, 4, 5, 6, 7, 8], 100);
    expect(imp.flash_program(16, 100, 8)).toBe(FLASH_OK);
    expect(flash.read(16, 8)).toEqual(bytes(1, 2, 3, 4, 5, 6, 7, 8));
    expect(imp.flash_read(14, 200, 12)).toBe(FLASH_OK);
    expect([...ram.subarray(200, 212)]).toEqual([0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff]);
    expect(imp.flash_erase(0)).toBe(FLASH_OK);
    expect(flash.read(16, 8).every((b) => b === 0xff)).toBe(true);
  });

  it('checks pointers against linear memory and passes flash errors through', () => {
    const { imp, ram } = setup();
    const size = ram.length;
    expect(imp.flash_read(0, size - 4, 8)).toBe(FLASH_ERR_POINTER);
    expect(imp.flash_read(0, -8, 4)).toBe(FLASH_ERR_POINTER); // i32 pointer above 2 GiB
    expect(imp.flash_read(0, 0, -1)).toBe(FLASH_ERR_POINTER);
    expect(imp.flash_program(0, size, 4)).toBe(FLASH_ERR_POINTER);
    expect(imp.flash_read(0, size - 4, 4)).toBe(FLASH_OK);
    expect(imp.flash_program(2, 0, 4)).toBe(FLASH_ERR_ALIGN);
    expect(imp.flash_read(1020, 0, 8)).toBe(FLASH_ERR_RANGE);
    expect(imp.flash_read(-4, 0, 4)).toBe(FLASH_ERR_RANGE); // flash address above 2 GiB
    expect(imp.flash_erase(9)).toBe(FLASH_ERR_RANGE);
  });

  it('sees memory growth and lets a PowerCut propagate', () => {
    const { memory, flash, imp } = setup();
    memory.grow(1);
    expect(imp.flash_read(0, 65536 + 10, 4)).toBe(FLASH_OK);
    flash.cutAfter(0);
    expect(() => imp.flash_erase(1)).toThrow(PowerCut);
    expect(() => imp.flash_read(0, 0, 4)).toThrow(PowerCut);
  });
});
