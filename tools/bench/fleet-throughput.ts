// Fleet throughput for npm run bench: device-hours simulated per wall-clock second, for the
// in-process transport (worker threads, and one thread as the baseline) and for loopback
// sockets. Timings are noisy: medians of `repeats` runs, and ratios against the baseline.
import { runFleet } from '../../host-sim/fleet/fleet.ts';
import { loadModule } from '../../host-sim/sim-device.ts';
import { totals } from '../../host-sim/fleet/summary.ts';

export interface ThroughputRow { label: string; runs: number[]; median: number; lost: number }

export async function fleetThroughput(o: { devices: number; hours: number; repeats: number; socketRepeats?: number }) {
  const module = loadModule();
  const plan: { label: string; transport: 'memory' | 'socket'; workers: number | 'auto'; repeats: number }[] = [
    { label: 'in process, one thread', transport: 'memory', workers: 1, repeats: o.repeats },
    { label: 'in process, worker threads', transport: 'memory', workers: 'auto', repeats: o.repeats },
    { label: 'loopback sockets', transport: 'socket', workers: 1, repeats: o.socketRepeats ?? 1 },
  ];
  const rows: ThroughputRow[] = [];
  for (const p of plan) {
    const runs: number[] = [];
    let lost = 0;
    for (let i = 0; i < p.repeats; i++) {
      process.stderr.write(`bench: fleet ${p.label}, run ${i + 1} of ${p.repeats}\n`);
      const res = await runFleet({ devices: o.devices, hours: o.hours, seed: 1, transport: p.transport, faults: 'none', workers: p.workers, module });
      runs.push((o.devices * o.hours) / res.info.wallSeconds);
      lost += totals(res.summary).lost;
    }
    const sorted = [...runs].sort((a, b) => a - b);
    rows.push({ label: p.label, runs, median: sorted[Math.floor(sorted.length / 2)], lost });
  }
  return { devices: o.devices, hours: o.hours, rows, baseline: rows[0].median, baselineLabel: rows[0].label };
}
