// The rolling-upgrade check (not part of `npm test` or CI: it needs a built checkout of the previous
// release): PORTCULLIS_PREVIOUS_ROOT=<its root> npx vitest run --config test/upgrade/vitest.config.ts
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/upgrade/*.upgrade.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
