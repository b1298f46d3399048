// A request whose opaque token is being introspected waits at most its route's deadline (`timeout_ms`):
// then 503 `temporarily_unavailable` with Retry-After, on HTTP/1.1, HTTP/2 and a decision endpoint alike.
// The call goes on, one per token however many requests wait, and its answer serves the next requests
// from the cache. Regression: the wait ended only at the issuer's `introspection.timeout_ms` (3 s).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';
import { metric } from '../cluster/proxy-fixtures.js';
import { call } from '../s2s/s2s-fixtures.js';
import { expectRetryLater } from '../../helpers/retry-later.js';

const SLOW_MS = 2_500; // inside introspection.timeout_ms (3 s), far past the route's 300 ms

/** An RFC 7662 endpoint answering every token active, SLOW_MS after the call arrived; calls counted per token. */
interface SlowAs { issuer: string; endpoint: string; calls: Map<string, number>; answered: number; close(): Promise<void> }

async function startSlowAs(): Promise<SlowAs> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? '';
      as.calls.set(token, (as.calls.get(token) ?? 0) + 1);
      const now = Math.floor(Date.now() / 1000);
      const text = JSON.stringify({ active: true, sub: token.slice(0, 8), iss: as.issuer, aud: 'api', exp: now + 600, iat: now, token_type: 'Bearer' });
      setTimeout(() => {
        if (res.destroyed) return;
        res.on('finish', () => { as.answered++; });
        res.writeHead(200, { 'content-type': 'application/json' }).end(text);
      }, SLOW_MS);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const as: SlowAs = {
    issuer: url, endpoint: `${url}/introspect`, calls: new Map(), answered: 0,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  return as;
}

describe('the route deadline of a request waiting on an introspection call', () => {
  let as: SlowAs;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const seen: string[] = [];

  beforeAll(async () => {
    as = await startSlowAs();
    up = await startScriptedUpstream((req, res) => { seen.push(req.url ?? ''); res.end('ok'); });
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_auth', dialect: 'traefik' }] } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: {
        main: {
          issuer: as.issuer, audiences: ['api'], jwks_uri: 'http://127.0.0.1:9/jwks', // opaque tokens only: no keys needed
          introspection: { endpoint: as.endpoint, client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', timeout_ms: 3_000 },
        },
      },
      upstreams: { app: { targets: [up.url] } },
      routes: [
        { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {}, timeout_ms: 300 },
        // no timeout_ms: the upstream's response_ms (15 s) is the deadline, past the call's own 3 s
        { name: 'patient', match: { path: '/patient/*' }, upstream: 'app', auth: {} },
      ],
      log: { level: 'info' },
    }, { env: { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: 'secret' } });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('answers 503 with Retry-After before the authorization server does; its answer then serves the same tokens from the cache', async () => {
    const [t1, t2, t3, t4] = ['h1-opaque-0123456789', 'h2-opaque-0123456789', 'edge-opaque-0123456789', 'patient-opaque-0123456789'];
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const decide = (t: string): Promise<Response> => fetch(`${proxy.url}/_auth`, {
      headers: { authorization: `Bearer ${t}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/edge', 'x-forwarded-host': 'app.example', 'x-forwarded-proto': 'http' },
    });
    const patient = call(`${proxy.url}/patient/a`, { token: t4 });
    const [h1, joined, h2, edge] = await Promise.all([
      call(`${proxy.url}/api/a`, { token: t1 }),
      call(`${proxy.url}/api/a`, { token: t1 }), // the same token: joins the first one's call, with its own deadline
      h2Fetch(origin, { ':method': 'GET', ':path': '/api/a', authorization: `Bearer ${t2}` }),
      decide(t3),
    ]);
    // no call had been answered when every client got its answer
    expect(as.answered).toBe(0);
    expectRetryLater([
      [h1.status, h1.headers['retry-after'], h1.text], [joined.status, joined.headers['retry-after'], joined.text], [h2.status, h2.headers['retry-after'], h2.text],
      [edge.status, edge.headers.get('retry-after'), await edge.text()],
    ]);
    expect(seen).toEqual([]);

    // a route without timeout_ms waits for the answer
    expect((await patient).status).toBe(200);
    expect(as.answered).toBeGreaterThanOrEqual(1);
    expect(seen).toEqual(['/patient/a']);

    // the calls went on: once their answers are in, the same tokens pass from the cache
    await waitFor('every call answered', () => as.answered === 4);
    await waitFor('the answer cached', async () => (await call(`${proxy.url}/api/b`, { token: t1 })).status === 200);
    const again = await Promise.all([
      h2Fetch(origin, { ':method': 'GET', ':path': '/api/b', authorization: `Bearer ${t2}` }).then((r) => r.status),
      decide(t3).then((r) => r.status),
    ]);
    expect(again).toEqual([200, 200]);
    // one call per token: the joined request and the requests after the answer made none
    expect([...as.calls.entries()].sort()).toEqual([[t3, 1], [t1, 1], [t2, 1], [t4, 1]].sort());
    // the access log and /metrics say why: one line, one count per 503
    // (the lines reach the test asynchronously: waited for, then counted)
    const deadlines = (): number => proxy.logs().filter((l) => l.deny === 'introspection_deadline' && l.status === 503).length;
    await waitFor('the four 503s logged', () => deadlines() >= 4, 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(deadlines()).toBe(4);
    expect(await metric(proxy, 'portcullis_introspection_deadline_total')).toBe(4);
  });
});
