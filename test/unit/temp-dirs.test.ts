// A test run leaves nothing in the temp directory (issue 8 item 16): a test file that writes
// configs (writeConfig) and scratch directories (tempDir) is run in its own vitest with a
// private TMPDIR, which must be empty afterwards.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy-process.js';

it('a test file\'s temp configs and scratch directories are removed when it ends', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'portcullis-tmpcheck-'));
  try {
    // the child vitest must not think it is one of this run's workers
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TINYPOOL_WORKER_ID'));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/helpers/temp-dirs.fixture.test.ts'], {
      cwd: ROOT, env: { ...env, TMPDIR: tmp }, encoding: 'utf8', timeout: 120_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/1 passed/);
    expect(readdirSync(tmp).filter((n) => n.startsWith('portcullis-'))).toEqual([]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}, 150_000);
