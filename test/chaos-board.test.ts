// The chaos cloud over real HTTP on loopback, driving the Linux board under wasm3 for a short
// slice in real time (host-sim/chaos/board.ts): power cuts inside flash operations, kills at
// random instants, traps, store damage between power-ons, GNSS extremes, timeouts and absence.
// The board program's path is TRACKAGENT_LINUX_BOARD (default: the CMake build's output).
// As in the in-process slice, every invariant it can judge must hold.
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { INVARIANT_NAMES } from '../host-sim/chaos/checker.ts';
import { DEFAULT_BOARD, runBoardSlice, type BoardSliceResult } from '../host-sim/chaos/board.ts';
import { violationLine } from '../host-sim/chaos/report.ts';

const BOARD = process.env.TRACKAGENT_LINUX_BOARD ?? DEFAULT_BOARD;

describe.skipIf(!fs.existsSync(BOARD))(`chaos simulator: the Linux board over real HTTP (${BOARD})`, () => {
  let r: BoardSliceResult;
  beforeAll(async () => {
    r = await runBoardSlice({ binary: BOARD, seed: 20261123, faultSeconds: 120, drainSeconds: 20 });
    const c = r.result.counts;
    console.log([
      'chaos board slice',
      ...r.result.violations.slice(0, 12).map(violationLine),
      `${r.segments} power-ons (exits ${JSON.stringify(r.exitCodes)}), ${r.result.figures.requests} requests, ${r.result.figures.recorded} recorded, ${r.trace.traps.length} traps, ${r.trace.kvDamage.length} store damages`,
      `by invariant: ${INVARIANT_NAMES.map((k) => `${k} ${c[k]}`).join(', ')}; worst requests in one hour ${r.result.figures.worstRequestsPerHour}`,
    ].join('\n'));
  }, 600_000);

  it('runs the board through power cuts and chaos answers, and sees what it sends and records', () => {
    expect(r.segments).toBeGreaterThanOrEqual(5);
    expect(Object.keys(r.exitCodes).every((c) => c === '0' || c === '137' || c === '3'), JSON.stringify(r.exitCodes)).toBe(true);
    expect(r.exitCodes['137'] ?? 0).toBeGreaterThan(0);
    // A back-off the module keeps across power-ons may fill most of a real-time slice.
    expect(r.result.figures.requests).toBeGreaterThanOrEqual(3);
    expect(r.result.figures.recorded).toBeGreaterThanOrEqual(3);
    expect(r.trace.secrets.length).toBeGreaterThanOrEqual(2);
    expect(r.trace.aborted, r.trace.aborted?.reason).toBeUndefined();
  });

  it('holds every invariant: 0 violations', () => {
    const broken = INVARIANT_NAMES.filter((k) => r.result.counts[k] > 0).map((k) => `${k} ${r.result.counts[k]}`);
    expect(r.result.violations.length, `violations by invariant: ${broken.join(', ')}\n${r.result.violations.slice(0, 5).map(violationLine).join('\n')}`).toBe(0);
  });
});
