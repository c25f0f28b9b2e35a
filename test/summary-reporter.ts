// Prints the run's totals as one plain line, `N passed, N failed` (`, N skipped` when any),
// after vitest's own report, so CI logs carry a closing line any reader understands.
import fs from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    let passed = 0, failed = 0, skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failed++;
        else skipped++;
      }
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++;
    }
    const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    // Last thing printed, after vitest's own summary and the global teardown.
    process.once('exit', () => fs.writeSync(1, `\n${line}\n`));
  }
}
