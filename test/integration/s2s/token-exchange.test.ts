// `forward.token: exchange` (RFC 8693) against real processes: the demo authorization server's
// token endpoint exchanges the inbound token for one with the upstream's audience; the upstream
// verifies it with jose against the authorization server's JWKS. One token-endpoint call for
// concurrent requests, the result cached and never served to another caller or audience; endpoint down → 503 and nothing forwarded; a refused
// subject token → 401; the original token never reaches the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, stats, startVerifyingUpstream, waitReady, type VerifyingUpstream } from './s2s-fixtures.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
let as: AuthServer;
let upstream: VerifyingUpstream;
let proxy: ProxyProcess;

const exchanges = (): number => as.tokenRequests.filter((r) => r.grant_type === GRANT).length;

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
  upstream.trust(as.jwksUri, as.issuer, ['orders', 'billing']);
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_EXCHANGE_SECRET' } } },
    upstreams: { orders: { targets: [upstream.url] }, billing: { targets: [upstream.url] } },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'exchange' } },
      { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: {}, forward: { token: 'exchange' } },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_EXCHANGE_SECRET: 'portcullis-secret' } });
  await waitReady(proxy);
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), upstream?.close()]);
});

describe('token exchange', () => {
  it('calls the token endpoint once for concurrent requests and caches the exchanged token', async () => {
    const inbound = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const calls0 = exchanges();
    const before = upstream.received.length;
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => call(`${proxy.url}/orders/${i}`, { token: inbound })));
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(exchanges() - calls0).toBe(1);
    const req = as.tokenRequests.at(-1)!;
    expect(req).toMatchObject({ grant_type: GRANT, client_id: 'portcullis', audience: 'orders' });

    const seen = upstream.received.slice(before);
    expect(new Set(seen.map((s) => s.token)).size).toBe(1);
    expect(seen[0]!.token).not.toBe(inbound);
    expect(seen[0]!.verified?.payload).toMatchObject({ sub: 'alice', aud: 'orders', scope: 'orders:read', act: { sub: 'portcullis' } });
    for (const s of seen) expect(JSON.stringify(s.headers)).not.toContain(inbound);

    for (let i = 0; i < 5; i++) expect((await call(`${proxy.url}/orders/again`, { token: inbound })).status).toBe(200);
    expect(exchanges() - calls0).toBe(1);
    const st = await stats(proxy);
    expect(st['token_exchange.calls_ok']).toBeGreaterThanOrEqual(1);
    expect(st['token_exchange.singleflight_waits']).toBeGreaterThanOrEqual(19);
    expect(st['token_exchange.cache_hits']).toBeGreaterThanOrEqual(5);
  });

  it('never serves one caller\'s exchanged token to another: concurrent callers each get their own subject', async () => {
    const who = ['carol', 'dave', 'erin'] as const;
    const tokens = await Promise.all(who.map((sub) => as.issueJwt({ sub, scope: 'orders:read' })));
    const before = upstream.received.length;
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => call(`${proxy.url}/orders/${i}`, { token: tokens[i % 3]!, headers: { 'x-caller': who[i % 3]! } })));
    expect(rs.map((r) => r.status)).toEqual(Array(30).fill(200));
    const seen = upstream.received.slice(before);
    expect(seen).toHaveLength(30);
    for (const s of seen) expect(s.verified?.payload.sub, JSON.stringify(s.headers)).toBe(s.headers['x-caller']);
    expect(new Set(seen.map((s) => s.token)).size).toBe(3);
  });

  it('never serves the token exchanged for one upstream\'s audience to another\'s: one exchange per audience', async () => {
    const inbound = await as.issueJwt({ sub: 'frank', scope: 'orders:read' });
    const calls0 = exchanges();
    const before = upstream.received.length;
    const paths = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? `/orders/${i}` : `/billing/${i}`));
    const rs = await Promise.all(paths.map((p) => call(`${proxy.url}${p}`, { token: inbound, headers: { 'x-path': p } })));
    expect(rs.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect(exchanges() - calls0).toBe(2);
    for (const s of upstream.received.slice(before)) expect(s.verified?.payload.aud).toBe(String(s.headers['x-path']).split('/')[1]);
  });

  it('token endpoint down → 503 with Retry-After, nothing forwarded (the original token is never sent instead); the endpoint is not called once per request meanwhile', async () => {
    as.setToken('down');
    const callers = await Promise.all(['bob', 'frank', 'grace', 'heidi'].map((sub) => as.issueJwt({ sub })));
    const before = upstream.received.length;
    const calls0 = as.counters.token;
    const held0 = (await stats(proxy))['token_exchange.failure_holds'] ?? 0;
    try {
      const rs = await Promise.all(Array.from({ length: 5 }, () => call(`${proxy.url}/orders/x`, { token: callers[0]! })));
      // then, one after another, every caller (each its own inbound token) asks again
      for (let i = 0; i < 12; i++) rs.push(await call(`${proxy.url}/orders/x`, { token: callers[i % 4]! }));
      for (const r of rs) {
        expect(r.status, r.text).toBe(503);
        expect(r.json).toMatchObject({ error: 'temporarily_unavailable' });
        expect(String(r.headers['retry-after'])).toMatch(/^[1-9]\d*$/);
      }
      expect(upstream.received.length).toBe(before);
      const st = await stats(proxy);
      expect(st['token_exchange.calls_failed']).toBeGreaterThanOrEqual(1);
      // 17 requests of 4 callers: each failed call holds the next second's calls back (before: 13 calls, one per request)
      const calls = as.counters.token - calls0;
      const held = st['token_exchange.failure_holds']! - held0;
      expect(calls + held, 'every request either called or was held').toBe(13);
      // (each request follows the previous 503 within milliseconds, well inside the 1 s hold; typically 1–2 calls)
      expect(held, `${calls} calls for 13 loads`).toBeGreaterThanOrEqual(1);
    } finally {
      as.setToken('normal');
    }
    // failures are not cached: the endpoint is back, and a request after the hold succeeds
    let ok = await call(`${proxy.url}/orders/x`, { token: callers[0]! });
    for (let i = 0; ok.status === 503 && i < 40; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ok = await call(`${proxy.url}/orders/x`, { token: callers[0]! });
    }
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.claims.sub).toBe('bob');
  });

  it('a subject token the authorization server refuses (invalid_grant) → 401, nothing forwarded', async () => {
    const inbound = await as.issueJwt({ sub: 'carol' });
    // the proxy still holds the old key (JWKS max-age 300 s); the authorization server forgets it
    await as.rotateKeys({ dropOld: true });
    const before = upstream.received.length;
    const r = await call(`${proxy.url}/orders/y`, { token: inbound });
    expect(r.status, r.text).toBe(401);
    expect(String(r.headers['www-authenticate'])).toContain('error="invalid_token"');
    expect(upstream.received.length).toBe(before);
    expect((await stats(proxy))['token_exchange.calls_refused']).toBe(1);
  });
});
