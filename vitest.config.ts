// Test runner config: unit tests and integration tests against real processes.
// Integration suites start the compiled CLI (dist/), so `npm test` builds first.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
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
  },
});
