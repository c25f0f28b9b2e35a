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
import { formatSummary, summaryJson, totals } from './fleet/summary.ts';
import { EVENT_FAULTS, PROFILES, REQUEST_FAULT_NAMES, makeFaultPlan, parseFaults } from './fleet/profiles.ts';
import { readGpx } from './fleet/motion.ts';
import { provisionDevice, memoryOperator } from './fleet/operator.ts';
import { DEVICE_HELP, runDeviceCommand } from './device-cli.ts';
import { PROG, UsageError, fail, integer, parse, positiveInt, positiveNumber } from './cli-util.ts';

const MAIN_HELP = `Usage: ${PROG} <command> [flags]

The trackagent simulator: the release module (build/trackagent.wasm) on simulated boards,
in virtual time (a day takes seconds), against a fake cloud or a real one.

Commands:
  fleet    run many devices against the built-in fake cloud; summary and HTML report
  device   run one device against any cloud, real or fake
  cloud    serve the fake cloud alone (for the device command), state kept with --state DIR

'${PROG} <command> --help' tells the flags of each. 'npm start' runs 'fleet'.
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
a summary (delivery checked from the cloud's side) and writes an HTML report. Exits 0 when every
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
  --json             print the summary as one JSON object on stdout
  --wasm FILE        the module to run (default build/trackagent.wasm)
  -h, --help         this help

${faultHelp()}
`;

const CLOUD_HELP = () => `Usage: ${PROG} cloud [flags]

Serves the fake cloud (device API and operator API) on a port, in wall-clock time, until
stopped with Ctrl-C. Prints its URL and operator key, and the device flags of each device it
provisions.

  --port N           port (default 0: any free one)
  --host ADDR        address to listen on (default 127.0.0.1)
  --state DIR        load the state from DIR; save it there every 10 s and on exit
  --tenant ID        tenant of --provision (default demo)
  --provision ID     create this device if missing and print its flags (repeatable)
  --faults PROFILE   request faults and an outage, as for fleet (operator events need fleet)
  --hours H          length the outage window is placed in (default 24)
  --seed N           seed of the faults (default 1)
  -h, --help         this help
`;

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
    json: { type: 'boolean' },
    wasm: { type: 'string' },
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
  const reportFile = f.report ?? 'build/report.html';

  const progress = new Progress({ durationMs: hours * 3_600_000, devices });
  let result: FleetResult;
  try {
    result = await runFleet({
      devices, hours, seed, transport, faults, workers, trackFile: f.track ?? null, stateDir: f.state ?? null, wasm: f.wasm,
      onProgress: (x) => progress.update(x),
    });
  } catch (e) {
    const m = (e as Error).message;
    if (/cannot read the module|not a valid WebAssembly/.test(m)) fail(`fleet: ${m.split(': ')[0]}`, m.split(': ').slice(1).join(': '));
    if (/state file|not readable JSON|fake-cloud state/.test(m)) fail(`fleet: --state ${f.state}: ${m}`, 'repair it, or give another --state DIR');
    throw e;
  }
  progress.done();
  const { summary, info } = result;
  if (f.json) process.stdout.write(JSON.stringify(summaryJson(summary, info)) + '\n');
  else process.stdout.write(formatSummary(summary, info) + '\n');
  try {
    writeReport(reportFile, summary, info);
    process.stderr.write(`report: ${path.resolve(reportFile)}\n`);
  } catch (e) {
    fail(`fleet: cannot write the report ${reportFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give a writable --report FILE');
  }
  if (result.stateFile) process.stderr.write(`cloud state ${result.stateLoaded ? 'loaded from and ' : ''}saved to ${result.stateFile}\n`);
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
    state: { type: 'string' },
    tenant: { type: 'string' },
    provision: { type: 'string', multiple: true },
    faults: { type: 'string' },
    hours: { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (f.help) {
    process.stdout.write(CLOUD_HELP());
    return 0;
  }
  const port = f.port === undefined || f.port === '0' ? 0 : positiveInt('cloud', 'port', f.port, 8080, 65535);
  const hours = positiveNumber('cloud', 'hours', f.hours, 24, 24 * 366);
  const seed = integer('cloud', 'seed', f.seed, 1);
  const tenant = f.tenant ?? 'demo';
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
    server = await startCloudServer(cloud, { port, host: f.host ?? '127.0.0.1' });
  } catch (e) {
    fail(`cloud: cannot listen on ${f.host ?? '127.0.0.1'}:${port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'pick another --port');
  }
  cloud.baseUrl = server.url;
  const op = memoryOperator(cloud);
  const out: string[] = [`fake cloud: ${server.url}${loaded ? ` (state loaded from ${f.state})` : ''}`, `operator key (X-Api-Key): ${cloud.adminKey}`];
  for (const id of f.provision ?? []) {
    const existing = cloud.device(id);
    if (existing) {
      out.push(`device ${id} exists (tenant ${existing.tenantId}); its current flags:`);
      out.push(`  --environment ${server.url} --dev --tenant ${existing.tenantId} --device ${id} --api-key ${cloud.apiKeyOf(id) ?? '(revoked)'} --reset-secret ${cloud.resetSecretOf(id) ?? '(revoked)'}`);
      continue;
    }
    try {
      const s = await provisionDevice(op, tenant, id);
      out.push(`device ${id} provisioned:`);
      out.push(`  --environment ${server.url} --dev --tenant ${tenant} --device ${id} --api-key ${s.apiKey} --reset-secret ${s.resetSecret}`);
    } catch (e) {
      fail(`cloud: --provision ${id}: ${(e as Error).message}`, 'give a device id of 1-64 letters, digits, _ or -');
    }
  }
  out.push('Ctrl-C stops it.');
  const save = () => { if (f.state) saveCloud(cloud, f.state); };
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
  process.stderr.write(`fake cloud stopped after ${st.requests} requests${f.state ? `; state saved to ${f.state}` : ''}\n`);
  return 0;
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

// Run when started as a script (node --import tsx host-sim/cli.ts ...); the bin imports main().
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    process.stderr.write(`${PROG}: internal error: ${(e as Error).stack ?? e}\n`);
    process.exit(3);
  });
}
