// What one run of the power-cut proof found: the violations of its invariants (the first 50,
// each with when), the module's error lines by kind, and the last log lines for a report.

/** One violation of an invariant, with enough to find it again. */
export interface Violation {
  what: string;
  detail: string;
  at: number;
}

const VIOLATIONS_KEPT = 50;

export class Findings {
  readonly violations: Violation[] = [];
  /** Module error lines, numbers folded to N, with their counts. */
  readonly errorLines = new Map<string, number>();
  private readonly tail: string[] = [];

  constructor(private readonly now: () => number, private readonly tailSize: number) {}

  violation(what: string, detail: string): void {
    if (this.violations.length < VIOLATIONS_KEPT) this.violations.push({ what, detail, at: this.now() });
  }

  /** One module log line (level 0 error .. 3 debug). */
  log(level: number, line: string): void {
    if (this.tailSize > 0) {
      this.tail.push(`[${Math.round(this.now() / 1000)}s L${level}] ${line}`);
      if (this.tail.length > this.tailSize) this.tail.shift();
    }
    if (level > 0) return;
    const kind = line.replace(/\d+/g, 'N');
    this.errorLines.set(kind, (this.errorLines.get(kind) ?? 0) + 1);
  }

  /** The last module log lines (for a failure report). */
  logTail(): string[] { return [...this.tail]; }
}
