// The CI slice of the power-cut proof (tools/proof/README.md): the same runs as `npm run
// proof`, bounded: each flash model with a cut every 25th flash operation (always the first
// and last five), a KV cut every 10th set (landing and not: the request budget stores its level before each request, so sets are many), every pair of cuts across the first
// key rotation's identity commit under each model, and a soak of 170 random cuts per model.
// Every run must keep every invariant, and every planned cut must have fired.
import { describe, expect, it } from 'vitest';
import { FULL_CONFIG, MODELS, formatFailure, formatTables, loadModule, pairPoints, runProof, sweepPoints, type ProofConfig } from '../tools/proof/proof.ts';

const SLICE: ProofConfig = {
  ...FULL_CONFIG,
  stride: 25,
  kvStride: 10,
  pairRotations: [0],
  pairWindow: 6,
  soak: 170,
  log: () => {},
};

describe('power-cut proof, CI slice', () => {
  it('loses nothing, duplicates nothing, keeps identity whole and always starts', async () => {
    const lines: string[] = [];
    const report = await runProof(loadModule(), { ...SLICE, log: (l) => lines.push(l) });
    console.log([...lines.filter((l) => !l.includes('%')), '', formatTables(report), `wall time ${Math.round(report.wallMs / 1000)} s`].join('\n'));
    if (!report.ok) throw new Error(formatFailure(report.failures[0], report.seed));

    // The scenario is the one the issue asks for.
    const b = report.baseline;
    expect(b.recorded).toBeGreaterThanOrEqual(2000);
    expect(b.rotations).toBeGreaterThanOrEqual(50);
    expect(b.credCommits.length).toBeGreaterThanOrEqual(50);
    expect(b.outages).toBeGreaterThanOrEqual(10);
    expect(b.backfillRequests).toBeGreaterThanOrEqual(10);

    const row = (part: string, model: string) => {
      const r = report.rows.find((x) => x.part === part && x.model === model);
      if (!r) throw new Error(`no ${part} row for ${model}`);
      return r;
    };
    const sweep = sweepPoints(b.flashOps, SLICE.stride!);
    expect(sweep.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(sweep.slice(-5)).toEqual([b.flashOps - 4, b.flashOps - 3, b.flashOps - 2, b.flashOps - 1, b.flashOps]);
    const pairs = pairPoints(b.credCommits[0].op, SLICE.pairWindow, b.ops).length;
    expect(pairs).toBe(78);
    for (const m of MODELS) {
      // Every run hit its cut point(s): a cut that never fires proves nothing.
      expect(row('sweep', m).runs).toBe(sweep.length);
      expect(row('sweep', m).cutsTried).toBe(sweep.length);
      expect(row('pairs', m).runs).toBe(pairs);
      expect(row('pairs', m).cutsTried).toBe(2 * pairs);
      expect(row('soak', m).cutsTried).toBe(SLICE.soak);
    }
    const kv = row('kv', 'atomic');
    expect(kv.runs).toBe(2 * Math.ceil(b.kvOps / SLICE.kvStride!));
    expect(kv.kvCuts).toBe(kv.runs);
    for (const r of report.rows) {
      expect(r.failures, `${r.part}/${r.model}`).toBe(0);
      expect(r.lost, `${r.part}/${r.model}`).toBe(0);
      expect(r.duplicates, `${r.part}/${r.model}`).toBe(0);
      expect(r.recorded, `${r.part}/${r.model}`).toBeGreaterThan(0);
      expect(r.delivered, `${r.part}/${r.model}`).toBeGreaterThanOrEqual(r.recorded);
      // Identity was checked after every cut (and at the end of every run).
      expect(r.identityChecks, `${r.part}/${r.model}`).toBeGreaterThanOrEqual(r.cutsTried);
    }
  });
});
