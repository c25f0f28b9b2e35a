// The deterministic figures of `npm run bench` held against test/budgets.json. A change that
// breaks one fails here with the figure, its budget and the measured value. No timings.
import { describe, it, expect } from 'vitest';
import { loadBudgets, overBudget, wasm3Figures } from '../host-sim/bench/budgets.ts';
import { moduleBytes, memoryFigures, backfillFigures, liveFigures, logFigures } from '../host-sim/bench/figures.ts';

const budgets = loadBudgets();
const check = (name: string, measured: number) => expect(overBudget(name, measured, budgets), `${name} = ${measured}`).toBeNull();

describe('budgets (test/budgets.json)', () => {
  it('release module size', () => {
    check('moduleBytes', moduleBytes());
  });

  it('linear memory at start and after a million steps', async () => {
    const m = await memoryFigures(budgets.pagesAfterSteps.steps ?? 1_000_000);
    check('pagesAtStart', m.pagesAtStart);
    check('pagesAfterSteps', m.pagesAfter);
    expect(m.uplinks).toBeGreaterThan(100_000); // the steps did real work
  });

  it('requests, body bytes and connections per 1,000 backfilled uplinks; a 24 h outage drains in ceil(n/batch) requests', async () => {
    const b = await backfillFigures(24, 60, 100);
    expect(b.lost).toBe(0);
    expect(b.uplinksBackfilled).toBeGreaterThanOrEqual(1440);
    expect(b.backfillRequests).toBe(b.idealRequests);
    check('backfillRequestsPer1000', b.requestsPer1000);
    check('backfillBodyOverOwnJson', b.bodyOverOwn);
    check('backfillConnectionsPer1000', b.connectionsPer1000);
    const live = await liveFigures();
    check('liveConnectionsPer1000', live.connectionsPer1000);
  });

  it('flash per record', async () => {
    check('flashBytesPerRecord', (await logFigures()).flashBytesPerRecord);
  });

  it('under wasm3 (valgrind): instructions per uplink and peak heap', async () => {
    const w = await wasm3Figures();
    check('wasm3InstructionsPerUplink', w.sim.instructionsPerAckedUplink);
    check('wasm3HeapPeakBytes32', w.sim.heap32PeakBytes);
    expect(w.board.memcheck.definitelyLostBytes).toBe(0);
    expect(w.board.memcheck.errors).toBe(0);
  });

  it('a figure over its budget is reported with its name, budget and value', () => {
    expect(overBudget('moduleBytes', 50_000, { moduleBytes: { max: 49_152, unit: 'bytes', why: 'x' } }))
      .toBe('moduleBytes is over budget: measured 50000 bytes, budget 49152 bytes (test/budgets.json: x)');
  });
});
