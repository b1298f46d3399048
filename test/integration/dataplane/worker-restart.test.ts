// `serve --workers 2` after its first start (issue 8 item 5): a worker that dies while it
// boots — e.g. a replacement SIGKILLed before it was ready — is restarted with backoff like
// any crashed worker, so the instance gets back to two workers and /readyz 200. When a
// worker slot cannot be restored (every replacement dies), /healthz answers 503 with the
// reason, so an orchestrator replaces the process; it recovers once a worker boots again. And the
// primary killed (kill -9, OOM): its workers leave on their own at once — node:cluster ends a worker whose IPC
// channel closed, shutdown_delay_ms or not — and free the port for a restarted member; what is left is only their
// exit status, for PID 1 to reap (the "zombies" an operator saw in a shell without a reaping init).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;

async function admin(path: string): Promise<{ status: number; body: any; text: string }> {
  const r = await request(`${proxy.adminUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await r.body.text();
  let body: unknown = null;
  try { body = JSON.parse(text); } catch { /* metrics text */ }
  return { status: r.statusCode, body, text };
}

/** Wait for a child of the primary that is not in `known` and SIGKILL it at once (it is still booting). */
async function killNextWorker(known: Set<number>, ms = 15_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const fresh = workerPids(proxy.proc.pid!).find((p) => !known.has(p));
    if (fresh !== undefined) {
      known.add(fresh);
      try { process.kill(fresh, 'SIGKILL'); } catch { /* already gone */ }
      return fresh;
    }
    if (Date.now() > end) throw new Error(`no new worker appeared within ${ms} ms:\n${proxy.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Wait until /readyz says both workers are ready again; throws naming `when` past 20 s. */
async function restoredToTwo(when: string): Promise<void> {
  await waitFor(`two ready workers ${when}`, async () => {
    const r = await admin('/readyz');
    return r.status === 200 && r.body?.workers_ready === 2;
  }, 20_000, { detail: () => proxy.output().slice(-3000) });
}

async function servesRequests(): Promise<boolean> {
  const statuses = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const r = await request(`${proxy.url}/after/${i}`, { headers: { connection: 'close' } });
    await r.body.dump();
    return r.statusCode;
  }));
  return statuses.every((s) => s === 200);
}

beforeAll(async () => {
  echo = await startEchoUpstream();
  // a production delay before the drain (load balancer deregistration): a SIGTERM'd worker keeps serving for it
  proxy = await startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { shutdown_delay_ms: 60_000 } } }), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
  await restoredToTwo('at start');
});

afterAll(async () => {
  await proxy?.stop('SIGKILL'); // killed by the last test already; a SIGTERM would sit out the delay
  await echo?.close();
});

describe('serve --workers 2: restoring workers after the first start', () => {
  it('SIGKILL a worker, then SIGKILL its replacement while it boots: restarted again, back to two workers, /readyz and /healthz 200', async () => {
    const primary = proxy.proc.pid!;
    const known = new Set(workerPids(primary));
    expect(known.size).toBe(2);
    process.kill([...known][0]!, 'SIGKILL');
    await killNextWorker(known); // the replacement, before it is ready
    await restoredToTwo('after the kill');
    expect(workerPids(primary)).toHaveLength(2);
    expect((await admin('/healthz')).status).toBe(200);
    expect(await servesRequests()).toBe(true);
    await waitFor("proxy.output().includes('worker exited before it was ready; restarting')", () => proxy.output().includes('worker exited before it was ready; restarting'), 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(proxy.output()).not.toContain('not restarting');
    expect(proxy.proc.exitCode).toBeNull();
  });

  it('a worker whose every replacement dies while booting: /healthz 503 naming it, counted in /metrics; healthy again once one boots', async () => {
    const primary = proxy.proc.pid!;
    const known = new Set(workerPids(primary));
    process.kill([...known][0]!, 'SIGKILL');
    let health = await admin('/healthz');
    let killed = 0;
    while (health.status === 200) {
      await killNextWorker(known);
      killed++;
      expect(killed, 'the supervisor kept /healthz at 200 through 20 failed restarts').toBeLessThan(20);
      health = await admin('/healthz');
    }
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'failing' });
    expect(health.body.reason).toMatch(/worker 0|worker 1/);
    expect(health.body.reason).toMatch(/could not be restored/);
    // the log line is written asynchronously: it may arrive just after the /healthz answer
    await waitFor("proxy.output().includes('worker cannot be restored')", () => proxy.output().includes('worker cannot be restored'), 5_000, { detail: () => proxy.output().slice(-2000) });
    const metrics = (await admin('/metrics')).text;
    expect(Number(/^portcullis_workers_unrestorable (\d+)$/m.exec(metrics)?.[1])).toBe(1);
    expect(Number(/^portcullis_worker_restarts_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(killed);
    // the other worker still serves meanwhile, and the primary keeps retrying at the capped backoff
    expect(await servesRequests()).toBe(true);
    await restoredToTwo('after the kills stopped');
    expect((await admin('/healthz')).status).toBe(200);
    expect(Number(/^portcullis_workers_unrestorable (\d+)$/m.exec((await admin('/metrics')).text)?.[1])).toBe(0);
  });

  it('the primary SIGKILLed: both workers exit (gone, or a zombie for PID 1 to reap) and the port is free to bind again', async () => {
    const primary = proxy.proc.pid!;
    const workers = workerPids(primary);
    expect(workers).toHaveLength(2);
    const port = Number(new URL(proxy.url).port);
    proxy.proc.kill('SIGKILL');
    // a process that exited but was not reaped yet is a zombie ('Z'): it holds no socket and runs no code
    const state = (pid: number): string => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0]!; } catch { return 'gone'; } };
    await waitFor('both workers to exit', () => workers.every((w) => state(w) === 'gone' || state(w) === 'Z'), 10_000, { detail: () => `${workers.map(state).join(' ')}\n${proxy.output().slice(-2000)}` });
    // the kernel releases a dead process's listening socket a moment after it shows as exited
    const bindable = (): Promise<boolean> => new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    await waitFor(`port ${port} free to bind`, bindable, 5_000);
  });
});
