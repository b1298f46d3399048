// Fixture for test/unit/temp-dirs.test.ts, which runs this file in its own vitest with a
// private TMPDIR and checks nothing is left there; on its own it is a quick, harmless test.
import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runCli, writeConfig } from './proxy-process.js';
import { tempDir } from './temp-dirs.js';

it('writes configs and a scratch directory the way the suites do', async () => {
  const file = writeConfig({ upstreams: { u: { targets: ['http://127.0.0.1:9'] } }, routes: [{ name: 'r', match: { path: '/' }, upstream: 'u', auth: 'none' }] });
  expect(existsSync(file)).toBe(true);
  expect((await runCli(['check-config', file])).code).toBe(0);
  expect(existsSync(tempDir('portcullis-scratch-'))).toBe(true);
});
