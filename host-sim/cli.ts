// trackagent-sim: the simulator's command line.
//   fleet   N devices against the built-in fake cloud, in virtual time, with a report
//   device  one device against any cloud, real or fake
//   cloud   the fake cloud alone on a port (for `device`), its state optionally kept on disk
// Errors are one line on stderr, "trackagent-sim: <what failed>: <what to do>", exit 2.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FakeCloud } from './cloud/fake-cloud.ts';
import { startCloudServer } from './cloud/server.ts';
import { loadCloud, saveCloud } from './cloud/persist.ts';
import { runFleet, type FleetResult } from './fleet/fleet.ts';
import { Progress } from './fleet/progress.ts';
import { writeReport } from './fleet/report.ts';
import { formatSummary, hhmm, summaryJson, totals } from './fleet/summary.ts';
import { EVENT_FAULTS, PROFILES, REQUEST_FAULT_NAMES, makeFaultPlan, parseFaults } from './fleet/profiles.ts';
import { readGpx } from './fleet/motion.ts';
import { DEFAULT_BATTERY_MAH, DEFAULT_RADIO, ENERGY, RADIOS, parseRadio } from './hal/energy.ts';
import { makeTestTls, writeCaFile, type TestTls } from './cloud/test-ca.ts';

const fmtInt = (n: number) => n.toLocaleString('en-US');
import { provisionDevice, memoryOperator } from './fleet/operator.ts';
import { DEVICE_HELP, runDeviceCommand } from './device-cli.ts';
import { writeNvsCsv } from './nvs-csv.ts';
import { PROG, UsageError, fail, integer, parse, port as portFlag, positiveInt, positiveNumber, version, why, writableDir, writableFile } from './cli-util.ts';

const MAIN_HELP = `Usage: ${PROG} <command> [flags]

The trackagent simulator: the release module (build/trackagent.wasm) on simulated boards,
in virtual time (a day takes seconds), against a fake cloud or a real one.

Commands:
  fleet    run many devices against the built-in fake cloud; summary and HTML report
  device   run one device against any cloud, real or fake
  cloud    serve the fake cloud alone (for the device command), state kept with --state DIR

'${PROG} <command> --help' tells the flags of each. 'npm start' runs 'fleet'.
'${PROG} --version' prints the version.
`;

const faultHelp = () => [
  'Fault profiles (--faults), composable with +, later parts override earlier ones:',
  ...Object.entries(PROFILES).map(([k, v]) => `  ${k.padEnd(10)} ${v.about}`),
  'Single faults, NAME or NAME:RATE (probability per request):',
  `  ${REQUEST_FAULT_NAMES.join(', ')}`,
  'Events of the run, NAME or NAME:VALUE:',
  ...Object.entries(EVENT_FAULTS).map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
  'e.g. --faults flaky+outage, --faults none+429:0.2, --faults 5xx:0.1+revoke:0.5',
].join('\n');

const FLEET_HELP = () => `Usage: ${PROG} fleet [flags]

Starts the built-in fake cloud, provisions devices through its operator API and runs them for a
virtual duration, all in this process, sharing one compiled module. Shows a progress bar, prints
a summary (delivery checked from the cloud's side) and writes an HTML report. Ctrl-C stops the
run early: the summary and the report then cover the run so far (exit 130). Exits 0 when every
delivery invariant held, 1 when one failed, 2 for bad flags.

  --devices N        devices (default 100)
  --hours H          virtual hours (default 24)
  --seed N           seed of everything random: the same seed repeats the run (default 1)
  --faults PROFILE   what the cloud and its operator do to the devices (default none)
  --track FILE       a GPX track the devices follow (default: a seeded random walk each)
  --transport T      socket: HTTP over loopback (default); memory: in process, no sockets
  --workers N|auto   worker threads for --transport memory (default auto: 1 below 200 devices)
  --report FILE      where to write the HTML report (default build/report.html)
  --state DIR        load the cloud's state from DIR and save it there at the end
  --log LEVEL        print the devices' module log lines on stderr: error, warn or info
                     (default: none; the summary counts warnings and errors by kind)
  --json             print the summary as one JSON object on stdout, every device in perDevice
  --radio R          the energy model's radio: wifi (ESP32 Wi-Fi, default) or ltem (nRF9160 LTE-M)
  --battery-mah N    the battery the days are projected on (default ${fmtInt(DEFAULT_BATTERY_MAH)})
  --wasm FILE        the module to run (default build/trackagent.wasm)
  -h, --help         this help

${faultHelp()}
`;

const CLOUD_HELP = () => `Usage: ${PROG} cloud [flags]

Serves the fake cloud (device API and operator API) on a port, in wall-clock time, until
stopped with Ctrl-C. Prints its URL and operator key, and the device flags of each device it
provisions.

  --port N           port (default 0: any free one)
  --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 for every address,
                     then --public-url is needed)
  --public-url URL   the cloud's address as a board sees it, e.g. http://192.168.1.20:8080
                     (the port listened on when URL has none); printed as --environment,
                     returned by connection resets
  --state DIR        load the state from DIR; save it there every 10 s and on exit
  --tenant ID        tenant of --provision (default demo)
  --provision ID     create this device if missing and print its flags (repeatable)
  --nvs-csv FILE     with one --provision ID: write the device's factory NVS CSV (namespace
                     trackagent, as boards/esp32/README.md), for ESP-IDF's nvs_partition_gen.py
  --faults PROFILE   request faults and an outage, as for fleet (operator events need fleet)
  --hours H          length the outage window is placed in (default 24)
  --seed N           seed of the faults (default 1)
  --tls              serve HTTPS with a test CA made now (openssl; no key is kept), sessions
                     resumable for ${ENERGY.tls.sessionLifetimeMs / 60_000} min; counts full and resumed handshakes (told at exit)
  --no-keep-alive    close every connection after its answer (each request a new connection)
  --ca-out FILE      with --tls: where to write the CA certificate for a board (default build/test-ca.pem)
  -h, --help         this help
`;

/** Module log levels, as agent log levels 0, 1, 2. */
const LOG_LEVELS = ['error', 'warn', 'info'];

async function fleetCommand(argv: string[]): Promise<number> {
  const f = parse('fleet', argv, {
    devices: { type: 'string' },
    hours: { type: 'string' },
    seed: { type: 'string' },
    faults: { type: 'string' },
    track: { type: 'string' },
    transport: { type: 'string' },
    workers: { type: 'string' },
    report: { type: 'string' },
    state: { type: 'string' },
    log: { type: 'string' },
    json: { type: 'boolean' },
    wasm: { type: 'string' },
    radio: { type: 'string' },
    'battery-mah': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (f.help) {
    process.stdout.write(FLEET_HELP());
    return 0;
  }
  const devices = positiveInt('fleet', 'devices', f.devices, 100, 100_000);
  const hours = positiveNumber('fleet', 'hours', f.hours, 24, 24 * 366);
  const seed = integer('fleet', 'seed', f.seed, 1);
  const transport = f.transport ?? 'socket';
  if (transport !== 'socket' && transport !== 'memory') fail(`fleet: --transport '${transport}' is neither socket nor memory`, 'give --transport socket or --transport memory');
  let workers: number | 'auto' = 'auto';
  if (f.workers !== undefined && f.workers !== 'auto') workers = positiveInt('fleet', 'workers', f.workers, 2, 64);
  const faults = f.faults ?? 'none';
  try {
    parseFaults(faults);
  } catch (e) {
    fail(`fleet: --faults ${faults}: ${(e as Error).message}`, `see ${PROG} fleet --help for profiles and faults`);
  }
  if (f.track) {
    try {
      readGpx(f.track);
    } catch (e) {
      fail(`fleet: --track ${f.track}: ${(e as Error).message}`, 'give a GPX file with a track or route of at least two points');
    }
  }
  const radio = parseRadio(f.radio ?? DEFAULT_RADIO);
  if (!radio) fail(`fleet: --radio '${f.radio}' is neither ${RADIOS.join(' nor ')}`, `give --radio ${RADIOS.join(' or --radio ')}`);
  const batteryMah = positiveNumber('fleet', 'battery-mah', f['battery-mah'], DEFAULT_BATTERY_MAH, 1_000_000);
  const logLevel = f.log === undefined ? -1 : LOG_LEVELS.indexOf(f.log);
  if (logLevel < 0 && f.log !== undefined) fail(`fleet: --log '${f.log}' is not a level`, `give --log ${LOG_LEVELS.join(', --log ')}`);
  const reportFile = writableFile('fleet', 'report', f.report ?? 'build/report.html', { makeDir: true });
  if (f.state) {
    writableDir('fleet', 'state', f.state);
    try {
      loadCloud(f.state); // read now: a broken state file is told before the run, not after it
    } catch (e) {
      fail(`fleet: --state ${f.state}: ${(e as Error).message}`, 'repair it, or give another --state DIR');
    }
  }

  const progress = new Progress({ durationMs: hours * 3_600_000, devices });
  // Ctrl-C: the run stops at its next slice and is summarised as far as it got; a second one quits.
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
    process.stderr.write(`\n${PROG}: stopping: the summary and the report will cover the run so far (Ctrl-C again quits at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let result: FleetResult;
  try {
    result = await runFleet({
      devices, hours, seed, transport, faults, workers, trackFile: f.track ?? null, stateDir: f.state ?? null, wasm: f.wasm, radio, batteryMah,
      onProgress: (x) => progress.update(x),
      stop: stop.signal,
      log: logLevel < 0 ? undefined : (id, level, line, now) => {
        if (level <= logLevel) process.stderr.write(`[${hhmm(now)}] ${id} ${LOG_LEVELS[level]}: ${line}\n`);
      },
    });
  } catch (e) {
    const m = (e as Error).message;
    if (/cannot read the module|not a valid WebAssembly/.test(m)) fail(`fleet: ${m.split(': ')[0]}`, m.split(': ').slice(1).join(': '));
    if (/state file|not readable JSON|fake-cloud state/.test(m)) fail(`fleet: --state ${f.state}: ${m}`, 'repair it, or give another --state DIR');
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (result.summary.stoppedAtMs === undefined) progress.done();
  else process.stderr.write('\n');
  const { summary, info } = result;
  if (f.json) process.stdout.write(JSON.stringify(summaryJson(summary, info)) + '\n');
  else process.stdout.write(formatSummary(summary, info) + '\n');
  try {
    writeReport(reportFile, summary, info);
    process.stderr.write(`report: ${path.resolve(reportFile)}\n`);
  } catch (e) {
    fail(`fleet: cannot write the report ${reportFile} (${why(e)})`, 'give a writable --report FILE');
  }
  if (result.stateFile) process.stderr.write(`cloud state ${result.stateLoaded ? 'loaded from and ' : ''}saved to ${result.stateFile}\n`);
  if (summary.stoppedAtMs !== undefined) {
    process.stderr.write(`${PROG}: stopped by a signal at ${hhmm(summary.stoppedAtMs)} of ${hhmm(hours * 3_600_000)} virtual: the summary and the report cover the run so far\n`);
    return 130;
  }
  const t = totals(summary);
  if (t.lost > 0 || t.duplicatesDelivered > 0 || summary.violationCount > 0) {
    process.stderr.write(`${PROG}: delivery invariants failed (lost ${t.lost}, duplicates delivered ${t.duplicatesDelivered}, timing violations ${summary.violationCount}): see the summary and the report\n`);
    return 1;
  }
  return 0;
}

async function cloudCommand(argv: string[]): Promise<number> {
  const f = parse('cloud', argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    state: { type: 'string' },
    tenant: { type: 'string' },
    provision: { type: 'string', multiple: true },
    'nvs-csv': { type: 'string' },
    faults: { type: 'string' },
    hours: { type: 'string' },
    seed: { type: 'string' },
    tls: { type: 'boolean' },
    'ca-out': { type: 'string' },
    'no-keep-alive': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (f.help) {
    process.stdout.write(CLOUD_HELP());
    return 0;
  }
  const port = portFlag('cloud', f.port);
  const hours = positiveNumber('cloud', 'hours', f.hours, 24, 24 * 366);
  const seed = integer('cloud', 'seed', f.seed, 1);
  const tenant = f.tenant ?? 'demo';
  const host = f.host ?? '127.0.0.1';
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  const loopback = /^(127\.|localhost$|::1$|\[::1\]$)/.test(host);
  let publicUrl: URL | null = null;
  if (f['public-url'] !== undefined) {
    try {
      publicUrl = new URL(f['public-url']);
    } catch {
      fail(`cloud: --public-url '${f['public-url']}' is not a URL`, 'give e.g. --public-url http://192.168.1.20:8080');
    }
    if (publicUrl.protocol !== 'http:' && publicUrl.protocol !== 'https:') fail(`cloud: --public-url ${f['public-url']} is not http(s)`, 'give e.g. --public-url http://192.168.1.20:8080');
    if (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash || publicUrl.username) fail(`cloud: --public-url ${f['public-url']} has a path, query or credentials`, 'give the scheme, host and port only, e.g. http://192.168.1.20:8080');
  } else if (wildcard) {
    fail(`cloud: --host ${host} listens on every address, and no board can reach ${host}`, 'add --public-url http://ADDRESS:PORT with the address a board reaches this machine at');
  }
  if (f['ca-out'] !== undefined && !f.tls) fail('cloud: --ca-out FILE is the CA of --tls', 'add --tls, or leave --ca-out out');
  if (f.tls && publicUrl && publicUrl.protocol !== 'https:') fail(`cloud: --tls with --public-url ${f['public-url']}: a TLS cloud is https`, 'give an https:// --public-url');
  let tls: TestTls | null = null;
  let caFile = '';
  if (f.tls) {
    caFile = writableFile('cloud', 'ca-out', f['ca-out'] ?? 'build/test-ca.pem', { makeDir: true });
    try {
      tls = makeTestTls();
      writeCaFile(tls, caFile);
    } catch (e) {
      fail(`cloud: --tls: ${(e as Error).message}`, 'install openssl, or run without --tls');
    }
  }
  const nvsCsv = f['nvs-csv'];
  if (nvsCsv !== undefined) {
    if ((f.provision ?? []).length !== 1) fail('cloud: --nvs-csv FILE writes one device\'s factory values', 'give exactly one --provision ID with it');
    if (!publicUrl && loopback) fail(`cloud: --nvs-csv would give the board ${host}, this machine's loopback address, which a board cannot reach`, 'add --public-url http://ADDRESS:PORT (and --host 0.0.0.0 to listen there)');
    writableFile('cloud', 'nvs-csv', nvsCsv);
  }
  if (f.state) writableDir('cloud', 'state', f.state);
  let spec;
  try {
    spec = parseFaults(f.faults ?? 'none');
  } catch (e) {
    fail(`cloud: --faults ${f.faults}: ${(e as Error).message}`, `see ${PROG} fleet --help for profiles and faults`);
  }
  if (spec.revokeFraction || spec.disableFraction || spec.deleteCount) fail(`cloud: --faults ${f.faults} has operator events`, 'use them with fleet; cloud takes request faults and outage');
  const started = Date.now();
  const plan = makeFaultPlan(spec, { seed, devices: 1, durationMs: hours * 3_600_000, utcStart: started });
  let cloud: FakeCloud;
  let loaded = false;
  if (f.state) {
    try {
      ({ cloud, loaded } = loadCloud(f.state, { faults: plan.hook }));
    } catch (e) {
      fail(`cloud: --state ${f.state}: ${(e as Error).message}`, 'repair it, or give another --state DIR');
    }
  } else {
    cloud = new FakeCloud({ faults: plan.hook });
  }
  let server;
  try {
    server = await startCloudServer(cloud, { port, host, closeEach: f['no-keep-alive'] === true, tls: tls ? { cert: tls.cert, key: tls.key, sessionLifetimeMs: ENERGY.tls.sessionLifetimeMs } : undefined });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') fail(`cloud: port ${port} on ${host} is in use`, 'pick another --port, or 0 for any free one');
    if (code === 'EACCES') fail(`cloud: no permission to listen on port ${port}`, 'pick a --port from 1024 up, or 0 for any free one');
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL' || code === 'EAI_NONAME') {
      fail(`cloud: --host ${host} is not an address of this machine`, 'give 127.0.0.1, 0.0.0.0 (with --public-url) or one of its own addresses');
    }
    fail(`cloud: cannot listen on ${host}:${port} (${why(e)})`, 'check --host and --port');
  }
  const listening = Number(new URL(server.url).port);
  // The URL a board is given: the public one (with the port listened on when it names none).
  let url = server.url;
  if (publicUrl) {
    // No port written in the URL: the one listened on (URL drops a default one such as :80, so read the text).
    if (!/^[a-z]+:\/\/[^/]*:\d+/i.test(f['public-url']!)) publicUrl.port = String(listening);
    url = publicUrl.origin;
  }
  cloud.baseUrl = url;
  const dev = url.startsWith('http:') ? ' --dev' : '';
  const op = memoryOperator(cloud);
  const out: string[] = [`fake cloud: ${url}${url !== server.url ? ` (listening on ${server.url})` : ''}${loaded ? ` (state loaded from ${f.state})` : ''}`, `operator key (X-Api-Key): ${cloud.adminKey}`];
  const identities: { tenantId: string; deviceId: string; apiKey: string; resetSecret: string }[] = [];
  for (const id of f.provision ?? []) {
    const existing = cloud.device(id);
    if (existing) {
      const apiKey = cloud.apiKeyOf(id), resetSecret = cloud.resetSecretOf(id);
      out.push(`device ${id} exists (tenant ${existing.tenantId}); its current flags:`);
      out.push(`  --environment ${url}${dev} --tenant ${existing.tenantId} --device ${id} --api-key ${apiKey ?? '(revoked)'} --reset-secret ${resetSecret ?? '(revoked)'}`);
      if (apiKey && resetSecret) identities.push({ tenantId: existing.tenantId, deviceId: id, apiKey, resetSecret });
      continue;
    }
    try {
      const s = await provisionDevice(op, tenant, id);
      out.push(`device ${id} provisioned:`);
      out.push(`  --environment ${url}${dev} --tenant ${tenant} --device ${id} --api-key ${s.apiKey} --reset-secret ${s.resetSecret}`);
      identities.push({ tenantId: tenant, deviceId: id, ...s });
    } catch (e) {
      await server.close();
      fail(`cloud: --provision ${id}: ${(e as Error).message}`, 'give a device id of 1-64 letters, digits, _ or -');
    }
  }
  if (nvsCsv !== undefined) {
    const idn = identities[0];
    if (!idn) {
      await server.close();
      fail(`cloud: --nvs-csv: device ${f.provision![0]} has a revoked key or secret`, 'provision a new device id, or give its keys back with the operator API');
    }
    try {
      writeNvsCsv(nvsCsv, { ...idn, environment: url });
    } catch (e) {
      await server.close();
      fail(`cloud: cannot write --nvs-csv ${nvsCsv} (${why(e)})`, 'give a file in a folder this user can write');
    }
    out.push(`factory NVS CSV of ${idn.deviceId} written to ${nvsCsv} (mode 0600: it holds the keys); then`);
    out.push(`  python -m esp_idf_nvs_partition_gen generate ${nvsCsv} nvs.bin 0x6000 && esptool.py write_flash 0x9000 nvs.bin`);
    if (dev) out.push('  (an http:// environment: the board must be built with trackagent > dev mode on)');
  }
  if (tls) out.push(`TLS: test CA certificate written to ${caFile}: a board trusts it as its CA file (sessions resumable for ${ENERGY.tls.sessionLifetimeMs / 60_000} min)`);
  out.push('Ctrl-C stops it.');
  let saveFailed = false;
  const save = () => {
    if (!f.state) return;
    try {
      saveCloud(cloud, f.state);
      saveFailed = false;
    } catch (e) {
      // Told once, one line; the cloud keeps serving and tries again at the next save.
      if (!saveFailed) process.stderr.write(`${PROG}: cloud: cannot save the state to ${f.state} (${why(e)}): free the disk or fix the folder; retrying every 10 s\n`);
      saveFailed = true;
    }
  };
  const timer = f.state ? setInterval(save, 10_000) : null;
  // Listen for the stop signal before saying we are ready: a script may send it at once.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  process.stdout.write(out.join('\n') + '\n');
  await stopped;
  if (timer) clearInterval(timer);
  save();
  await server.close();
  const st = cloud.stats();
  if (tls) process.stderr.write(`TLS handshakes: ${server.handshakes.full} full, ${server.handshakes.resumed} resumed\n`);
  process.stderr.write(`fake cloud stopped after ${st.requests} requests${f.state ? (saveFailed ? '; the state could NOT be saved' : `; state saved to ${f.state}`) : ''}\n`);
  return saveFailed ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'fleet': return await fleetCommand(rest);
      case 'device': return await runDeviceCommand(rest);
      case 'cloud': return await cloudCommand(rest);
      case undefined:
        fail('no command', `use fleet, device or cloud (see ${PROG} --help)`);
      case '-V':
      case '--version':
      case 'version':
        process.stdout.write(`${PROG} ${version()}\n`);
        return 0;
      case '-h':
      case '--help':
      case 'help':
        if (rest[0] === 'device') process.stdout.write(DEVICE_HELP);
        else if (rest[0] === 'fleet') process.stdout.write(FLEET_HELP());
        else if (rest[0] === 'cloud') process.stdout.write(CLOUD_HELP());
        else process.stdout.write(MAIN_HELP);
        return 0;
      default:
        fail(`unknown command '${command}'`, `use fleet, device or cloud (see ${PROG} --help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${PROG}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/**
 * What a failure nobody foresaw prints: one line, and how to get more. A stack helps whoever
 * fixes the simulator, not the person running it: TRACKAGENT_DEBUG=1 prints it.
 */
export function internalError(e: unknown): string {
  const err = e as Error;
  const first = String(err?.message ?? e).split('\n')[0];
  const stack = process.env.TRACKAGENT_DEBUG ? `\n${err?.stack ?? ''}` : '';
  return `${PROG}: internal error: ${first}: please report it (TRACKAGENT_DEBUG=1 shows where)${stack}\n`;
}

// Run when started as a script (node --import tsx host-sim/cli.ts ...); the bin imports main().
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    process.stderr.write(internalError(e));
    process.exit(3);
  });
}
