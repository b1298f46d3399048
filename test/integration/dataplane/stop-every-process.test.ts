// `serve --workers 2` when SIGTERM reaches every process at once (`pkill -TERM -f portcullis`,
// systemd's default KillMode=control-group): each worker hears it twice — the signal and the
// primary's shutdown message — and must still drain once: the request in flight is answered
// and the primary exits 0. Before, the second stop found the instance closing, exited at once
// and cut the request. A clean stop's last line is `stopped`, with `--workers` as in one process
// (before, the primary's last line was `shutting down: draining workers`: a clean stop said nothing);
// a serving worker killed from outside during the stop (OOM, kill -9) is no clean stop (exit 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

/** The `msg` of the last JSON log line `pid` wrote. */
function lastLine(output: string, pid: number): string | undefined {
  const mine = output.split('\n').flatMap((l) => { try { const j = JSON.parse(l) as { pid?: number; msg?: string }; return j.pid === pid ? [j.msg] : []; } catch { return []; } });
  return mine.at(-1);
}

let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
  await workersReady(proxy);
});

afterAll(async () => {
  await proxy?.stop('SIGKILL');
  await echo?.close();
});

describe('SIGTERM to the primary and every worker at once', () => {
  it('the request in flight is answered 200, the primary exits 0 and its last line is `stopped`', async () => {
    // closed, not exit: its last lines (the ones read below) can reach the test after the 'exit' event
    const exited = proxy.closed;
    const inflight = request(`${proxy.url}/slow/1500`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }), (err: Error) => ({ status: 0, body: err.message }));
    await waitFor("echo.lastRequest?.url === '/slow/1500'", () => echo.lastRequest?.url === '/slow/1500', 3_000);
    const pids = workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    for (const pid of [proxy.proc.pid!, ...pids]) process.kill(pid, 'SIGTERM');
    const res = await inflight;
    expect(res.status, `in-flight request: ${res.body}`).toBe(200);
    expect(await exited).toBe(0);
    expect(lastLine(proxy.output(), proxy.proc.pid!), proxy.output().slice(-2000)).toBe('stopped');
  });
});

describe('single process: a second signal during the drain', () => {
  it('SIGTERM then SIGINT: the request in flight is still answered 200 and the process exits 0', async () => {
    const p = await startProxy(baseConfig(echo.url), { env: ADMIN_ENV });
    const exited = p.closed; // its output all in: the last lines can come after the 'exit' event
    const inflight = request(`${p.url}/slow/1200`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }), (err: Error) => ({ status: 0, body: err.message }));
    await waitFor("echo.lastRequest?.url === '/slow/1200'", () => echo.lastRequest?.url === '/slow/1200', 3_000);
    p.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    p.proc.kill('SIGINT');
    const res = await inflight;
    expect(res.status, `in-flight request: ${res.body}`).toBe(200);
    expect(await exited).toBe(0);
    expect(lastLine(p.output(), p.proc.pid!), p.output().slice(-2000)).toBe('stopped');
  });
});

describe('--workers: a worker that never finishes its stop', () => {
  it('is killed at the drain\'s bound and the primary exits 1, naming it (a stop that hung is not reported as clean)', async () => {
    const p = await startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { drain_ms: 300 } } }), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    try {
      await workersReady(p);
      const exited = p.closed; // its output all in: the last lines can come after the 'exit' event
      const [stuck] = workerPids(p.proc.pid!);
      process.kill(stuck!, 'SIGSTOP'); // hears neither the signal nor the primary's message until killed
      p.proc.kill('SIGTERM');
      expect(await exited, p.output().slice(-2000)).toBe(1);
      expect(p.output()).toContain("a worker's stop failed, hung or had to be killed");
    } finally {
      await p.stop('SIGKILL');
    }
  });
});

describe('--workers: a serving worker killed from outside during the stop (OOM killer, kill -9)', () => {
  it('the primary exits 1 and its last line is `stopped, but …` — before, `stopped` and exit 0', async () => {
    // the delay keeps both workers alive after the primary's message: the window for the kill, not a speed bound
    const p = await startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { shutdown_delay_ms: 2_000 } } }), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    try {
      await workersReady(p);
      const exited = p.closed; // its output all in: the last lines can come after the 'exit' event
      const [victim] = workerPids(p.proc.pid!);
      p.proc.kill('SIGTERM');
      await waitFor('the primary stopping', () => p.output().includes('shutting down: draining workers'), 10_000, { detail: () => p.output().slice(-2000) });
      process.kill(victim!, 'SIGKILL');
      expect(await exited, p.output().slice(-2000)).toBe(1);
      expect(p.output()).toContain('worker killed by SIGKILL during the stop');
      expect(lastLine(p.output(), p.proc.pid!), p.output().slice(-2000)).toMatch(/^stopped, but /);
    } finally {
      await p.stop('SIGKILL');
    }
  });
});
