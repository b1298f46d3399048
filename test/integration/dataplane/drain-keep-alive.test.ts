// A stop as a load balancer's keep-alive client sees it: with server.timeouts.shutdown_delay_ms,
// /readyz says 503 while new connections are still served; then, during the drain, a request on a
// connection opened before is answered 200 with `Connection: close` (before: 503 SHUTTING_DOWN,
// an error for a client that had only reused its idle connection) and the process exits 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, request } from 'undici';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';

let up: ScriptedUpstream;
let proxy: ProxyProcess;
let release: () => void = () => {};
const held = new Promise<void>((resolve) => { release = resolve; });

beforeAll(async () => {
  // /hold is answered when the test says so: the request in flight that keeps the drain going
  up = await startScriptedUpstream((req, res) => {
    if (req.url === '/hold') void held.then(() => res.end('held'));
    else res.end('ok');
  });
  proxy = await startProxy(baseConfig(up.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { drain_ms: 20_000, shutdown_delay_ms: 1_000 } },
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  release();
  await proxy?.stop('SIGKILL');
  await up?.close();
});

/** A GET on a new connection: its status, or the error code when it cannot connect. */
async function fresh(path: string): Promise<number | string> {
  try {
    const r = await request(`${proxy.url}${path}`, { reset: true });
    await r.body.text();
    return r.statusCode;
  } catch (err) { return (err as { code?: string }).code ?? String(err); }
}

describe('SIGTERM under keep-alive traffic', () => {
  it('/readyz 503 while new connections are still served, then 200 + Connection: close on an open connection, exit 0', async () => {
    const keepAlive = new Client(proxy.url, { keepAliveTimeout: 60_000, pipelining: 1 });
    try {
      const first = await keepAlive.request({ path: '/a', method: 'GET' });
      expect(await first.body.text()).toBe('ok');
      const inflight = request(`${proxy.url}/hold`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
      await waitFor('the held request at the upstream', () => up.seen.some((s) => s.url === '/hold'), 5_000);

      proxy.proc.kill('SIGTERM');
      await waitFor('/readyz 503', async () => (await request(`${proxy.adminUrl}/readyz`)).statusCode === 503, 5_000);
      // readiness flipped, the port still serves: a load balancer's last requests are not refused
      expect(await fresh('/during-delay')).toBe(200);

      // the drain has begun once the port refuses new connections
      await waitFor('new connections refused', async () => (await fresh('/probe')) === 'ECONNREFUSED', 10_000);
      const late = await keepAlive.request({ path: '/b', method: 'GET' });
      const body = await late.body.text();
      expect(late.statusCode, body).toBe(200);
      expect(body).toBe('ok');
      expect(late.headers.connection).toBe('close');

      release();
      expect(await inflight).toEqual({ status: 200, body: 'held' });
      expect(await proxy.exited).toBe(0);
    } finally {
      await keepAlive.destroy();
    }
  });
});
