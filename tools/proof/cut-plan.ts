// The cut plan of one power-cut proof run: every flash program, flash erase and KV set is one
// "operation", counted three ways: flash ops (program + erase), KV sets, and all of them
// together in the order they happen ("op" index). A plan names operations by any of the three;
// beforeOp, called right before each operation, says whether this one is to be cut (the
// instrumented flash and store, proof-hal.ts, then make the cut land as the model says).
import type { Rng } from '../../host-sim/hal/random.ts';
import type { Findings } from './findings.ts';

export type OpSpace = 'flash' | 'kv' | 'op';
export type OpKind = 'program' | 'erase' | 'kv';

/** One planned cut: at the index-th operation (1-based) of a space. */
export interface CutPoint {
  space: OpSpace;
  index: number;
  /** KV cuts only: whether the interrupted set lands. Default: a coin from the seed. */
  kvLands?: boolean;
  /**
   * 'op' cuts only: a cut due while the agent waits out a back-off is put off until the wait is
   * over, then drawn again 1..deferInBackoff operations later (the soak; README, "the soak and
   * back-off").
   */
  deferInBackoff?: number;
}

/** What one fired cut was. */
export interface CutEvent {
  /** Unified, flash and KV indices of the interrupted operation. */
  op: number;
  flashOp: number;
  kvOp: number;
  kind: OpKind;
  /** KV key, or the flash address / sector. */
  target: string;
  /** KV: the set landed; flash: bytes that landed. */
  landed: number | boolean;
  /** Virtual time of the cut (ms). */
  at: number;
}

/** A KV set of `cred` (a key rotation committing), located in all three index spaces. */
export interface CredCommit {
  op: number;
  flashOp: number;
  kvOp: number;
  at: number;
}

/** A number per plan for seeding (mixSeed): the same plan, the same tears. */
export function planKey(plan: CutPoint[]): number[] {
  return plan.flatMap((c) => [c.space === 'flash' ? 1 : c.space === 'kv' ? 2 : 3, c.index, c.kvLands === undefined ? 2 : c.kvLands ? 1 : 0]);
}

export class CutPlan {
  ops = 0;
  flashOps = 0;
  kvOps = 0;
  private readonly plan: CutPoint[];
  private planIndex = 0;
  /** Cuts that fired, in order. */
  readonly cuts: CutEvent[] = [];
  /** The cut being fired (between beforeOp and the PowerCut). */
  private firing: CutEvent | null = null;
  /** The agent was backing off after its last completed call (set by the world). */
  inBackoff = false;
  /** Cuts moved past a back-off wait (deferInBackoff). */
  deferred = 0;
  private deferring = false;
  /** `cred` sets seen (noteCredCommits). */
  readonly credCommits: CredCommit[] = [];

  constructor(
    cuts: CutPoint[],
    /** KV landing coins and the soak's fresh gaps. */
    private readonly rng: Rng,
    private readonly now: () => number,
    private readonly findings: Findings,
    /** Note every `cred` set (baseline runs). */
    readonly noteCredCommits: boolean,
  ) {
    this.plan = [...cuts];
  }

  /** Called before every flash program / erase and KV set; true when this one is to be cut. */
  beforeOp(kind: OpKind, target: string): boolean {
    this.ops++;
    if (kind === 'kv') this.kvOps++;
    else this.flashOps++;
    const next = this.plan[this.planIndex];
    if (next === undefined) return false;
    if (next.deferInBackoff !== undefined && next.space === 'op') {
      if (this.inBackoff && this.ops >= next.index) {
        if (!this.deferring) this.deferred++;
        this.deferring = true;
        next.index = this.ops + 1;
        return false;
      }
      if (this.deferring) {
        // The wait is over: a fresh gap from here, so that the cut does not always land on the
        // first operation after a back-off.
        this.deferring = false;
        next.index = this.ops + this.rng.int(0, next.deferInBackoff - 1);
        return this.hit(next, kind, target);
      }
    }
    return this.hit(next, kind, target);
  }

  private hit(next: CutPoint, kind: OpKind, target: string): boolean {
    const hit = next.space === 'op' ? this.ops === next.index
      : next.space === 'flash' ? kind !== 'kv' && this.flashOps === next.index
        : kind === 'kv' && this.kvOps === next.index;
    if (!hit) {
      const passed = next.space === 'op' ? this.ops > next.index : next.space === 'flash' ? this.flashOps > next.index : this.kvOps > next.index;
      if (passed) this.findings.violation('cut plan', `cut at ${next.space} ${next.index} was passed without firing`);
      return false;
    }
    this.planIndex++;
    this.firing = { op: this.ops, flashOp: this.flashOps, kvOp: this.kvOps, kind, target, landed: 0, at: this.now() };
    return true;
  }

  /** Whether the KV set being cut lands (the plan says, or a seeded coin). */
  kvLands(): boolean {
    const c = this.plan[this.planIndex - 1];
    return c?.kvLands ?? this.rng.chance(0.5);
  }

  /** The cut being fired landed this much (bytes, or whether the KV set landed). */
  cutLanded(landed: number | boolean): void {
    if (!this.firing) return;
    this.firing.landed = landed;
    this.cuts.push(this.firing);
    this.firing = null;
  }

  /** Appends further cuts to the plan (the soak plans as it goes). */
  planCut(c: CutPoint): void { this.plan.push(c); }

  /** Planned cuts that have not fired. */
  get pendingCuts(): number { return this.plan.length - this.planIndex; }

  /** A `cred` set is about to happen (the next operation). */
  noteCred(): void {
    this.credCommits.push({ op: this.ops + 1, flashOp: this.flashOps, kvOp: this.kvOps + 1, at: this.now() });
  }
}
