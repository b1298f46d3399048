// DESIGN §4's bus row under `serve --workers 2` with NATS: nats-server killed → both workers keep
// serving on local state while /readyz (still 200) says degraded and /metrics counts it; past
// cluster.fail_closed_after_ms every worker answers auth routes 503 + Retry-After (auth: none
// routes stay 200) and /readyz is 503; when nats-server returns every worker serves again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { memberConfig, metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const FAIL_CLOSED_AFTER_MS = 1_500;
let as: AuthServer;
let echo: EchoUpstream;
let nats: NatsServer & { stop(): Promise<void> };
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
  const config = memberConfig(as, echo.url, {
    nats: { servers: [nats.url] }, subject_prefix: `ptw${Math.random().toString(36).slice(2, 8)}`, auth: BUS_AUTH, fail_closed_after_ms: FAIL_CLOSED_AFTER_MS,
  });
  config.routes = [
    { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
    { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
  ];
  proxy = await startProxy(config, { env: { ...ADMIN_ENV, ...BUS_ENV }, args: ['--workers', '2'], timeoutMs: 40_000 });
});

afterAll(async () => {
  await proxy?.stop();
  await nats?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** Eight requests, each on a fresh connection (SO_REUSEPORT spreads them over both workers). */
async function statuses(path: string, token: string | null): Promise<Array<{ status: number; retryAfter: string }>> {
  const out: Array<{ status: number; retryAfter: string }> = [];
  for (let i = 0; i < 8; i++) {
    const r = await request(`${proxy.url}${path}`, { headers: { connection: 'close', ...(token === null ? {} : { authorization: `Bearer ${token}` }) } });
    await r.body.dump();
    out.push({ status: r.statusCode, retryAfter: String(r.headers['retry-after'] ?? '') });
  }
  return out;
}

async function readyz(): Promise<{ status: number; body: { ready: boolean; workers_ready: number; cluster: { bus_connected: boolean; degraded: boolean } } }> {
  const r = await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: r.statusCode, body: await r.body.json() as never };
}

describe('serve --workers 2 losing its NATS', () => {
  it('degraded but serving, then 503 on auth routes past fail_closed_after_ms on every worker, then back when nats-server returns', async () => {
    const token = await as.issueJwt({ sub: 'w' });
    await waitFor('both workers to serve', async () => (await readyz()).status === 200 && (await statuses('/api/x', token)).every((a) => a.status === 200), 15_000);

    const killedAt = performance.now();
    await nats.kill();
    // before fail_closed_after_ms: still serving, marked degraded
    await waitFor('/readyz to say degraded', async () => (await readyz()).body.cluster.degraded, 5_000);
    const early = await statuses('/api/x', token);
    const r1 = await readyz();
    if (performance.now() - killedAt < FAIL_CLOSED_AFTER_MS) {
      expect(early.map((a) => a.status)).toEqual(Array(8).fill(200));
      expect(r1.status).toBe(200);
    }
    expect(r1.body.cluster).toMatchObject({ bus_connected: false, degraded: true });
    expect(await metric(proxy, 'portcullis_revocations_degraded')).toBeGreaterThanOrEqual(1);

    // past it: every worker refuses auth routes, open routes stay open
    await waitFor('every worker to fail closed', async () => (await statuses('/api/x', token)).every((a) => a.status === 503), 10_000);
    expect(performance.now() - killedAt).toBeGreaterThanOrEqual(FAIL_CLOSED_AFTER_MS - 100);
    for (const a of await statuses('/api/x', token)) {
      expect(a.status).toBe(503);
      expect(a.retryAfter).toMatch(/^[1-9]\d*$/);
    }
    expect((await statuses('/public/x', null)).map((a) => a.status)).toEqual(Array(8).fill(200));
    expect((await readyz()).status).toBe(503);

    await nats.restart();
    await waitFor('every worker to serve again', async () => (await statuses('/api/x', token)).every((a) => a.status === 200), 15_000);
    await waitFor('/readyz 200 again', async () => (await readyz()).status === 200, 10_000);
    expect((await readyz()).body).toMatchObject({ ready: true, workers_ready: 2, cluster: { bus_connected: true, degraded: false } });
  }, 60_000);
});
