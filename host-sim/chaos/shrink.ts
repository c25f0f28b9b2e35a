// Shrinking a failing device's run to the shortest trace that still fails: the device alone
// (it shares nothing with the others, so it must fail the same), then the run's length cut by
// bisection (in steps of an hour), then delta debugging (Zeller's ddmin) over the fault events
// that fired. Every step re-runs the world, so what comes out replays exactly.
//
// The search itself is generic (it only needs "does this still fail?"), so the checker-free
// parts are tested on made-up failure functions.

const HOUR = 3_600_000;

/** Smallest multiple of `step` in (0, hi] for which fails() holds, assuming it holds at hi. */
export async function bisectLength(hi: number, step: number, fails: (len: number) => Promise<boolean>): Promise<number> {
  let lo = 0; // known (or assumed) passing
  let best = hi;
  while (best - lo > step) {
    const mid = Math.max(step, Math.round((lo + best) / 2 / step) * step);
    if (mid >= best || mid <= lo) break;
    if (await fails(mid)) best = mid;
    else lo = mid;
  }
  return best;
}

/**
 * ddmin: a 1-minimal subset of `items` for which fails() holds (given it holds for all of them),
 * trying at most `budget` subsets. Returns the smallest failing subset found.
 */
export async function ddmin<T>(items: T[], fails: (subset: T[]) => Promise<boolean>, budget = 300): Promise<{ items: T[]; tests: number; complete: boolean }> {
  let tests = 0;
  const test = async (s: T[]) => { tests++; return fails(s); };
  if (items.length === 0) return { items, tests, complete: true };
  if (await test([])) return { items: [], tests, complete: true };
  let c = items;
  let n = 2;
  while (c.length >= 2) {
    if (tests >= budget) return { items: c, tests, complete: false };
    const size = Math.ceil(c.length / n);
    const chunks: T[][] = [];
    for (let i = 0; i < c.length; i += size) chunks.push(c.slice(i, i + size));
    let reduced = false;
    for (const chunk of chunks) {
      if (tests >= budget) break;
      if (await test(chunk)) { c = chunk; n = 2; reduced = true; break; }
    }
    if (!reduced && chunks.length > 2) {
      for (let i = 0; i < chunks.length; i++) {
        if (tests >= budget) break;
        const rest = chunks.filter((_, j) => j !== i).flat();
        if (await test(rest)) { c = rest; n = Math.max(n - 1, 2); reduced = true; break; }
      }
    }
    if (!reduced) {
      if (n >= c.length) break;
      n = Math.min(n * 2, c.length);
    }
  }
  return { items: c, tests, complete: tests < budget };
}

export interface ShrinkSteps<E> {
  /** Runs the device with this length and these events only (null: all); true when it still fails. */
  fails: (lengthMs: number, keep: E[] | null) => Promise<boolean>;
  /** The events that fired in a run of this length with all events active. */
  firedAt: (lengthMs: number) => Promise<E[]>;
  fullLengthMs: number;
  stepMs?: number;
  budget?: number;
}

export interface Shrunk<E> {
  reproducedAlone: boolean;
  lengthMs: number;
  events: E[];
  tests: number;
  /** ddmin ran to its end (false: the budget stopped it; the events are smaller, not minimal). */
  minimal: boolean;
}

export async function shrinkRun<E>(s: ShrinkSteps<E>): Promise<Shrunk<E>> {
  let tests = 1;
  if (!(await s.fails(s.fullLengthMs, null))) return { reproducedAlone: false, lengthMs: s.fullLengthMs, events: [], tests, minimal: false };
  const lengthMs = await bisectLength(s.fullLengthMs, s.stepMs ?? HOUR, async (len) => { tests++; return s.fails(len, null); });
  const fired = await s.firedAt(lengthMs);
  tests++;
  const d = await ddmin(fired, (subset) => s.fails(lengthMs, subset), s.budget);
  return { reproducedAlone: true, lengthMs, events: d.items, tests: tests + d.tests, minimal: d.complete };
}
