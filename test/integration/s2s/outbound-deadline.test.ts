// A request waiting on its outbound token (client credentials, token exchange) is answered 503
// `temporarily_unavailable` with Retry-After at the route's deadline (`timeout_ms`), on HTTP/1.1,
// HTTP/2 and a decision endpoint alike; the call goes on and its token serves the next request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';
import { call, stats, waitReady } from './s2s-fixtures.js';
import { expectRetryLater } from '../../helpers/retry-later.js';

const SLOW_MS = 2_500; // the token endpoint's answer: well inside the calls' own timeout_ms (10 s), far past the routes' 300 ms

describe('the route deadline of a request waiting on its outbound token', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const seen: string[] = [];

  beforeAll(async () => {
    as = await startAuthServer();
    up = await startScriptedUpstream((req, res) => { seen.push(req.url ?? ''); res.end('ok'); });
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_auth', dialect: 'traefik' }] } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_SECRET', timeout_ms: 10_000 } } },
      upstreams: {
        app: { targets: [up.url] },
        billing: { targets: [up.url], client_credentials: { issuer: 'demo', client_id: 'portcullis', client_secret_env: 'PT_SECRET', timeout_ms: 10_000 } },
      },
      routes: [
        { name: 'xch', match: { path: '/xch/*' }, upstream: 'app', auth: {}, forward: { token: 'exchange' }, timeout_ms: 300 },
        { name: 'egress', match: { path: '/egress/*' }, upstream: 'billing', auth: 'none', timeout_ms: 300 },
      ],
      log: { level: 'info' },
      verifier: { pool_size: 1 },
    }, { env: { ...ADMIN_ENV, PT_SECRET: 'portcullis-secret' } });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('answers 503 with Retry-After before the slow token endpoint does; its token then serves the next request', async () => {
    as.setToken('slow', SLOW_MS);
    const [t1, t2, t3] = await Promise.all([as.issueJwt({ sub: 'h1' }), as.issueJwt({ sub: 'h2' }), as.issueJwt({ sub: 'edge' })]);
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const decide = (t: string): Promise<Response> => fetch(`${proxy.url}/_auth`, {
      headers: { authorization: `Bearer ${t}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/xch/edge', 'x-forwarded-host': 'app.example', 'x-forwarded-proto': 'http' },
    });
    const [egress, h1, h2, edge] = await Promise.all([
      call(`${proxy.url}/egress/a`),
      call(`${proxy.url}/xch/a`, { token: t1 }),
      h2Fetch(origin, { ':method': 'GET', ':path': '/xch/a', authorization: `Bearer ${t2}` }),
      decide(t3),
    ]);
    const s0 = await stats(proxy);
    // every call was still at the token endpoint when its client got the answer
    expect(s0['client_credentials.calls_ok'] ?? 0).toBe(0);
    expect(s0['token_exchange.calls_ok'] ?? 0).toBe(0);
    expectRetryLater([
      [egress.status, egress.headers['retry-after'], egress.text], [h1.status, h1.headers['retry-after'], h1.text],
      [h2.status, h2.headers['retry-after'], h2.text], [edge.status, edge.headers.get('retry-after'), await edge.text()],
    ]);
    expect(seen).toEqual([]);

    // the calls went on: once they are in, the same requests are served from the cache
    await waitFor('the outbound tokens obtained', async () => {
      const s = await stats(proxy);
      return s['client_credentials.calls_ok'] === 1 && s['token_exchange.calls_ok'] === 3;
    }, 10_000);
    const asked = as.counters.token;
    const again = await Promise.all([
      call(`${proxy.url}/egress/b`).then((r) => r.status),
      call(`${proxy.url}/xch/b`, { token: t1 }).then((r) => r.status),
      h2Fetch(origin, { ':method': 'GET', ':path': '/xch/b', authorization: `Bearer ${t2}` }).then((r) => r.status),
      decide(t3).then((r) => r.status),
    ]);
    expect(again).toEqual([200, 200, 200, 200]);
    expect(as.counters.token).toBe(asked);
    // the access log says why: one line per 503 (the lines reach the test asynchronously: waited for, then counted)
    const timedOut = (): number => proxy.logs().filter((l) => l.deny === 'outbound_token_timeout' && l.status === 503).length;
    await waitFor('the four 503s logged', () => timedOut() >= 4, 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(timedOut()).toBe(4);
  });
});
