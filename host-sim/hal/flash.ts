// A simulated NOR flash partition (the uplink log's medium, ABI.md flash_*), faithful where it
// matters to a log that must survive power cuts:
//  - erase sets a whole sector to 0xFF; program only clears bits (new = old AND data), so a
//    0 can never be programmed back to 1; program address and length are multiples of the
//    program unit.
//  - cutAfter(n) interrupts the operation after the next n: it lands per the model, then it
//    and every later operation throws PowerCut until powerOn().
//      atomic  the interrupted operation happens entirely or not at all (a seeded coin flip:
//              both outcomes get exercised).
//      torn    a random prefix of it lands (program: the first k bytes; erase: the first k
//              bytes of the sector become 0xFF), the rest is untouched. k is drawn with extra
//              weight on the edges a recovery most often gets wrong: nothing landed, or all
//              but the last program unit (1/4 each), else uniform.
//      flaky   as torn, and the cells of the program unit at the tear boundary are left half
//              way: each bit the operation was changing there reads back 0 or 1 at random on
//              every read, until it is programmed to 0 or its sector is erased.
// Everything random comes from a seeded Rng, so a failing run replays exactly.
import { Rng } from './random.ts';
import { IMPORT_BAD_POINTER, IMPORT_MISALIGNED, IMPORT_OK, IMPORT_OUT_OF_RANGE } from '../abi-constants.ts';

export type FlashModel = 'atomic' | 'torn' | 'flaky';

export interface NorFlashOptions {
  sectorSize: number;
  sectorCount: number;
  progSize: number;
  model?: FlashModel;
  seed?: number;
  /** Initial content (e.g. loaded from a file); copied. Default: all erased. */
  image?: Uint8Array;
}

// The codes are the ABI's (ABI.md "Import status"): the same in every host.
/** done. */
export const FLASH_OK = IMPORT_OK;
/** program address or length not a multiple of the program unit. */
export const FLASH_ERR_ALIGN = IMPORT_MISALIGNED;
/** address, length or sector outside the partition. */
export const FLASH_ERR_RANGE = IMPORT_OUT_OF_RANGE;
/** (flashImports) pointer/length outside the module's linear memory. */
export const FLASH_ERR_POINTER = IMPORT_BAD_POINTER;

/** Thrown by the operation a cut interrupts and by every operation until powerOn(). */
export class PowerCut extends Error {
  constructor(message = 'power cut') {
    super(message);
    this.name = 'PowerCut';
  }
}

/** What the interrupted operation was, for tests that reason about what may have landed. */
export interface CutRecord {
  op: 'program' | 'erase';
  /** program: flash address; erase: sector index. */
  target: number;
  length: number;
  /** Bytes that landed completely (atomic: 0 or length). */
  landed: number;
}

export class NorFlash {
  readonly sectorSize: number;
  readonly sectorCount: number;
  readonly progSize: number;
  readonly size: number;
  readonly model: FlashModel;
  /** The stored bytes (weak bits hold an arbitrary value here). Persist this to a file. */
  readonly image: Uint8Array;

  /** Program / erase operations started, including an interrupted one. */
  programs = 0;
  erases = 0;
  /** Erases per sector: the wear. */
  readonly erasesPerSector: number[];
  /** Bytes handed to completed programs. */
  bytesProgrammed = 0;
  /** The last interrupted operation, or null. */
  lastCut: CutRecord | null = null;

  private readonly rng: Rng;
  /** Per byte, the bits that read back at random (flaky model only). */
  private weak: Uint8Array | null = null;
  private weakBytes = 0;
  /** Operations still allowed to complete before the cut; -1 = no cut armed. */
  private remaining = -1;
  private off = false;

  constructor(opts: NorFlashOptions) {
    const { sectorSize, sectorCount, progSize } = opts;
    if (!Number.isInteger(sectorSize) || sectorSize <= 0 || !Number.isInteger(sectorCount) || sectorCount <= 0) {
      throw new RangeError('NorFlash: sectorSize and sectorCount must be positive integers');
    }
    if (!Number.isInteger(progSize) || progSize <= 0 || sectorSize % progSize !== 0) {
      throw new RangeError('NorFlash: progSize must be a positive divisor of sectorSize');
    }
    this.sectorSize = sectorSize;
    this.sectorCount = sectorCount;
    this.progSize = progSize;
    this.size = sectorSize * sectorCount;
    this.model = opts.model ?? 'atomic';
    this.rng = new Rng(opts.seed ?? 1);
    if (opts.image) {
      if (opts.image.length !== this.size) throw new RangeError(`NorFlash: image is ${opts.image.length} bytes, geometry says ${this.size}`);
      this.image = Uint8Array.from(opts.image);
    } else {
      this.image = new Uint8Array(this.size).fill(0xff);
    }
    this.erasesPerSector = new Array<number>(sectorCount).fill(0);
  }

  /** After n more program/erase operations complete, the next one is interrupted. */
  cutAfter(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError('cutAfter: n must be a non-negative integer');
    this.remaining = n;
  }

  /** Disarms a pending cut. */
  cancelCut(): void {
    this.remaining = -1;
  }

  /** Power is back: operations work again (weak cells stay weak). */
  powerOn(): void {
    this.off = false;
  }

  get powered(): boolean {
    return !this.off;
  }

  /** Bytes with weak bits right now (flaky model). */
  get weakCellCount(): number {
    return this.weakBytes;
  }

  read(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, len));
    const rc = this.readInto(addr, out);
    if (rc !== FLASH_OK) throw new RangeError(`NorFlash.read: ${len} bytes at ${addr} outside the partition`);
    return out;
  }

  /** read() into a caller's buffer: FLASH_OK or FLASH_ERR_RANGE. */
  readInto(addr: number, out: Uint8Array): number {
    this.checkPower();
    if (!this.inRange(addr, out.length)) return FLASH_ERR_RANGE;
    out.set(this.image.subarray(addr, addr + out.length));
    if (this.weakBytes > 0) {
      const weak = this.weak!;
      for (let i = 0; i < out.length; i++) {
        const w = weak[addr + i];
        if (w !== 0) out[i] = (out[i] & ~w) | (this.rng.u32() & w);
      }
    }
    return FLASH_OK;
  }

  program(addr: number, data: Uint8Array): number {
    this.checkPower();
    const len = data.length;
    if (!this.inRange(addr, len)) return FLASH_ERR_RANGE;
    if (addr % this.progSize !== 0 || len % this.progSize !== 0) return FLASH_ERR_ALIGN;
    if (len === 0) return FLASH_OK;
    this.programs++;
    if (this.takeCut()) {
      let landed: number;
      if (this.model === 'atomic') {
        landed = this.rng.chance(0.5) ? len : 0;
      } else {
        landed = this.tearPoint(len);
        if (this.model === 'flaky') {
          // The unit being programmed when power went: the bits it was clearing are left
          // half-programmed.
          const unitEnd = Math.min(len, (Math.floor(landed / this.progSize) + 1) * this.progSize);
          for (let i = landed; i < unitEnd; i++) this.makeWeak(addr + i, this.image[addr + i] & ~data[i] & 0xff);
        }
      }
      this.programBytes(addr, data, landed);
      return this.cut({ op: 'program', target: addr, length: len, landed });
    }
    this.programBytes(addr, data, len);
    this.bytesProgrammed += len;
    return FLASH_OK;
  }

  erase(sector: number): number {
    this.checkPower();
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.sectorCount) return FLASH_ERR_RANGE;
    this.erases++;
    this.erasesPerSector[sector]++;
    const base = sector * this.sectorSize;
    if (this.takeCut()) {
      let landed: number;
      if (this.model === 'atomic') {
        landed = this.rng.chance(0.5) ? this.sectorSize : 0;
      } else {
        landed = this.tearPoint(this.sectorSize);
        if (this.model === 'flaky') {
          // The bits that were on their way from 0 to 1 at the boundary are left half-erased.
          const unitEnd = Math.min(this.sectorSize, (Math.floor(landed / this.progSize) + 1) * this.progSize);
          for (let i = landed; i < unitEnd; i++) this.makeWeak(base + i, ~this.image[base + i] & 0xff);
        }
      }
      this.eraseBytes(base, landed);
      return this.cut({ op: 'erase', target: sector, length: this.sectorSize, landed });
    }
    this.eraseBytes(base, this.sectorSize);
    return FLASH_OK;
  }

  /** How many bytes of an interrupted operation of len bytes land: 0..len-1. */
  private tearPoint(len: number): number {
    const r = this.rng.next();
    if (r < 0.25) return 0;
    if (r < 0.5) return Math.max(0, len - 1 - this.rng.int(0, this.progSize - 1));
    return this.rng.int(0, len - 1);
  }

  private inRange(addr: number, len: number): boolean {
    return Number.isInteger(addr) && Number.isInteger(len) && addr >= 0 && len >= 0 && addr + len <= this.size;
  }

  private checkPower(): void {
    if (this.off) throw new PowerCut('flash used while the power is off (call powerOn)');
  }

  /** True when this operation is the one to interrupt; counts completed ones down. */
  private takeCut(): boolean {
    if (this.remaining < 0) return false;
    if (this.remaining === 0) {
      this.remaining = -1;
      return true;
    }
    this.remaining--;
    return false;
  }

  private cut(record: CutRecord): never {
    this.lastCut = record;
    this.off = true;
    throw new PowerCut(`power cut during ${record.op} of ${record.op === 'erase' ? `sector ${record.target}` : `${record.length} bytes at ${record.target}`}`);
  }

  private programBytes(addr: number, data: Uint8Array, count: number): void {
    const image = this.image;
    const weak = this.weak;
    for (let i = 0; i < count; i++) {
      image[addr + i] &= data[i];
      // A half-programmed bit programmed to 0 is a solid 0; left at 1 it stays weak.
      if (weak !== null && weak[addr + i] !== 0) {
        weak[addr + i] &= data[i];
        if (weak[addr + i] === 0) this.weakBytes--;
      }
    }
  }

  private eraseBytes(base: number, count: number): void {
    this.image.fill(0xff, base, base + count);
    const weak = this.weak;
    if (weak !== null) {
      for (let i = base; i < base + count; i++) {
        if (weak[i] !== 0) {
          weak[i] = 0;
          this.weakBytes--;
        }
      }
    }
  }

  private makeWeak(addr: number, bits: number): void {
    if (bits === 0) return;
    this.weak ??= new Uint8Array(this.size);
    if (this.weak[addr] === 0) this.weakBytes++;
    this.weak[addr] |= bits;
    // The stored value of a weak bit is arbitrary; what reads see is drawn on each read.
    this.image[addr] = (this.image[addr] & ~bits) | (this.rng.u32() & bits);
  }
}

export interface FlashImports {
  flash_read(addr: number, ptr: number, len: number): number;
  flash_program(addr: number, ptr: number, len: number): number;
  flash_erase(sector: number): number;
}

/**
 * The three `host` imports of ABI.md over a NorFlash. Pointers are checked against the
 * module's memory (FLASH_ERR_POINTER); flash errors are returned as is; a PowerCut
 * propagates out of the module to the simulator, which treats it as the board dying.
 */
export function flashImports(getMemory: () => WebAssembly.Memory, flash: NorFlash): FlashImports {
  const span = (ptr: number, len: number): Uint8Array | null => {
    const buffer = getMemory().buffer;
    const start = ptr >>> 0;
    if (len < 0 || start + len > buffer.byteLength) return null;
    return new Uint8Array(buffer, start, len);
  };
  return {
    flash_read(addr, ptr, len) {
      const dst = span(ptr, len);
      if (dst === null) return FLASH_ERR_POINTER;
      return flash.readInto(addr >>> 0, dst);
    },
    flash_program(addr, ptr, len) {
      const src = span(ptr, len);
      if (src === null) return FLASH_ERR_POINTER;
      return flash.program(addr >>> 0, src.slice());
    },
    flash_erase(sector) {
      return flash.erase(sector >>> 0);
    },
  };
}
