// The deterministic figures of `npm run bench` held against test/budgets.json. A change that
// breaks one fails here with the figure, its budget and the measured value. No timings.
import { describe, it, expect } from 'vitest';
import { loadBudgets, overBudget, boardFigures } from '../tools/bench/budgets.ts';
import { moduleBytes, memoryFigures, backfillFigures, liveFigures, logFigures } from '../tools/bench/figures.ts';
import { allocationFigures } from '../tools/bench/allocation.ts';
import { wasm3Figures } from '../tools/bench/wasm3.ts';

const budgets = loadBudgets();
const check = (name: string, measured: number) => expect(overBudget(name, measured, budgets), `${name} = ${measured}`).toBeNull();

describe('budgets (test/budgets.json)', () => {
  it('every budget says what it counts and why its number', () => {
    for (const [name, b] of Object.entries(budgets)) {
      expect(b.unit, name).toMatch(/\S/);
      expect(b.why.length, `${name}: why`).toBeGreaterThan(40);
      if (b.goal !== undefined) expect(b.goal, `${name}: a goal beyond its ceiling`).toBeLessThanOrEqual(b.max);
    }
  });

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

  it('what one call allocates stays within the collector\'s reserve, and every scenario stays at one page (the crowded answers too, since the log text left the static data)', async () => {
    const a = await allocationFigures();
    check('allocationPerCallBytes', a.maxCallBytes);
    for (const [name, s] of Object.entries(a.scenarios)) {
      expect(s.steps, name).toBeGreaterThan(300);
      expect(s.pages, name).toBe(1);
    }
  }, 120_000);

  it('under wasm3 (callgrind, simulated platform): steady-state instructions per uplink, and the heap through a backlog drain', async () => {
    const w = await wasm3Figures(budgets.wasm3HeapPeakBytes32.records ?? 2000);
    check('wasm3InstructionsPerUplink', w.instructionsPerAckedUplink);
    check('wasm3HeapPeakBytes32', w.drainLazy.heapPeakBytes);
    expect(w.runs[2].uplinksAcked - w.runs[1].uplinksAcked).toBeGreaterThan(250); // a day of real work between the two runs
    expect(w.drainLazy.status).toBe('ok');
    expect(w.drainLazy.heapPeakBytes).toBeLessThan(w.drainEager.heapPeakBytes);
  }, 300_000);

  it('the Linux board under valgrind: nothing leaked over trap restarts', async () => {
    const w = await boardFigures();
    expect(w.board.memcheck.definitelyLostBytes).toBe(0);
    expect(w.board.memcheck.errors).toBe(0);
  });

  it('a figure over its budget is reported with its name, budget and value', () => {
    expect(overBudget('moduleBytes', 50_000, { moduleBytes: { max: 49_152, unit: 'bytes', why: 'x' } }))
      .toBe('moduleBytes is over budget: measured 50000 bytes, budget 49152 bytes (test/budgets.json: x)');
  });
});
