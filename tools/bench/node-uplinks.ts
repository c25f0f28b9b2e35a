// Runs one device on the in-process cloud for --hours virtual hours and prints how many
// uplinks were acknowledged. The bench runs it under callgrind twice (two durations) and
// takes the difference, so Node's start-up and compilation cancel out.
import { world } from './figures.ts';
import { STAT } from '../../host-sim/device-host.ts';

const hours = Number(process.argv[2] ?? 2);
const w = world({ uplinkIntervalS: 60, movingIntervalS: 60, heartbeatS: 3600 });
await w.sched.runUntil(hours * 3_600_000);
console.log(JSON.stringify({ hours, acked: w.device.stat(STAT.acked) }));
