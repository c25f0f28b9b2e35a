// The one place that wires a simulated device: the module (compiled once per file), a
// DeviceHost over its HAL (key-value store, NOR flash, HTTP transport, GNSS, randomness,
// battery, log) and its place in a scheduler. The fleet, the device command, the test
// harness, the hardware-in-the-loop driver, the benchmarks and the power-cut proof all build
// their devices here; what differs between them (which flash, which transport, which route,
// which seeds) is a part they hand in.
import fs from 'node:fs';
import { DeviceHost, type BoardSettings, type DeviceHal, type RawFlash } from './device-host.ts';
import { MemoryKv, provision, type Identity, type KvStore } from './hal/kv.ts';
import { NorFlash, type FlashModel } from './hal/flash.ts';
import type { HttpTransport } from './hal/http.ts';
import { Gnss, type GnssOptions, type MotionSource } from './hal/gnss.ts';
import type { Rng } from './hal/random.ts';
import type { Scheduler } from './scheduler.ts';
import { EnergyMeter, MeteredTransport, type RadioKind } from './hal/energy.ts';

/** The release module, as `npm run build` writes it. */
export const DEFAULT_WASM = 'build/trackagent.wasm';

/** Compiles a module file; the errors say what to do. */
export function loadModule(path = DEFAULT_WASM): WebAssembly.Module {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch {
    throw new Error(`cannot read the module ${path}: run npm run build first, or pass --wasm FILE`);
  }
  try {
    return new WebAssembly.Module(new Uint8Array(bytes));
  } catch (e) {
    throw new Error(`${path} is not a valid WebAssembly module (${(e as Error).message}): rebuild it with npm run build`);
  }
}

const compiled = new Map<string, WebAssembly.Module>();
/** The module of a file, compiled once per process (every device of a run shares it). */
export function sharedModule(path = DEFAULT_WASM): WebAssembly.Module {
  let m = compiled.get(path);
  if (!m) {
    m = loadModule(path);
    compiled.set(path, m);
  }
  return m;
}

export interface FlashGeometry {
  sectorSize: number;
  sectorCount: number;
  progSize: number;
}

/** A NOR flash to make: its geometry, power-loss model (default atomic), tear seed, content. */
export interface FlashSpec extends FlashGeometry {
  model?: FlashModel;
  seed?: number;
  image?: Uint8Array;
}

/** GNSS to make: the route it follows, its randomness (default the device's), its timing. */
export interface GnssSpec {
  route: MotionSource;
  rng?: Rng;
  options?: GnssOptions;
}

/** Battery level when the caller names none: a constant, so that nothing depends on it. */
export const STEADY_BATTERY_PERCENT = 87;

export interface SimDeviceParts {
  /** Default: the release module, compiled once. */
  module?: WebAssembly.Module;
  board: BoardSettings;
  /** Default: an empty in-memory store. */
  kv?: KvStore;
  /** Written into `kv` before the device exists (a factory-provisioned board). */
  identity?: Identity;
  flash: RawFlash | FlashSpec;
  http: HttpTransport;
  rng: Rng;
  gnss: Gnss | GnssSpec;
  /** A percentage, or a function of time. Default STEADY_BATTERY_PERCENT. */
  battery?: number | (() => number);
  /** One module log line (level 0 error .. 3 debug). Default: dropped. */
  log?: (level: number, line: string) => void;
  /** Added to this scheduler (not booted: the caller decides when it powers on). */
  scheduler?: Scheduler;
  /**
   * Charge the device for what it does (hal/energy.ts): a meter, or the radio and battery
   * of a new one. The transport is then wrapped to report every exchange; GNSS its on-time.
   */
  energy?: EnergyMeter | { radio: RadioKind; batteryMah?: number };
  /** A DeviceHost subclass with hooks (the proof's, the chaos world's). */
  host?: (module: WebAssembly.Module, hal: DeviceHal, board: BoardSettings) => DeviceHost;
}

/** One simulated device; its store and flash are `device.hal.kv` and `device.hal.flash`. */
export function simDevice(p: SimDeviceParts): DeviceHost {
  const kv = p.kv ?? new MemoryKv();
  if (p.identity) provision(kv, p.identity);
  const flash = p.flash instanceof NorFlash ? p.flash : new NorFlash({ model: 'atomic', ...p.flash });
  const gnss = p.gnss instanceof Gnss ? p.gnss : new Gnss(p.gnss.route, p.gnss.rng ?? p.rng, p.gnss.options);
  const level = p.battery ?? STEADY_BATTERY_PERCENT;
  const energy = p.energy === undefined || p.energy instanceof EnergyMeter ? p.energy : new EnergyMeter(p.energy.radio, p.energy.batteryMah);
  // The device's virtual time, once it exists (the transport asks only during an exchange).
  let device: DeviceHost | undefined;
  const http = energy ? new MeteredTransport(p.http, energy, () => device!.currentNow + device!.bootAt) : p.http;
  if (energy) gnss.onAcquire = (ms) => energy.gnssOn(ms);
  const hal: DeviceHal = {
    kv,
    flash,
    http,
    energy,
    gnss,
    rng: p.rng,
    battery: typeof level === 'number' ? () => level : level,
    log: p.log ?? (() => {}),
  };
  const module = p.module ?? sharedModule();
  device = p.host ? p.host(module, hal, p.board) : new DeviceHost(module, hal, p.board);
  p.scheduler?.add(device);
  return device;
}
