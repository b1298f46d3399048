// A request whose token names a kid the cached JWKS lacks waits on the coalesced refetch at most its
// route's deadline (`timeout_ms`): then 503 `temporarily_unavailable` with Retry-After — not 401, the
// token may be good — on HTTP/1.1, HTTP/2 and a decision endpoint alike. The refetch goes on and its
// keys serve the next request. Regression: the wait ended only at `jwks.timeout_ms` (5 s).
// A refetch that fails (the JWKS endpoint answering 500) is a 503 too, not 401 `invalid_token`;
// regression: the token of a fresh rotation was told it was invalid while the endpoint was down.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwksOf, makeKey, type FixtureKey } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';
import { call } from '../s2s/s2s-fixtures.js';
import { expectRetryLater } from '../../helpers/retry-later.js';

const SLOW_MS = 2_500; // the refetch's answer at the latest: inside jwks.timeout_ms (5 s), far past the route's 300 ms

/** A JWKS endpoint whose fetch after hold() waits for release() (or SLOW_MS), then publishes the held keys too; failing(keys) answers 500 until failing(null), then publishes `keys`. */
interface SlowJwks { url: string; fetches: number; answered: number; hold(keys: FixtureKey[]): void; release(): void; failing(next: FixtureKey[] | null): void; close(): Promise<void> }

async function startSlowJwks(first: FixtureKey[]): Promise<SlowJwks> {
  let published = first;
  let held: FixtureKey[] | null = null;
  let go: (() => void) | null = null;
  let failing = false;
  const server: Server = createServer((req, res) => {
    jwks.fetches++;
    if (failing) { res.writeHead(500).end(); return; }
    const answer = (keys: FixtureKey[]): void => {
      res.on('finish', () => { jwks.answered++; });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf(keys)));
    };
    if (held === null) { answer(published); return; }
    const keys = held;
    held = null;
    const t = setTimeout(() => go?.(), SLOW_MS);
    go = () => { clearTimeout(t); go = null; published = keys; answer(keys); };
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const jwks: SlowJwks = {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`, fetches: 0, answered: 0,
    hold: (keys) => { held = keys; },
    release: () => go?.(),
    failing: (next) => { failing = next === null; if (next !== null) published = next; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  return jwks;
}

describe('the route deadline of a request waiting on an unknown-kid JWKS refetch', () => {
  const known = makeKey('ES256', 'known');
  const rotated = makeKey('ES256', 'rotated');
  let jwks: SlowJwks;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const seen: string[] = [];

  beforeAll(async () => {
    jwks = await startSlowJwks([known]);
    up = await startScriptedUpstream((req, res) => { seen.push(req.url ?? ''); res.end('ok'); });
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_auth', dialect: 'traefik' }] } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      // no cool-down: each case below gets its own refetch (the refill budget still bounds them)
      issuers: { main: { issuer: TEST_ISSUER, jwks_uri: jwks.url, audiences: [TEST_AUDIENCE], algorithms: ['ES256'], jwks: { unknown_kid_cooldown_s: 0 } } },
      upstreams: { app: { targets: [up.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {}, timeout_ms: 300 }],
      log: { level: 'info' },
      verifier: { mode: 'inline' },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    jwks?.release();
    await proxy?.stop();
    await Promise.all([jwks?.close(), up?.close()]);
  });

  const origin = (): string => `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
  const decide = (t: string): Promise<Response> => fetch(`${proxy.url}/_auth`, {
    headers: { authorization: `Bearer ${t}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/edge', 'x-forwarded-host': 'app.example', 'x-forwarded-proto': 'http' },
  });

  it('answers 503 with Retry-After before the JWKS endpoint does; the refetched key then serves the same tokens', async () => {
    const [t1, t2, t3] = ['h1', 'h2', 'edge'].map((sub) => makeToken(rotated, { claims: { sub } }));
    const fetchesBefore = jwks.fetches;
    jwks.hold([known, rotated]); // the issuer rotated: its next JWKS answer (slow) carries the new key
    const [h1, joined, h2, edge] = await Promise.all([
      call(`${proxy.url}/api/a`, { token: t1 }),
      call(`${proxy.url}/api/a`, { token: t1 }), // the same token: joins the first one's verification, with its own deadline
      h2Fetch(origin(), { ':method': 'GET', ':path': '/api/a', authorization: `Bearer ${t2}` }),
      decide(t3),
    ]);
    // the one refetch was still at the JWKS endpoint when every client got its answer
    expect(jwks.fetches).toBe(fetchesBefore + 1);
    expect(jwks.answered).toBe(fetchesBefore);
    expectRetryLater([
      [h1.status, h1.headers['retry-after'], h1.text], [joined.status, joined.headers['retry-after'], joined.text], [h2.status, h2.headers['retry-after'], h2.text],
      [edge.status, edge.headers.get('retry-after'), await edge.text()],
    ]);
    expect(seen).toEqual([]);

    // the refetch went on: once its keys are in, the same tokens pass, with no further fetch
    jwks.release();
    await waitFor('the refetch answered', () => jwks.answered === fetchesBefore + 1);
    await waitFor('the refetched key in use', async () => (await call(`${proxy.url}/api/b`, { token: t1 })).status === 200);
    const again = await Promise.all([
      h2Fetch(origin(), { ':method': 'GET', ':path': '/api/b', authorization: `Bearer ${t2}` }).then((r) => r.status),
      decide(t3).then((r) => r.status),
    ]);
    expect(again).toEqual([200, 200]);
    expect(jwks.fetches).toBe(fetchesBefore + 1);
    // the access log says why: one line per 503 (the lines reach the test asynchronously: waited for, then counted)
    const timedOut = (): number => proxy.logs().filter((l) => l.deny === 'jwks_refetch_timeout' && l.status === 503).length;
    await waitFor('the four 503s logged', () => timedOut() >= 4, 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(timedOut()).toBe(4);
  });

  it('answers 503 with Retry-After, not 401, when the refetch for an unknown kid fails; the last good keys keep serving', async () => {
    const next = makeKey('ES256', 'next'); // the issuer rotated again, and its JWKS endpoint is down
    const [t1, t2, t3] = ['h1', 'h2', 'edge'].map((sub) => makeToken(next, { claims: { sub } }));
    jwks.failing(null);
    const fetchesBefore = jwks.fetches;
    const [h1, h2, edge] = await Promise.all([
      call(`${proxy.url}/api/c`, { token: t1 }),
      h2Fetch(origin(), { ':method': 'GET', ':path': '/api/c', authorization: `Bearer ${t2}` }),
      decide(t3),
    ]);
    const answers = [[h1.status, h1.headers['retry-after'], h1.text], [h2.status, h2.headers['retry-after'], h2.text], [edge.status, edge.headers.get('retry-after'), await edge.text()]];
    // the refetch was made (a 500 comes back at once, so a later door may make its own): the token may
    // well be good, so it is not told it is invalid
    expect(jwks.fetches).toBeGreaterThan(fetchesBefore);
    expect(answers.map(([status, retryAfter, body]) => [status, retryAfter, String(body).includes('temporarily_unavailable')])).toEqual([[503, '5', true], [503, '5', true], [503, '5', true]]);
    // the last good keys keep serving their tokens; the new kid asked again while the endpoint still fails is still 503
    expect((await call(`${proxy.url}/api/d`, { token: makeToken(known) })).status).toBe(200);
    expect((await call(`${proxy.url}/api/c`, { token: t1 })).status).toBe(503);
    expect(seen).not.toContain('/api/c');

    // the endpoint is back with the new key: the backoff retry loads it and the same token passes
    jwks.failing([known, rotated, next]);
    await waitFor('the new key after the JWKS recovered', async () => (await call(`${proxy.url}/api/e`, { token: t1 })).status === 200, 10_000);
    // a kid still unknown once the JWKS answers again is 401
    expect((await call(`${proxy.url}/api/f`, { token: makeToken(makeKey('ES256', 'never-published')) })).status).toBe(401);
    const failed = (): number => proxy.logs().filter((l) => l.deny === 'jwks_refetch_failed' && l.status === 503).length;
    await waitFor('the 503s logged', () => failed() >= 4, 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(failed()).toBeGreaterThanOrEqual(4);
  });
});
