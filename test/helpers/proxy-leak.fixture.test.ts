// Fixture for test/unit/proxies-die.test.ts, which runs this file in its own vitest with
// PORTCULLIS_LEAK_PID_FILE set: the test fails without stopping the proxy it started (as a failed
// assertion does), and the driver checks that proxy is gone. On its own it is a quick test that passes.
import { writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { startProxy } from './proxy-process.js';

it('starts a proxy and, when asked, fails before stopping it', async () => {
  const p = await startProxy({ upstreams: { u: { targets: ['http://127.0.0.1:9'] } }, routes: [{ name: 'r', match: { path: '/' }, upstream: 'u', auth: 'none' }] });
  const pidFile = process.env.PORTCULLIS_LEAK_PID_FILE;
  if (pidFile === undefined) { await p.stop(); return; }
  writeFileSync(pidFile, String(p.proc.pid));
  expect('the test', 'fails here, the proxy still running').toBe('passed');
});
