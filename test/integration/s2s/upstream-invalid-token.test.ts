// An upstream's 401 `WWW-Authenticate: Bearer error="invalid_token"` to the client-credentials token
// the proxy attached: the token is dropped and a fresh one fetched (single-flight, at most one refetch
// per credential per cool-down), a request without a body is sent once more with it; a 401 without
// invalid_token changes nothing; on the HTTP/2 listener the token is dropped, not retried. Real token endpoint and upstream (node:http on port 0), real proxy.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { call, stats, waitReady } from './s2s-fixtures.js';

const ENV = { ...ADMIN_ENV, PT_CC_SECRET: 'egress-secret', PT_EXCHANGE_SECRET: 'portcullis-secret' };

/**
 * A token endpoint issuing `tok-<audience>-<n>` (opaque, 1 h), counting grants per audience; an
 * audience in `failAfterFirst` gets 503 once it has had one grant (`calls` counts those too).
 */
interface TokenEndpoint { url: string; grants: Map<string, number>; calls: Map<string, number>; failAfterFirst: Set<string>; close(): Promise<void> }

async function startTokenEndpoint(): Promise<TokenEndpoint> {
  const grants = new Map<string, number>();
  const calls = new Map<string, number>();
  const failAfterFirst = new Set<string>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const aud = new URLSearchParams(body).get('audience') ?? '?';
      calls.set(aud, (calls.get(aud) ?? 0) + 1);
      if (failAfterFirst.has(aud) && grants.has(aud)) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
        return;
      }
      const n = (grants.get(aud) ?? 0) + 1;
      grants.set(aud, n);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `tok-${aud}-${n}`, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, grants, calls, failAfterFirst, close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }) };
}

/**
 * An upstream per path prefix: `dead` tokens (and the first token of a `refuseFirst` prefix) get 401 with `challenge` (default Bearer invalid_token),
 * `refuseAll` answers that 401 to every token; else 200 echoing the token. `hold` keeps the 401s of
 * dead tokens until that many arrived (requests in flight at once), or 2 s passed.
 */
interface Upstream { url: string; seen: Array<{ path: string; method: string; token: string }>; dead: Set<string>; refuseAll: Set<string>; refuseFirst: Set<string>; hold: number; close(): Promise<void> }

async function startUpstream(): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const held: Array<() => void> = [];
  const up: Omit<Upstream, 'url' | 'close'> = { seen, dead: new Set(), refuseAll: new Set(), refuseFirst: new Set(), hold: 0 };
  const server: Server = createServer((req, res) => {
    req.resume();
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const path = req.url ?? '';
    seen.push({ path, method: req.method ?? '', token });
    const prefix = path.split('/')[1]!;
    // `refuseFirst`: the first token this prefix sees is dead (tokens the test cannot know in advance)
    if (up.refuseFirst.delete(prefix)) up.dead.add(token);
    const refuse = up.dead.has(token) || up.refuseAll.has(prefix);
    if (!refuse) { res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${token}`); return; }
    const challenge = prefix === 'plain' ? 'Bearer realm="upstream"' : 'Bearer realm="upstream", error="invalid_token", error_description="token revoked"';
    const answer = (): void => { res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'text/plain' }).end('refused by upstream'); };
    if (up.hold <= 1) { answer(); return; }
    held.push(answer);
    if (held.length >= up.hold) { up.hold = 0; for (const a of held.splice(0)) a(); }
    else setTimeout(() => { for (const a of held.splice(0)) a(); }, 2_000).unref();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(up, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }) });
}

let te: TokenEndpoint;
let as: AuthServer;
let upstream: Upstream;
let proxy: ProxyProcess;
const NAMES = ['retry', 'post', 'plain', 'all', 'many', 'h2', 'down'] as const;
/** Upstream name → the audience of its client-credentials token (shared by the pair). */
const SHARED = [['hostile', 'shared'], ['honest', 'shared'], ['hostile-d', 'shared-down'], ['honest-d', 'shared-down']] as const;

beforeAll(async () => {
  [te, upstream, as] = await Promise.all([startTokenEndpoint(), startUpstream(), startAuthServer()]);
  // one upstream (and so one client-credentials token, audience = its name) per case: cool-downs are per credential
  const upstreams: Record<string, { targets: string[]; client_credentials: Record<string, string> }> = Object.fromEntries(NAMES.map((n) => [n, { targets: [upstream.url], client_credentials: { issuer: 'http://127.0.0.1/as', token_endpoint: te.url, client_id: 'egress', client_secret_env: 'PT_CC_SECRET' } }]));
  // two pairs of upstreams sharing one client-credentials token each (the same audience): one hostile, one honest
  for (const [n, aud] of SHARED) upstreams[n] = { targets: [upstream.url], client_credentials: { issuer: 'http://127.0.0.1/as', token_endpoint: te.url, client_id: 'egress', client_secret_env: 'PT_CC_SECRET', audience: aud } };
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_EXCHANGE_SECRET' } } },
    upstreams: { ...upstreams, xch: { targets: [upstream.url] } },
    routes: [
      ...[...NAMES, ...SHARED.map(([n]) => n)].map((n) => ({ name: n, match: { path: `/${n}/*` }, upstream: n, auth: 'none' })),
      { name: 'xch', match: { path: '/xch/*' }, upstream: 'xch', auth: {}, forward: { token: 'exchange' } },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  }, { env: ENV });
  await waitReady(proxy);
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([te?.close(), upstream?.close(), as?.close()]);
});

const grants = (aud: string): number => te.grants.get(aud) ?? 0;
const tokensSeen = (prefix: string): string[] => upstream.seen.filter((s) => s.path.startsWith(`/${prefix}/`)).map((s) => s.token);

describe('an upstream\'s 401 invalid_token to the proxy\'s client-credentials token', () => {
  it('drops the token and sends a request without a body once more with a fresh one: the client sees 200', async () => {
    upstream.dead.add('tok-retry-1');
    const r = await call(`${proxy.url}/retry/a`);
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok tok-retry-2');
    expect(tokensSeen('retry')).toEqual(['tok-retry-1', 'tok-retry-2']);
    // later requests use the fresh token, no further grant
    expect((await call(`${proxy.url}/retry/b`)).text).toBe('ok tok-retry-2');
    expect(grants('retry')).toBe(2);
    const s = await stats(proxy);
    expect(s['client_credentials.upstream_refusals_evicted']).toBeGreaterThanOrEqual(1);
    expect(s['client_credentials.upstream_refusals_retried']).toBeGreaterThanOrEqual(1);
    // the line reaches the test asynchronously, after the answers: waited for, then read
    const refusal = (): Record<string, unknown> | undefined => proxy.logs().find((l) => l.reason === 'upstream_invalid_token' && l.audience === 'retry');
    await waitFor('the upstream refusal logged', () => refusal() !== undefined, 5_000, { detail: () => proxy.output().slice(-2000) });
    const line = refusal();
    expect(line).toMatchObject({ client_id: 'egress', retrying: true });
    expect(proxy.output()).not.toContain('tok-retry-1');
  });

  it('a request with a body gets the 401 (not sent twice); the next request carries a fresh token', async () => {
    upstream.dead.add('tok-post-1');
    const r = await request(`${proxy.url}/post/a`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(r.statusCode).toBe(401);
    expect(await r.body.text()).toBe('refused by upstream');
    expect(tokensSeen('post')).toEqual(['tok-post-1']);
    const next = await call(`${proxy.url}/post/b`);
    expect(next.status).toBe(200);
    expect(next.text).toBe('ok tok-post-2');
    expect(grants('post')).toBe(2);
  });

  it('a 401 without error="invalid_token" keeps the token and is not retried', async () => {
    upstream.refuseAll.add('plain');
    for (const p of ['a', 'b']) {
      const r = await call(`${proxy.url}/plain/${p}`);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="upstream"');
    }
    expect(tokensSeen('plain')).toEqual(['tok-plain-1', 'tok-plain-1']);
    expect(grants('plain')).toBe(1);
  });

  it('an upstream refusing every token gets each request at most twice and the token endpoint one refetch per cool-down', async () => {
    upstream.refuseAll.add('all');
    const t0 = Date.now();
    const rs: number[] = [];
    for (let i = 0; i < 10; i++) rs.push((await call(`${proxy.url}/all/${i}`)).status);
    await Promise.all(Array.from({ length: 10 }, async () => { rs.push((await call(`${proxy.url}/all/x`)).status); }));
    expect(rs).toEqual(Array(20).fill(401));
    // first request: tok-1 refused → dropped → tok-2 refused → passed on; then tok-2 is kept (cool-down): no more
    // retries — one more drop (and retry) per 5 s should this machine take longer than that
    const refetches = grants('all') - 1;
    expect(refetches).toBeGreaterThanOrEqual(1);
    expect(refetches).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / 5_000));
    expect(tokensSeen('all')).toHaveLength(20 + refetches);
    const s = await stats(proxy);
    expect(s['client_credentials.upstream_refusals_throttled']).toBeGreaterThanOrEqual(21 - 2 * refetches); // the refusals kept, not retried
  });

  it('an upstream refusing every token while the token endpoint fails: the endpoint is not called once per request', async () => {
    upstream.refuseAll.add('down');
    te.failAfterFirst.add('down');
    const t0 = Date.now();
    const rs: Array<{ status: number; retryAfter: unknown }> = [];
    for (let i = 0; i < 20; i++) {
      const r = await call(`${proxy.url}/down/${i}`);
      rs.push({ status: r.status, retryAfter: r.headers['retry-after'] });
    }
    // the first request: tok-1 refused → dropped → the refetch fails → 503; then no token: 503 (Retry-After), never unauthenticated
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(503));
    for (const r of rs) expect(String(r.retryAfter)).toMatch(/^[1-9]\d*$/);
    expect(tokensSeen('down')).toEqual(['tok-down-1']);
    // the grant and the failed refetch, then at most one call per second the failures last (not one per request)
    expect(te.calls.get('down')).toBeLessThanOrEqual(2 + Math.ceil((Date.now() - t0) / 1_000));
    expect((await stats(proxy))['client_credentials.failure_holds']).toBeGreaterThanOrEqual(1); // the requests answered without a call
  });

  it('many requests in flight with the refused token: one refetch, every client gets 200', async () => {
    expect((await call(`${proxy.url}/many/warm`)).text).toBe('ok tok-many-1');
    upstream.dead.add('tok-many-1');
    upstream.hold = 12; // the 401s wait until all 12 requests reached the upstream with the dead token
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => call(`${proxy.url}/many/${i}`)));
    expect(rs.map((r) => `${r.status} ${r.text}`)).toEqual(Array(12).fill('200 ok tok-many-2'));
    expect(grants('many')).toBe(2);
    expect(tokensSeen('many').filter((t) => t === 'tok-many-1')).toHaveLength(13);
  });

  it('on the HTTP/2 listener: the client gets the 401, the token is dropped, the next request carries a fresh one', async () => {
    upstream.dead.add('tok-h2-1');
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const first = await h2Fetch(origin, { ':method': 'GET', ':path': '/h2/a' });
    expect(first.status).toBe(401);
    const next = await h2Fetch(origin, { ':method': 'GET', ':path': '/h2/b' });
    expect(next.status).toBe(200);
    expect(next.text).toBe('ok tok-h2-2');
    expect(grants('h2')).toBe(2);
  });

  it('one upstream refusing every token shared with another (same audience): the other\'s own refusal is not held back by its cool-down; one refetch per 5 s', async () => {
    upstream.refuseAll.add('hostile');
    expect((await call(`${proxy.url}/honest/warm`)).text).toBe('ok tok-shared-1');
    const t0 = Date.now();
    // hostile: tok-1 refused → a new token for it (which then serves both) → refused again → kept (its cool-down)
    expect((await call(`${proxy.url}/hostile/a`)).status).toBe(401);
    expect(grants('shared')).toBe(2);
    expect((await call(`${proxy.url}/honest/a`)).text).toBe('ok tok-shared-2');
    // the authorization server then revokes tok-2 and the honest upstream refuses it too: its refusal is its own,
    // not throttled by the hostile one's (before, one cool-down per token: its clients got the 401 for 5 s)
    upstream.dead.add('tok-shared-2');
    const honest = await call(`${proxy.url}/honest/b`);
    expect(`${honest.status} ${honest.text}`).toBe('200 ok tok-shared-3');
    // the hostile upstream keeps refusing: no further token-endpoint call per request, one per 5 s at most
    const rs: number[] = [];
    for (let i = 0; i < 10; i++) rs.push((await call(`${proxy.url}/hostile/${i}`)).status, (await call(`${proxy.url}/honest/${i}`)).status);
    expect(rs.filter((_, i) => i % 2 === 1)).toEqual(Array(10).fill(200));
    expect(rs.filter((_, i) => i % 2 === 0)).toEqual(Array(10).fill(401));
    const refetches = grants('shared') - 3;
    // eslint-disable-next-line no-console
    console.log(`shared audience: ${grants('shared')} grants (1 + 2 forced) over ${Date.now() - t0} ms with a hostile upstream refusing 11 requests`);
    expect(refetches).toBeLessThanOrEqual(Math.floor((Date.now() - t0) / 5_000));
  });

  it('one upstream refusing the token it shares while the token endpoint fails: the other keeps the still-valid token (200), not 503', async () => {
    expect((await call(`${proxy.url}/honest-d/warm`)).text).toBe('ok tok-shared-down-1');
    upstream.refuseAll.add('hostile-d');
    te.failAfterFirst.add('shared-down');
    const t0 = Date.now();
    const hostile: number[] = [];
    const honest: string[] = [];
    for (let i = 0; i < 10; i++) {
      hostile.push((await call(`${proxy.url}/hostile-d/${i}`)).status);
      const r = await call(`${proxy.url}/honest-d/${i}`);
      honest.push(`${r.status} ${r.text}`);
    }
    // before, the hostile upstream's refusal dropped the token for both: the honest one got 503 from then on
    expect(honest).toEqual(Array(10).fill('200 ok tok-shared-down-1'));
    // the hostile one: tok-1 refused, no new token to be had → 503, never tok-1 again, never unauthenticated
    expect(hostile).toEqual(Array(10).fill(503));
    expect(tokensSeen('hostile-d')).toEqual(['tok-shared-down-1']);
    // the grant, the failed refetch, then at most one call per second the failures last
    const calls = te.calls.get('shared-down') ?? 0;
    // eslint-disable-next-line no-console
    console.log(`shared audience, endpoint down: ${calls} token-endpoint calls over ${Date.now() - t0} ms (10 hostile + 10 honest requests)`);
    expect(calls).toBeLessThanOrEqual(2 + Math.ceil((Date.now() - t0) / 1_000));
  });

  it('an exchanged token the upstream refuses is exchanged again and the request retried', async () => {
    const inbound = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const exchanges = (): number => as.tokenRequests.filter((r) => r.audience === 'xch').length;
    upstream.refuseFirst.add('xch');
    const r = await call(`${proxy.url}/xch/a`, { token: inbound });
    expect(r.status).toBe(200);
    const seen = tokensSeen('xch');
    expect(seen).toHaveLength(2);
    expect(seen[0]).not.toBe(seen[1]);
    expect(r.text).toBe(`ok ${seen[1]}`);
    expect(exchanges()).toBe(2);
    expect((await call(`${proxy.url}/xch/b`, { token: inbound })).text).toBe(`ok ${seen[1]}`);
    expect(exchanges()).toBe(2);
    const st = await stats(proxy);
    expect(st).toMatchObject({ 'token_exchange.upstream_refusals_evicted': 1, 'token_exchange.upstream_refusals_retried': 1 });
  });
});
