// Test runner config: unit tests and integration tests against real processes.
// Integration suites start the compiled CLI (dist/), so `npm test` builds first.
import { defineConfig } from 'vitest/config';

/** Integration directories whose files run one after another in a shared worker process (see below). */
const SHARED = ['auth', 'dataplane', 'decision', 'deploy', 'dpop', 'http2', 'observability', 's2s', 'ws'].map((d) => `test/integration/${d}/**/*.test.ts`);

export default defineConfig({
  test: {
    // which files: the projects below (unit, integration-shared, integration)
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
      // Integration files outside cluster/ share their worker process too: a fresh process per file
      // (node start-up, vitest and the helpers re-imported) cost ~0.8–1.2 s of CPU a file on the loaded
      // 2-core machine, a third of a 30-file sample's CPU. What a file starts dies with it all the same:
      // test/setup.ts kills its child processes and removes its temp dirs after its own hooks. Not threads:
      // a file's in-process uWS app (uws-tls) aborts node when its worker thread ends with uWS handles open.
      // 60 s per integration test, not 30: on a loaded CI run (2 393 s, CI run 1) one case that starts its own
      // proxy took 25.1 s of its 30 s and a dozen more 40–64 % of it. A bound, not a speed: a passing test is as fast.
      { extends: true, test: { name: 'integration-shared', include: SHARED, isolate: false, testTimeout: 60_000 } },
      // hosts/multi-host (~116 s, the longest file by 4×; a fresh process) starts first. Vitest hands files
      // to its workers in project-name order ('hosts' < 'integration' < 'integration-shared' < 'unit'), then,
      // in a clean clone without a results cache, larger files first: inside 'integration' it came 35th (at
      // ~180 s of a 1 100 s CI run). Last-started, it alone would set the run's tail; started first, the other
      // worker runs the rest beside it. Only the name orders it: all projects share one group (no barrier).
      { extends: true, test: { name: 'hosts', include: ['test/integration/hosts/**/*.test.ts'], testTimeout: 60_000 } },
      // cluster/ (in-process members, NATS clients, product modules with process-wide state) and the
      // helpers' own fixtures keep a fresh process each: one file's state must not reach the next.
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', 'test/integration/hosts/**', ...SHARED, '**/node_modules/**'], testTimeout: 60_000 } },
    ],
  },
});
