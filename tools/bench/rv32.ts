// The RV32 target's figures (boards/riscv/run.sh measure): the glue, wasm3 and the release
// module bare-metal on qemu-system-riscv32 (rv32imc, an ESP32-C3-class core), 24 virtual
// hours on the simulated platform, eager and lazy compile. Deterministic (minstret under
// -icount): the same build gives the same figures. Asynchronous, as wasm3Figures: a few
// seconds of QEMU, plus the cross build the first time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Rv32Run {
  compile: 'eager' | 'lazy';
  hours: number;
  uplinksAcked: number;
  bootInstructions: number;
  rebootInstructions: number;
  instructionsPerAckedUplink: number;
  heapPeakBytes: number;
  heapAfterBootBytes: number;
  nativeStackPeakBytes: number;
  wasmStackPeakBytes: number;
}

export interface Rv32Figures {
  target: string;
  codeBytes: { wasm3: number; glue: number };
  eager: Rv32Run;
  lazy: Rv32Run;
}

export async function rv32Figures(): Promise<Rv32Figures> {
  const { stdout } = await execFileAsync('bash', ['boards/riscv/run.sh', 'measure'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as Rv32Figures;
}
