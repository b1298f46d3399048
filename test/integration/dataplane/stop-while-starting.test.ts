// `serve --workers 2` sent SIGTERM while its workers are still booting, to the primary alone (tini as
// PID 1, `kill PID`, systemd's KillMode=mixed): it stops them, waits for them and exits 0 — before,
// the signal's default action ended the primary at once (143) and a worker still booting crashed on its
// closed IPC channel with an "Error: write EPIPE" trace on the shared terminal. A start that fails in the
// primary (its admin port held: a second instance started with the same config) ends the same way.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, CLI, runCli, writeConfig } from '../../helpers/proxy-process.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { reap } from '../../helpers/reaper.js';

let echo: EchoUpstream;

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

describe('SIGTERM to the primary while the workers boot', () => {
  it('stops the booting workers, exits 0, and prints no crash trace', async () => {
    const config = writeConfig(baseConfig(echo.url, { log: { level: 'info', access: false } }));
    const proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', config, '--workers', '2'], { env: { ...process.env, ...ADMIN_ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let output = '';
    proc.stdout.on('data', (d) => { output += d; });
    proc.stderr.on('data', (d) => { output += d; });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
    // the primary forks its workers right after its member started; SIGTERM once one of them exists, before any is ready
    let workers: number[] = [];
    for (let i = 0; i < 4_000 && workers.length === 0 && proc.exitCode === null; i++) {
      workers = workerPids(proc.pid!);
      if (workers.length === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(workers.length, `the primary forked a worker\n${output}`).toBeGreaterThan(0);
    expect(output, 'the signal reaches it before the workers are ready').not.toContain('"msg":"listening"');
    proc.kill('SIGTERM');
    const end = await exited;
    expect(end, output).toEqual({ code: 0, signal: null });
    expect(output).not.toMatch(/EPIPE|Error:|node:internal/);
    expect(workers.filter(alive), 'no worker outlives the primary').toEqual([]);
  });
});

describe('an admin port another process holds', () => {
  let held: Server;
  let port: number;
  beforeAll(async () => {
    held = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    port = (held.address() as { port: number }).port;
  });
  afterAll(async () => { await new Promise((r) => held.close(r)); });

  const config = (): string => writeConfig(baseConfig(echo.url, { admin: { listen: { host: '127.0.0.1', port }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' }, log: { level: 'info', access: false } }));
  const says = (): RegExp => new RegExp(`portcullis: admin\\.listen: cannot listen on 127\\.0\\.0\\.1:${port} \\(another process holds the port\\)`);

  it('serve names admin.listen and the port, exits 1; with --workers the booting workers stop without a crash trace', async () => {
    const one = await runCli(['serve', '--config', config()], ADMIN_ENV, 30_000);
    expect(one.code, one.stdout + one.stderr).toBe(1);
    expect(one.stderr).toMatch(says());
    const two = await runCli(['serve', '--config', config(), '--workers', '2'], ADMIN_ENV, 30_000);
    expect(two.code, two.stdout + two.stderr).toBe(1);
    expect(two.stderr).toMatch(says());
    expect(two.stdout + two.stderr).not.toMatch(/EPIPE|Error:|node:internal/);
  });
});
