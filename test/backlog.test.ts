// A backlog that fits the board (issue 11): the cloud refuses every uplink until 2,000 are
// buffered, then accepts them all. Through the release module in Node and under wasm3 (the
// glue on its simulated platform, 32-bit, lazy compile, as on an ESP32): the backlog drains
// through 16 KiB batches with linear memory at its one page during the outage, during the
// drain and after, and every uplink arrives once, in order.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { backlogFigures, RELEASE_WASM } from '../tools/bench/figures.ts';
import { loadBudgets, overBudget } from '../tools/bench/budgets.ts';
import type { DrainRun } from '../tools/bench/wasm3.ts';

const run = promisify(execFile);
const budgets = loadBudgets();
const RECORDS = budgets.pagesBacklog.records ?? 2000;
const BODY_CAP = 16384;
const check = (name: string, measured: number) => expect(overBudget(name, measured, budgets), `${name} = ${measured}`).toBeNull();

describe('a 2,000-record backlog', () => {
  it('drains through 16 KiB batches at one page of linear memory, nothing lost, nothing twice (Node)', async () => {
    const b = await backlogFigures(RECORDS);
    expect(b.backlog).toBeGreaterThanOrEqual(RECORDS);
    expect(b.refusedBatches).toBeGreaterThan(5); // the outage built full batches and saw them refused
    expect(b.pagesAtStart).toBe(1);
    check('pagesBacklog', b.pagesPeak); // read after every call into the module, outage and drain
    expect(b.pagesAfter).toBe(1);
    expect(b.lost).toBe(0);
    expect(b.duplicates).toBe(0);
    expect(b.buffered).toBeLessThanOrEqual(2); // what was recorded in the last seconds
    // The byte cap decides the batches (the batch size is 500), and they are full.
    expect(b.batchBodyBytesMax).toBeLessThanOrEqual(BODY_CAP);
    expect(b.batchBodyBytesMax).toBeGreaterThan(BODY_CAP - 300);
    expect(b.batchUplinksMax).toBeLessThan(500);
    // Full batches but the last: what the drain carried (the backlog and what was recorded
    // while the last back-off ran out) in as few requests as the cap allows.
    expect(b.drained).toBeGreaterThanOrEqual(b.backlog);
    expect(b.batches).toBeLessThanOrEqual(Math.ceil(b.drained / (b.batchUplinksMax - 2)) + 1);
  }, 120_000);

  it('does the same under wasm3, 32-bit, lazy compile', async () => {
    const { stdout: bin } = await run('bash', ['tools/bench/wasm3/build.sh', '--m32'], { encoding: 'utf8' });
    const out = await run(bin.trim().split('\n').pop()!, ['drain', RELEASE_WASM, String(RECORDS), 'lazy'], { encoding: 'utf8' })
      .catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    const d = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as DrainRun & { buffered: number; traps: number };
    expect(d.status).toBe('ok');
    expect(d.backlog).toBeGreaterThanOrEqual(RECORDS);
    expect(d.traps).toBe(0);
    expect(d.linearMemoryBytes).toBe(65536);
    check('wasm3DrainLinearMemoryBytes', d.linearMemoryBytes);
    expect(d.lost).toBe(0);
    expect(d.outOfOrder).toBe(0); // every accepted id the next one: none skipped, none twice
    expect(d.buffered).toBeLessThanOrEqual(2);
    expect(d.batchBodyBytesMax).toBeLessThanOrEqual(BODY_CAP);
    expect(d.batches).toBeGreaterThan(RECORDS / 150);
  }, 120_000);
});
