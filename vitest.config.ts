// Test runner config: unit tests and integration tests against real processes.
// Integration suites start the compiled CLI (dist/), so `npm test` builds first.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // which files: the two projects below (unit, integration)
    // hooks every file needs: removing the temp directories its helpers created
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // 2-core machines: run files two at a time; suites start their own servers on port 0.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
    allowOnly: false,
    projects: [
      // Unit files share a worker process and its loaded modules (isolate: false): each fresh
      // process re-imported vitest and the sources, ~100 s of the unit files' ~200 s on a loaded
      // 2-core machine. They restore what they change (fake timers, their own env names).
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false } },
      // Integration files keep a fresh process each: they start servers and child processes, and
      // one left running must not outlive its file into the next.
      // 60 s per test, not 30: on a loaded CI run (2 393 s, CI run 1) one case that starts its own proxy took
      // 25.1 s of its 30 s and a dozen more 40–64 % of it. A bound, not a speed: a passing test is as fast.
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', '**/node_modules/**'], testTimeout: 60_000 } },
    ],
  },
});
