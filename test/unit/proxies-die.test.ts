// A proxy a test started dies with its test file even when the test fails before stopping it:
// before, `portcullis serve` processes of failed tests ran on for as long as the machine did
// (mut2 found one 23 minutes after its file failed). The fixture runs in its own vitest.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy-process.js';
import { waitFor } from '../helpers/wait.js';

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

it('a proxy left running by a failed test is killed when its file ends', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-leak-'));
  const pidFile = join(dir, 'pid');
  let pid = 0;
  try {
    // the child vitest must not think it is one of this run's workers
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TINYPOOL_WORKER_ID'));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/helpers/proxy-leak.fixture.test.ts'], {
      cwd: ROOT, env: { ...env, PORTCULLIS_LEAK_PID_FILE: pidFile }, encoding: 'utf8', timeout: 120_000,
    });
    expect(r.stdout, r.stderr).toMatch(/1 failed/);
    pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    await waitFor('the failed test\'s proxy to be gone', async () => !alive(pid), 10_000);
  } finally {
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}, 150_000);
