// The device under test (DUT): one interface, three drivers, so every scenario is written
// once and run against the module in Node, the Linux board under real wasm3 (a process over
// real sockets), and a real board on a serial port.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { STAT } from '../../host-sim/device-host.ts';
import { Scheduler } from '../../host-sim/scheduler.ts';
import { MemoryKv, provision } from '../../host-sim/hal/kv.ts';
import { NorFlash, PowerCut } from '../../host-sim/hal/flash.ts';
import { SocketTransport } from '../../host-sim/hal/http.ts';
import { FixedPoint } from '../../host-sim/hal/gnss.ts';
import { Rng } from '../../host-sim/hal/random.ts';
import { simDevice } from '../../host-sim/sim-device.ts';
import { releaseModule, RELEASE_WASM } from '../helpers/harness.ts';
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
    const device = simDevice({
      module: releaseModule(), kv: this.kv, flash: this.flash, http: this.http,
      gnss: { route: new FixedPoint(47.3769, 8.5417), options: { timeoutRate: 0 } },
      rng: this.rng,
      log: (_level, line) => { this.lines.push(line); recordLogLine(line); },
      board: { dev: true, firmware: 'hil', faultInjection: r.trapEvery !== undefined },
      scheduler: sched,
    });
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

export const LINUX_BOARD = 'build/boards/native/trackagent-linux';

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

/** The rig's TLS: a CA the board is given, and the server certificate and key it signed. */
export interface SerialTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * A real board (ESP32) on a serial port, built with CONFIG_TRACKAGENT_TEST_CONSOLE
 * (boards/esp32/README.md, "Console (test rigs)"). It cannot run here (no hardware).
 * The driver waits for the board's READY line (it carries the SHA-256 of the module the
 * board was flashed with: a board running another module than build/trackagent.wasm is
 * refused as a stale flash), then `erase`, `cacert ...` (TLS only) and
 * `provision <key> <value>` make a fresh device, and `run <hours> [trap-every N]` runs it
 * in virtual time and ends with one `SUMMARY {json}` line, the Linux board's fields.
 * With `tls`, the board reaches the fake cloud through a TLS proxy on the rig (its
 * certificate signed by `tls.caPem`, which the board is given), so the scenarios run over
 * HTTPS. A power cut needs a rig that switches the supply: TRACKAGENT_SERIAL_POWER_CYCLE
 * names a command that does; the driver then reopens the port (the USB adapter drops off
 * the bus with the power) and waits for READY again. Select the driver with
 * TRACKAGENT_SERIAL_PORT=/dev/ttyUSB0; the board reaches the fake cloud at
 * TRACKAGENT_CLOUD_HOST.
 */
export class SerialBoardDut implements DeviceUnderTest {
  readonly name: string;
  private lines: string[] = [];
  private fd: number | null = null;
  private pending = '';
  private checked = false;
  private proxy: tls.Server | null = null;

  constructor(private port: string, private tlsRig: SerialTls | null = null) {
    this.name = tlsRig ? 'serial-board-tls' : 'serial-board';
  }

  private open(): number {
    if (this.fd !== null) return this.fd;
    // Raw, no echo (the board's own lines must not come back to it as commands), and the
    // port stays open: reopening toggles DTR/RTS, which some adapters turn into a reset.
    execFileSync('stty', ['-F', this.port, '115200', 'raw', '-echo', '-hupcl']);
    this.fd = fs.openSync(this.port, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
    return this.fd;
  }

  private close() {
    if (this.fd !== null) { try { fs.closeSync(this.fd); } catch { /* the device went away */ } }
    this.fd = null;
    this.pending = '';
  }

  /** Non-blocking reads, so the fake cloud in this process keeps answering the board. `poke`
   * is sent every 2 s while waiting (a board that booted before the port opened). */
  private async readUntil(until: RegExp, timeoutMs: number, what: string, poke?: string): Promise<RegExpExecArray> {
    const chunk = Buffer.alloc(4096);
    const deadline = Date.now() + timeoutMs;
    let nextPoke = Date.now();
    for (;;) {
      const fd = this.open();
      if (poke !== undefined && Date.now() >= nextPoke) {
        try { fs.writeSync(fd, poke + '\n'); } catch { /* not up yet */ }
        nextPoke = Date.now() + 2000;
      }
      let n = 0;
      try { n = fs.readSync(fd, chunk, 0, chunk.length, null); } catch { n = 0; }
      if (n > 0) {
        this.pending += chunk.subarray(0, n).toString('utf8');
        let nl: number;
        while ((nl = this.pending.indexOf('\n')) >= 0) {
          const line = this.pending.slice(0, nl).replace(/\r$/, '');
          this.pending = this.pending.slice(nl + 1);
          this.lines.push(line);
          recordLogLine(line);
          const m = until.exec(line);
          if (m) return m;
        }
      }
      if (Date.now() > deadline) throw new Error(`serial board on ${this.port}: no ${what} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits for READY (boot and Wi-Fi take seconds; opening the port may reset the board)
   * and refuses a board flashed with another module than the one under test. */
  private async waitReady(what: string) {
    const m = await this.readUntil(/^READY trackagent test console: module=([0-9a-f]{16})\b/, 60_000, what, 'ready');
    const want = createHash('sha256').update(fs.readFileSync(RELEASE_WASM)).digest('hex').slice(0, 16);
    if (m[1] !== want) {
      throw new Error(`serial board on ${this.port} runs module ${m[1]}, build/trackagent.wasm is ${want}: stale flash, flash the board again (boards/esp32/README.md)`);
    }
  }

  private async command(text: string, until: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    fs.writeSync(this.open(), text + '\n');
    return this.readUntil(until, timeoutMs, `answer to '${text.split(' ')[0]}'`);
  }

  /** A TLS endpoint on the rig in front of the plain fake cloud at `url`; returns its URL. */
  private async startProxy(url: string): Promise<string> {
    const target = new URL(url);
    const rig = this.tlsRig!;
    this.proxy = tls.createServer({ cert: rig.certPem, key: rig.keyPem }, (sock) => {
      const up = net.connect(Number(target.port), target.hostname);
      sock.pipe(up).pipe(sock);
      const end = () => { sock.destroy(); up.destroy(); };
      sock.on('error', end);
      up.on('error', end);
    });
    await new Promise<void>((res) => this.proxy!.listen(0, target.hostname, () => res()));
    const port = (this.proxy.address() as net.AddressInfo).port;
    return `https://${target.hostname}:${port}`;
  }

  async provision(id: DutIdentity) {
    if (!this.checked) { await this.waitReady('READY'); this.checked = true; }
    // Drain what the board printed before (a stale answer must not match).
    await this.readUntil(/^\u0000never$/, 300, 'quiet').catch(() => undefined);
    const answer = async (cmd: string) => {
      const m = await this.command(cmd, /^(ok|error .*)$/, 10_000);
      if (m[1] !== 'ok') throw new Error(`serial board: '${cmd.split(' ').slice(0, 2).join(' ')}' answered ${m[1]}`);
    };
    await answer('erase'); // a fresh device: no counters, ids or rotated key of an earlier run
    let environment = id.environment;
    if (this.tlsRig) {
      if (!this.proxy) environment = await this.startProxy(id.environment);
      await answer('cacert begin');
      for (const line of this.tlsRig.caPem.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('-----'))) {
        await answer(`cacert add ${line}`);
      }
      await answer('cacert end');
    }
    for (const [k, v] of Object.entries({ ...id, environment })) await answer(`provision ${k} ${v}`);
  }

  async run(r: DutRun): Promise<DutSummary | null> {
    const cmd = `run ${r.hours}${r.trapEvery ? ` trap-every ${r.trapEvery}` : ''}`;
    if (r.cutAfterFlashOps !== undefined) {
      const cycle = process.env.TRACKAGENT_SERIAL_POWER_CYCLE;
      if (!cycle) throw new Error('serial board: a power cut needs TRACKAGENT_SERIAL_POWER_CYCLE, a command that switches the board\'s supply off and on');
      fs.writeSync(this.open(), cmd + '\n');
      // Cut once the board has written about that many records (four flash operations each at most).
      const target = Math.ceil(r.cutAfterFlashOps / 4);
      for (;;) {
        const m = await this.command('summary', /^SUMMARY (\{.*\})$/, 10_000);
        if (JSON.parse(m[1]).uplinksRecorded >= target) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      // The supply goes, and with it the USB adapter of most boards: the port disappears
      // and comes back as a new device. Close it, wait for it, open it again.
      this.close();
      execFileSync('bash', ['-c', cycle]);
      const back = Date.now() + 30_000;
      while (!fs.existsSync(this.port)) {
        if (Date.now() > back) throw new Error(`serial board: ${this.port} did not come back within 30 s of the power cycle`);
        await new Promise((res) => setTimeout(res, 200));
      }
      await this.waitReady('READY after the power cycle');
      return null;
    }
    const m = await this.command(cmd, /^SUMMARY (\{.*"running":false.*\})$/, 900_000);
    const j = JSON.parse(m[1]);
    if (j.error) throw new Error(`serial board: run failed: ${j.error}`);
    return { uplinksRecorded: j.uplinksRecorded, buffered: j.buffered, resets: j.resets, dropped: j.dropped, lastUplinkId: j.lastUplinkId, boots: j.boots, traps: j.traps };
  }

  logs() { return this.lines; }
  async dispose() {
    this.close();
    if (this.proxy) await new Promise<void>((res) => this.proxy!.close(() => res()));
    this.proxy = null;
  }
}

/** The rig's TLS files (TRACKAGENT_TEST_CA, _TLS_CERT, _TLS_KEY: PEM paths), or null. */
function serialTls(): SerialTls | null {
  const ca = process.env.TRACKAGENT_TEST_CA, cert = process.env.TRACKAGENT_TEST_TLS_CERT, key = process.env.TRACKAGENT_TEST_TLS_KEY;
  if (!ca || !cert || !key) return null;
  return { caPem: fs.readFileSync(ca, 'utf8'), certPem: fs.readFileSync(cert, 'utf8'), keyPem: fs.readFileSync(key, 'utf8') };
}

/** The drivers CI runs (node, linux board when built), plus the serial one when a port is named. */
export interface DutDriver {
  name: string;
  make: () => DeviceUnderTest;
  /** Why it cannot run here, if it cannot. */
  skip?: string;
  /** Per-scenario time limit, ms. */
  timeoutMs: number;
  /** Scenarios this device cannot run, by name prefix, with the reason. */
  cannot?: Record<string, string>;
}

export function availableDuts(): DutDriver[] {
  const list: DutDriver[] = [
    { name: 'node', make: () => new NodeDut(), timeoutMs: 120_000 },
    {
      name: 'linux-board', make: () => new LinuxBoardDut(),
      skip: fs.existsSync(LINUX_BOARD) ? undefined : `${LINUX_BOARD} is not built: run npm run build:board`,
      timeoutMs: 120_000,
    },
  ];
  const port = process.env.TRACKAGENT_SERIAL_PORT;
  // A thousand module re-instantiations on an ESP32 take far longer than a test should.
  const cannot = { '1,000 traps': 'about 1,000 re-instantiations of the module on the board' };
  list.push({
    name: 'serial-board', make: () => new SerialBoardDut(port ?? ''), skip: port ? undefined : 'no TRACKAGENT_SERIAL_PORT (needs a real board)',
    timeoutMs: 1_200_000, cannot,
  });
  const rigTls = port ? serialTls() : null;
  list.push({
    name: 'serial-board-tls', make: () => new SerialBoardDut(port ?? '', rigTls), timeoutMs: 1_200_000, cannot,
    skip: !port ? 'no TRACKAGENT_SERIAL_PORT (needs a real board)'
      : rigTls ? undefined : 'no TRACKAGENT_TEST_CA, TRACKAGENT_TEST_TLS_CERT and TRACKAGENT_TEST_TLS_KEY (the rig\'s TLS files)',
  });
  return list;
}
