// `trackagent-sim device`: one simulated tracker against any cloud, real or fake, in virtual
// time (default) or wall-clock time (--realtime). With --flash FILE its flash image (FILE) and
// key-value store (FILE.kv) outlive the run, like a board's.
import fs from 'node:fs';
import { STAT, type DeviceHost } from './device-host.ts';
import { Scheduler } from './scheduler.ts';
import { FileKv, MemoryKv, provision, type KvStore } from './hal/kv.ts';
import { NET_BROKEN, NET_REFUSED, NET_TIMEOUT, NET_TLS, SocketTransport, type HttpRequest, type HttpResult, type HttpTransport } from './hal/http.ts';
import { Rng } from './hal/random.ts';
import { DEVICE_FLASH, deviceSeed, makeBoard, makeFlash, type SimFlash } from './fleet/board.ts';
import { DEFAULT_WASM, loadModule } from './sim-device.ts';
import { routeFor } from './fleet/motion.ts';
import { hhmm } from './fleet/summary.ts';
import { PROG, fail, parse, positiveNumber, why, writableFile } from './cli-util.ts';

export const DEVICE_HELP = `Usage: ${PROG} device [flags]

Runs one simulated tracker (the release module, build/trackagent.wasm) against a cloud, real
or fake, for a virtual duration (a day takes seconds) or in wall-clock time (--realtime).
It exits 0 when the duration ends and the cloud answered (whatever it answered); 1 when the
cloud never answered at all (wrong address or port, nothing listening); 2 for bad flags or a
broken store.

Identity (provisions an empty store; all five are needed unless --flash FILE holds one):
  --environment URL     the cloud, e.g. https://api.example.com (http:// needs --dev)
  --tenant ID           tenant id
  --device ID           device id
  --api-key KEY         the device's API key
  --reset-secret SECRET the device's reset secret
  --allow-host HOST     a host a connection reset may move the device to (repeatable)
  --dev                 development board: accepts an http:// environment

Run:
  --hours H             virtual hours to run (default 24; with --realtime, wall-clock hours)
  --realtime            follow the wall clock (for a real cloud) instead of jumping ahead
  --flash FILE          keep the flash image in FILE and the key-value store in FILE.kv across
                        runs; a store that already holds an identity wins over the flags (with
                        a notice): it may hold a rotated key
  --json                print the summary as one JSON object on stdout
  -h, --help            this help

The module's log goes to stderr, stamped with the device's virtual time.

Virtual time against a cloud on the wall clock (a real one, or '${PROG} cloud') stamps
uplinks ahead of the cloud's own time: hours of uplinks are recorded in seconds. The run
says so when the gap passes 5 minutes; --realtime keeps device and cloud in step.
Example, against a fake cloud started with '${PROG} cloud --provision trk-1':
  ${PROG} device --environment http://127.0.0.1:8080 --dev --tenant demo --device trk-1 \\
    --api-key ak_... --reset-secret rs_... --realtime --hours 0.1
`;

const IDENTITY_FLAGS = ['environment', 'tenant', 'device', 'api-key', 'reset-secret'] as const;
const LEVELS = ['error', 'warn', 'info', 'debug'];
/** Device clock ahead of the cloud's Date header by more than this: said, once. */
const CLOCK_AHEAD_NOTICE_MS = 5 * 60_000;
const NET_NAMES: Record<number, string> = { [NET_TIMEOUT]: 'timed out', [NET_REFUSED]: 'connection refused or host not found', [NET_BROKEN]: 'connection broken', [NET_TLS]: 'TLS failed' };

/**
 * The board's transport, watched: how many requests got an HTTP answer and how the others
 * failed, and how far the simulation's clock ran ahead of the cloud's Date header.
 */
class WatchedTransport implements HttpTransport {
  answers = 0;
  readonly failures: Record<string, number> = {};
  aheadMs = 0;
  constructor(private readonly inner: HttpTransport, private readonly simUtc: () => number, private readonly onAhead: (ms: number) => void) {}
  get connectionsOpened() { return this.inner.connectionsOpened; }
  async request(req: HttpRequest): Promise<HttpResult> {
    const r = await this.inner.request(req);
    if (r.status > 0) {
      this.answers++;
      const date = Date.parse(r.headers['date'] ?? '');
      if (Number.isFinite(date)) {
        const ahead = this.simUtc() - date;
        if (ahead > this.aheadMs) {
          if (ahead > CLOCK_AHEAD_NOTICE_MS && this.aheadMs <= CLOCK_AHEAD_NOTICE_MS) this.onAhead(ahead);
          this.aheadMs = ahead;
        }
      }
    } else {
      const name = NET_NAMES[r.status] ?? `transport error ${r.status}`;
      this.failures[name] = (this.failures[name] ?? 0) + 1;
    }
    return r;
  }
  close() { this.inner.close(); }
}

/** A duration as hours and minutes, for messages. */
function span(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}

export async function runDeviceCommand(argv: string[]): Promise<number> {
  const f = parse('device', argv, {
    environment: { type: 'string' },
    tenant: { type: 'string' },
    device: { type: 'string' },
    'api-key': { type: 'string' },
    'reset-secret': { type: 'string' },
    'allow-host': { type: 'string', multiple: true },
    dev: { type: 'boolean' },
    hours: { type: 'string' },
    realtime: { type: 'boolean' },
    flash: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (f.help) {
    process.stdout.write(DEVICE_HELP);
    return 0;
  }
  const hours = positiveNumber('device', 'hours', f.hours, 24, 24 * 366);
  for (const h of f['allow-host'] ?? []) {
    if (!/^[A-Za-z0-9.-]{1,253}$/.test(h)) fail(`device: --allow-host '${h}' is not a host name`, 'give a bare host name such as api.example.com');
  }

  // ---- the store: given file or memory; identity from the store or from the flags ----
  let kv: KvStore;
  let flash: SimFlash;
  let damagedEntries = 0;
  const flashFile = f.flash;
  if (flashFile) {
    writableFile('device', 'flash', flashFile); // before anything: the image and FILE.kv go beside it
    // FILE.kv holds the device's keys: what this command creates is readable by this user only
    // (the store replaces its file on every set, so the mask, not a chmod, keeps it so).
    process.umask(0o077);
    try {
      if (fs.existsSync(`${flashFile}.kv`)) fs.chmodSync(`${flashFile}.kv`, 0o600);
    } catch { /* not ours to change: the store still works */ }
    try {
      const fileKv = new FileKv(`${flashFile}.kv`);
      kv = fileKv;
      damagedEntries = fileKv.damagedOnLoad;
    } catch (e) {
      const m = (e as Error).message;
      const cut = m.lastIndexOf(': ');
      fail(`device: broken store: ${cut > 0 ? m.slice(0, cut) : m}`, cut > 0 ? m.slice(cut + 2) : `repair or delete ${flashFile}.kv`);
    }
    let image: Uint8Array | undefined;
    if (fs.existsSync(flashFile)) {
      try {
        image = new Uint8Array(fs.readFileSync(flashFile));
      } catch (e) {
        fail(`device: cannot read the flash image ${flashFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions');
      }
      const size = DEVICE_FLASH.sectorSize * DEVICE_FLASH.sectorCount;
      if (image.length !== size) fail(`device: broken store: flash image ${flashFile} is ${image.length} bytes, a board has ${size}`, `restore it, or delete ${flashFile} to start with an empty log`);
    }
    flash = makeFlash(DEVICE_FLASH, image);
  } else {
    kv = new MemoryKv();
    flash = makeFlash(DEVICE_FLASH);
  }
  const dec = new TextDecoder();
  const stored = (k: string) => { const v = kv.get(k); return v === undefined ? undefined : dec.decode(v); };
  const given = IDENTITY_FLAGS.filter((k) => f[k] !== undefined);
  let identitySource: 'flags' | 'store';
  if (stored('deviceId') !== undefined) {
    identitySource = 'store';
    if (given.length > 0) {
      process.stderr.write(`${PROG}: notice: ${flashFile}.kv already holds device ${stored('deviceId')} of tenant ${stored('tenantId')}: using the stored identity (it may hold a rotated key); ${given.map((k) => `--${k}`).join(', ')} ignored\n`);
    }
  } else {
    identitySource = 'flags';
    const missing = IDENTITY_FLAGS.filter((k) => f[k] === undefined || f[k] === '');
    if (missing.length > 0) {
      fail(`device: ${missing.map((k) => `--${k}`).join(', ')} missing`, `give the device's identity (${IDENTITY_FLAGS.map((k) => `--${k}`).join(' ')})${flashFile ? '' : ' or a --flash FILE that holds one'}`);
    }
    let url: URL;
    try {
      url = new URL(f.environment!);
    } catch {
      fail(`device: --environment '${f.environment}' is not a URL`, 'give e.g. https://api.example.com');
    }
    if (url.protocol === 'http:' && !f.dev) fail(`device: --environment ${f.environment} is plain http://`, 'use https://, or add --dev for a development cloud');
    if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`device: --environment ${f.environment} is not http(s)`, 'give e.g. https://api.example.com');
    provision(kv, { tenantId: f.tenant!, deviceId: f.device!, environment: f.environment!, apiKey: f['api-key']!, resetSecret: f['reset-secret']! });
  }
  const deviceId = stored('deviceId')!;

  let module: WebAssembly.Module;
  try {
    module = loadModule(process.env.TRACKAGENT_WASM ?? DEFAULT_WASM);
  } catch (e) {
    fail(`device: ${(e as Error).message.split(': ')[0]}`, (e as Error).message.split(': ').slice(1).join(': '));
  }

  // ---- run ----
  let saveError = '';
  const saveFlash = () => {
    if (!flashFile) return;
    try {
      const tmp = `${flashFile}.tmp`;
      fs.writeFileSync(tmp, flash.image);
      fs.renameSync(tmp, flashFile);
    } catch (e) {
      if (!saveError) process.stderr.write(`${PROG}: device: cannot save the flash image ${flashFile} (${why(e)}): the uplinks buffered since the last save are in this run only\n`);
      saveError = why(e);
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    saveFlash();
    process.stderr.write(`${PROG}: ${sig}: flash image saved; stopping\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', saveFlash);

  const started = performance.now();
  const sched = new Scheduler(Date.now(), { realtime: Boolean(f.realtime) });
  let lastError = '';
  let bootLines: string[] | null = [];
  const seed = deviceSeed(hash(deviceId), 0, 7);
  const http = new WatchedTransport(new SocketTransport(), () => sched.utcNow(), (ahead) => {
    if (f.realtime) return;
    process.stderr.write(`${PROG}: notice: the cloud's clock (its Date header) runs on the wall clock, this device on virtual time: its uplinks are stamped ${span(ahead)} ahead of the cloud's time, more as the run goes; --realtime keeps them in step\n`);
  });
  const host: DeviceHost = makeBoard({
    module,
    kv,
    flash,
    http,
    route: routeFor(0, 1, seed, null),
    board: { dev: Boolean(f.dev), allowHosts: f['allow-host'], firmware: '1.0.0-sim' },
    seed: new Rng(seed).u32(),
    simNow: () => sched.now,
    log: (level, line) => {
      if (level === 0) lastError = line;
      if (level > 2) return;
      const text = `[${hhmm(sched.now)}:${String(Math.floor(sched.now / 1000) % 60).padStart(2, '0')}] ${LEVELS[level] ?? level}: ${line}\n`;
      // Until the agent has started, hold the lines: a refused start is told in one line.
      if (bootLines) bootLines.push(text);
      else process.stderr.write(text);
    },
  });
  sched.add(host);
  const rc = sched.boot(host);
  const held = bootLines;
  bootLines = null;
  if (rc === 0 && damagedEntries > 0) {
    process.stderr.write(`${PROG}: notice: ${flashFile}.kv: ${damagedEntries} damaged entries read as missing; the device fell back to its factory values for them\n`);
  }
  if (rc === 0) for (const l of held) process.stderr.write(l);
  if (rc !== 0) {
    http.close();
    const why = lastError || `agent_start returned ${rc}`;
    if (rc === -1) fail(`device: the agent refused its identity (${why})`, identitySource === 'store' ? `repair or delete ${flashFile}.kv` : 'fix the identity flags');
    if (rc === -2) fail(`device: the agent refused the board configuration (${why})`, 'fix --allow-host');
    fail(`device: the agent did not start (${why})`, identitySource === 'store' ? `repair or delete ${flashFile} and ${flashFile}.kv` : 'rebuild the module with npm run build');
  }
  const end = hours * 3_600_000;
  while (sched.now < end) {
    await sched.runUntil(Math.min(end, sched.now + 3_600_000));
    await new Promise<void>((r) => setImmediate(r));
  }
  http.close();
  saveFlash();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  const s = (w: number) => host.stat(w);
  const summary = {
    deviceId,
    tenantId: stored('tenantId'),
    identitySource,
    hours,
    realtime: Boolean(f.realtime),
    wallSeconds: +((performance.now() - started) / 1000).toFixed(3),
    uplinksRecorded: s(STAT.recorded),
    uplinksAcked: s(STAT.acked),
    buffered: s(STAT.buffered),
    resets: s(STAT.resets),
    dropped: s(STAT.dropped),
    lastUplinkId: s(STAT.lastId),
    boots: s(STAT.boots),
    traps: s(STAT.traps),
    requests: s(STAT.requests),
    connectionsOpened: http.connectionsOpened,
    httpAnswers: http.answers,
    transportFailures: http.failures,
    cloudClockAheadS: Math.max(0, Math.round(http.aheadMs / 1000)),
    state: s(STAT.state),
    utcKnown: s(STAT.utcKnown) === 1,
    backoffAttempt: s(STAT.backoffAttempt),
    settings: {
      uplinkIntervalS: s(STAT.uplinkIntervalS), movingIntervalS: s(STAT.movingIntervalS), heartbeatS: s(STAT.heartbeatS),
      backfillBatchSize: s(STAT.backfillBatchSize), gnssTimeoutS: s(STAT.gnssTimeoutS), sendIntervalS: s(STAT.sendIntervalS),
    },
    flash: flashFile ?? null,
  };
  if (f.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else {
    process.stdout.write([
      `device ${deviceId} (tenant ${summary.tenantId}, identity from the ${identitySource}): ${hours} h ${summary.realtime ? 'wall-clock' : 'virtual'} in ${summary.wallSeconds.toFixed(1)} s`,
      `  uplinks recorded ${summary.uplinksRecorded}, acknowledged ${summary.uplinksAcked}, buffered ${summary.buffered}, dropped ${summary.dropped}, last id ${summary.lastUplinkId}`,
      `  requests ${summary.requests}, connections ${summary.connectionsOpened}, key resets ${summary.resets}, boots ${summary.boots}, traps ${summary.traps}`,
      `  HTTP answers ${summary.httpAnswers}${Object.keys(http.failures).length ? `, no answer: ${Object.entries(http.failures).map(([k, n]) => `${k} x${n}`).join(', ')}` : ''}`,
      summary.cloudClockAheadS * 1000 > CLOCK_AHEAD_NOTICE_MS ? `  clock: uplinks stamped up to ${span(summary.cloudClockAheadS * 1000)} ahead of the cloud's clock (virtual time against a wall-clock cloud; --realtime keeps them in step)` : '',
      flashFile ? `  flash image ${flashFile}, store ${flashFile}.kv` : '',
    ].filter(Boolean).join('\n') + '\n');
  }
  if (summary.requests > 0 && http.answers === 0) {
    const env = stored('environment') ?? f.environment;
    const how = Object.entries(http.failures).map(([k, n]) => `${k} x${n}`).join(', ') || 'no answer';
    process.stderr.write(`${PROG}: device: the cloud at ${env} never answered (${how}): check --environment (host and port) and that the cloud is running\n`);
    return 1;
  }
  if (saveError) return 1;
  return 0;
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
