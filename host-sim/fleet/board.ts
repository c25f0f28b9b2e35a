// One simulated board as the fleet and device commands build it: the release module, a NOR
// flash partition, a key-value store, a transport, GNSS over a route, a battery that drains
// and gets recharged, seeded from the board's seed; wired by sim-device.ts. The only place
// the fleet and device commands make a flash: swap it here.
import type { DeviceHost, BoardSettings, RawFlash } from '../device-host.ts';
import type { KvStore } from '../hal/kv.ts';
import type { HttpTransport } from '../hal/http.ts';
import { RandomWalk, type GnssOptions, type MotionSource } from '../hal/gnss.ts';
import { NorFlash } from '../hal/flash.ts';
import { Rng } from '../hal/random.ts';
import { simDevice, type FlashGeometry } from '../sim-device.ts';
import type { RadioKind } from '../hal/energy.ts';

/** 16 x 4 KiB: a small log partition, so that a thousand boards fit in memory. */
export const FLEET_FLASH: FlashGeometry = { sectorSize: 4096, sectorCount: 16, progSize: 4 };
/** 32 x 4 KiB for the single device command. */
export const DEVICE_FLASH: FlashGeometry = { sectorSize: 4096, sectorCount: 32, progSize: 4 };

export type SimFlash = RawFlash & { readonly image: Uint8Array };

/** The flash of a simulated board; `image` is its content (to keep it in a file). */
export function makeFlash(g: FlashGeometry, image?: Uint8Array): SimFlash {
  return new NorFlash({ ...g, model: 'atomic', image });
}

/** Seeds derived from the run's seed and a device index: independent streams per device. */
export function deviceSeed(seed: number, index: number, stream: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (index + 0x632be5ab), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (stream * 0x27d4eb2f + (h >>> 13)), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A battery that drains while the board runs and is recharged from time to time. */
export function drainingBattery(rng: Rng, nowMs: () => number): () => number {
  const start = 40 + rng.int(0, 60);
  const drainPerHour = 0.5 + rng.next() * 2;
  return () => {
    const used = (nowMs() / 3_600_000) * drainPerHour;
    const span = 100 - 15; // recharged to 100 % when it reaches 15 %
    const level = start - used;
    return Math.round(level >= 15 ? level : 100 - ((15 - level) % span));
  };
}

export interface BoardParts {
  module: WebAssembly.Module;
  kv: KvStore;
  flash: RawFlash;
  http: HttpTransport;
  route?: MotionSource;
  gnss?: GnssOptions;
  board: BoardSettings;
  seed: number;
  /** Simulation time for the battery (ms). */
  simNow: () => number;
  log: (level: number, line: string) => void;
  /** Charge the board's energy with this radio and battery (hal/energy.ts). */
  energy?: { radio: RadioKind; batteryMah: number };
}

/** One board: a DeviceHost over its HAL, each part seeded from the board's seed. */
export function makeBoard(p: BoardParts): DeviceHost {
  const rng = new Rng(p.seed);
  const route = p.route ?? new RandomWalk(new Rng(p.seed ^ 0x5bd1e995));
  return simDevice({
    module: p.module,
    kv: p.kv,
    flash: p.flash,
    http: p.http,
    gnss: { route, rng: new Rng(p.seed ^ 0x1b873593), options: p.gnss },
    rng,
    battery: drainingBattery(new Rng(p.seed ^ 0xcc9e2d51), p.simNow),
    log: p.log,
    board: p.board,
    energy: p.energy,
  });
}
