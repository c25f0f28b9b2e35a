// The device under test (DUT): one interface, three drivers, so every scenario is written
// once and run against the module in Node, the Linux board under real wasm3 (a process over
// real sockets), and a real board on a serial port.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeviceHost, STAT } from '../../host-sim/device-host.ts';
import { Scheduler } from '../../host-sim/scheduler.ts';
import { MemoryKv, provision } from '../../host-sim/hal/kv.ts';
import { NorFlash, PowerCut } from '../../host-sim/hal/flash.ts';
import { SocketTransport } from '../../host-sim/hal/http.ts';
import { Gnss, FixedPoint } from '../../host-sim/hal/gnss.ts';
import { Rng } from '../../host-sim/hal/random.ts';
import { releaseModule } from '../helpers/harness.ts';
import { recordLogLine } from '../helpers/secrets-log.ts';

export interface DutIdentity {
  environment: string;
  tenantId: string;
  deviceId: string;
  apiKey: string;
  resetSecret: string;
}

export interface DutRun {
  /** Virtual hours to run. */
  hours: number;
  /** Cut the power part-way (after about this many flash operations): no summary then. */
  cutAfterFlashOps?: number;
  trapEvery?: number;
}

/** What a run reports (the subset every driver can give), from the module's agent_stat. */
export interface DutSummary {
  uplinksRecorded: number;
  buffered: number;
  resets: number;
  dropped: number;
  lastUplinkId: number;
  boots: number;
  traps: number;
}

export interface DeviceUnderTest {
  readonly name: string;
  /** Provisions an empty device (identity in its key-value store, blank flash). */
  provision(id: DutIdentity): Promise<void>;
  /** Powers on, runs, powers off. Returns null when the run ended in a power cut. */
  run(r: DutRun): Promise<DutSummary | null>;
  /** Every log line the device printed so far. */
  logs(): string[];
  dispose(): Promise<void>;
}

const GEOMETRY = { sectorSize: 4096, sectorCount: 64, progSize: 4 };

/** The release module in Node: DeviceHost over real sockets, in virtual time. */
export class NodeDut implements DeviceUnderTest {
  readonly name = 'node';
  private kv = new MemoryKv();
  private flash = new NorFlash({ ...GEOMETRY, model: 'torn', seed: 7 });
  private http = new SocketTransport({ realTimeoutCapMs: 300 });
  private lines: string[] = [];
  private rng = new Rng(7);

  async provision(id: DutIdentity) {
    provision(this.kv, id);
  }

  async run(r: DutRun): Promise<DutSummary | null> {
    const sched = new Scheduler(Date.now());
    const device = new DeviceHost(releaseModule(), {
      kv: this.kv, flash: this.flash, http: this.http,
      gnss: new Gnss(new FixedPoint(47.3769, 8.5417), this.rng, { timeoutRate: 0 }),
      rng: this.rng, battery: () => 87,
      log: (_level, line) => { this.lines.push(line); recordLogLine(line); },
    }, { dev: true, firmware: 'hil', faultInjection: r.trapEvery !== undefined });
    sched.add(device);
    if (sched.boot(device) !== 0) throw new Error(`node DUT did not start: ${this.lines.at(-1)}`);
    if (r.cutAfterFlashOps !== undefined) this.flash.cutAfter(r.cutAfterFlashOps);
    if (r.trapEvery) {
      // As the Linux board's --trap-every: debug_trap after every Nth step.
      let steps = 0;
      const step = device.step.bind(device);
      device.step = (now: number) => {
        step(now);
        if (++steps % r.trapEvery! === 0) device.injectTrap(now);
      };
    }
    try {
      await sched.runUntil(r.hours * 3_600_000);
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
      this.flash.powerOn();
      return null;
    }
    const s = (k: keyof typeof STAT) => device.stat(STAT[k]);
    return { uplinksRecorded: s('recorded'), buffered: s('buffered'), resets: s('resets'), dropped: s('dropped'), lastUplinkId: s('lastId'), boots: s('boots'), traps: s('traps') };
  }

  logs() { return this.lines; }
  async dispose() { this.http.close(); }
}

export const LINUX_BOARD = 'boards/linux/target/release/trackagent-linux';

/** The Linux board: the release module under real wasm3, as a process over real sockets. */
export class LinuxBoardDut implements DeviceUnderTest {
  readonly name = 'linux-board';
  private dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackagent-hil-'));
  private identity: DutIdentity | null = null;
  private lines: string[] = [];

  async provision(id: DutIdentity) {
    this.identity = id;
  }

  run(r: DutRun): Promise<DutSummary | null> {
    const id = this.identity!;
    const args = [
      '--environment', id.environment, '--tenant', id.tenantId, '--device', id.deviceId,
      '--api-key', id.apiKey, '--reset-secret', id.resetSecret, '--dev', '--firmware', 'hil',
      '--hours', String(r.hours), '--flash', path.join(this.dir, 'flash.img'), '--json', '--log-level', '2',
      '--http-wait-ms', '300', '--seed', '7',
    ];
    if (r.trapEvery) args.push('--fault-injection', '--trap-every', String(r.trapEvery));
    if (r.cutAfterFlashOps !== undefined) args.push('--power-cut-after', String(r.cutAfterFlashOps));
    return new Promise((resolve, reject) => {
      const child = spawn(LINUX_BOARD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      child.on('error', reject);
      child.on('close', (code) => {
        for (const line of err.split('\n').filter(Boolean)) { this.lines.push(line); recordLogLine(line); }
        if (code === 137 && r.cutAfterFlashOps !== undefined) return resolve(null); // the board's simulated power cut
        if (code !== 0) return reject(new Error(`linux board exited ${code}: ${err.trim().split('\n').at(-1)}`));
        const j = JSON.parse(out);
        resolve({ uplinksRecorded: j.uplinksRecorded, buffered: j.buffered, resets: j.resets, dropped: j.dropped, lastUplinkId: j.lastUplinkId, boots: j.boots, traps: j.traps });
      });
    });
  }

  logs() { return this.lines; }
  async dispose() { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

/**
 * A real board (ESP32) on a serial port. It cannot run here (no hardware): the driver is
 * written against the ESP32 port's console (boards/esp32/README.md, "Console"):
 * provisioning writes `provision <key> <value>` lines, `run <hours>` starts a run in
 * virtual time, and the board answers with one `SUMMARY {json}` line, the same JSON as the
 * Linux board's --json. A power cut is the serial adapter's DTR line (EN pin) pulled low.
 * Select it with TRACKAGENT_SERIAL_PORT=/dev/ttyUSB0.
 */
export class SerialBoardDut implements DeviceUnderTest {
  readonly name = 'serial-board';
  private lines: string[] = [];
  constructor(private port: string) {}

  private async exchange(command: string, until: RegExp, timeoutMs: number): Promise<string> {
    const fd = fs.openSync(this.port, 'r+');
    try {
      fs.writeSync(fd, command + '\n');
      const deadline = Date.now() + timeoutMs;
      let buf = '';
      const chunk = Buffer.alloc(4096);
      while (Date.now() < deadline) {
        let n = 0;
        try { n = fs.readSync(fd, chunk, 0, chunk.length, null); } catch { n = 0; }
        if (n > 0) buf += chunk.subarray(0, n).toString('utf8');
        const m = until.exec(buf);
        if (m) { this.lines.push(...buf.split('\n')); return m[1] ?? m[0]; }
        if (n === 0) await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`serial board on ${this.port}: no answer to '${command.split(' ')[0]}' within ${timeoutMs} ms`);
    } finally {
      fs.closeSync(fd);
    }
  }

  async provision(id: DutIdentity) {
    for (const [k, v] of Object.entries(id)) await this.exchange(`provision ${k} ${v}`, /^ok$/m, 5_000);
  }

  async run(r: DutRun): Promise<DutSummary | null> {
    const json = await this.exchange(`run ${r.hours}`, /^SUMMARY (\{.*\})$/m, 600_000);
    return JSON.parse(json) as DutSummary;
  }

  logs() { return this.lines; }
  async dispose() {}
}

/** The drivers CI runs (node, linux board when built), plus the serial one when a port is named. */
export function availableDuts(): { name: string; make: () => DeviceUnderTest; skip?: string }[] {
  const list: { name: string; make: () => DeviceUnderTest; skip?: string }[] = [
    { name: 'node', make: () => new NodeDut() },
    {
      name: 'linux-board', make: () => new LinuxBoardDut(),
      skip: fs.existsSync(LINUX_BOARD) ? undefined : `${LINUX_BOARD} is not built: run npm run build:board`,
    },
  ];
  const port = process.env.TRACKAGENT_SERIAL_PORT;
  list.push({ name: 'serial-board', make: () => new SerialBoardDut(port ?? ''), skip: port ? undefined : 'no TRACKAGENT_SERIAL_PORT (needs a real board)' });
  return list;
}
