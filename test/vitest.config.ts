import { defineConfig } from 'vitest/config';

// Every test is bounded by its work (a count of bodies, cuts, devices, hours), never by the
// clock: on a loaded 2-core machine a test takes longer, and must still pass. The timeout only
// catches a hang, so it is far above any test's time on a slow machine; no test file sets its own.
const HANG_MS = 30 * 60_000;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: HANG_MS,
    hookTimeout: HANG_MS,
    teardownTimeout: HANG_MS,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
