// Egress against real processes: routes to upstreams with `client_credentials` (auth: none,
// internal callers) get a client-credentials token from the demo authorization server, one
// token-endpoint call per (audience, scope set) while valid, refreshed before exp; the
// caller's own Authorization is dropped unless the route forwards it in another header; a
// failing token endpoint → 503 and the upstream receives no request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, sleep, stats, startVerifyingUpstream, waitReady, type VerifyingUpstream } from './s2s-fixtures.js';

const ENV = { ...ADMIN_ENV, PT_CC_SECRET: 'portcullis-secret' };
let as: AuthServer;
let upstream: VerifyingUpstream;

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cc = { client_id: 'portcullis', client_secret_env: 'PT_CC_SECRET' };
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: {
      billing: { targets: [upstream.url], client_credentials: { ...cc, issuer: 'demo', scopes: ['billing:write'], refresh_before_s: 2 } },
      ledger: { targets: [upstream.url], client_credentials: { ...cc, issuer: as.issuer, scopes: ['ledger:read'] } },
    },
    routes: [
      { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none' },
      { name: 'billing-fwd', match: { path: '/billing-fwd/*' }, upstream: 'billing', auth: 'none', forward: { caller_authorization: 'X-Forwarded-Authorization' } },
      { name: 'ledger', match: { path: '/ledger/*' }, upstream: 'ledger', auth: 'none' },
      { name: 'ledger-audit', match: { path: '/ledger-audit/*' }, upstream: 'ledger', auth: 'none', client_credentials: { ...cc, issuer: 'demo', scopes: ['ledger:audit'] } },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
    ...extra,
  };
}

const ccCalls = (audience: string, scope?: string): number =>
  as.tokenRequests.filter((r) => r.grant_type === 'client_credentials' && r.audience === audience && (scope === undefined || r.scope === scope)).length;

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
  upstream.trust(as.jwksUri, as.issuer, ['billing', 'ledger']);
});
afterAll(async () => {
  await Promise.all([as?.close(), upstream?.close()]);
});

describe('egress with client credentials', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy(config(), { env: ENV });
    await waitReady(proxy);
  });
  afterAll(async () => { await proxy?.stop(); });

  it('attaches one client-credentials token per (audience, scope set); the caller\'s Authorization is dropped', async () => {
    const before = upstream.received.length;
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => call(`${proxy.url}/billing/${i}`, { headers: { authorization: 'Bearer caller-secret-token', 'x-forwarded-authorization': 'forged' } })));
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(ccCalls('billing')).toBe(1);
    expect(as.tokenRequests.find((r) => r.audience === 'billing')).toMatchObject({ client_id: 'portcullis', scope: 'billing:write' });
    const seen = upstream.received.slice(before);
    expect(new Set(seen.map((s) => s.token)).size).toBe(1);
    expect(seen[0]!.verified?.payload).toMatchObject({ sub: 'portcullis', client_id: 'portcullis', scope: 'billing:write', aud: 'billing' });
    for (const s of seen) {
      expect(JSON.stringify(s.headers)).not.toContain('caller-secret-token');
      expect(s.headers['x-forwarded-authorization']).toBeUndefined();
    }

    // another route to the same upstream shares the token, and forwards the caller's Authorization where it says so
    const fwd = await call(`${proxy.url}/billing-fwd/1`, { headers: { authorization: 'Bearer caller-secret-token' } });
    expect(fwd.status).toBe(200);
    expect(upstream.received.at(-1)!.token).toBe(seen[0]!.token);
    expect(upstream.received.at(-1)!.headers['x-forwarded-authorization']).toBe('Bearer caller-secret-token');
    expect(ccCalls('billing')).toBe(1);

    // other scope sets are other tokens: one call each, issuer by name or by URL
    const [l1, l2, a1, a2] = await Promise.all([
      call(`${proxy.url}/ledger/1`), call(`${proxy.url}/ledger/2`), call(`${proxy.url}/ledger-audit/1`), call(`${proxy.url}/ledger-audit/2`),
    ]);
    expect([l1.status, l2.status, a1.status, a2.status]).toEqual([200, 200, 200, 200]);
    expect(ccCalls('ledger', 'ledger:read')).toBe(1);
    expect(ccCalls('ledger', 'ledger:audit')).toBe(1);
    expect(l1.json.claims.scope).toBe('ledger:read');
    expect(a1.json.claims.scope).toBe('ledger:audit');
    const st = await stats(proxy);
    expect(st['client_credentials.sources']).toBe(3);
    expect(st['client_credentials.calls_ok']).toBe(3);
  });
});

describe('refresh ahead of expiry', () => {
  it('replaces a token before it expires without a failed or unauthenticated call', async () => {
    as.setTokenTtl(4); // refresh_before_s 2 → refreshed after 2 s
    const proxy = await startProxy(config(), { env: ENV });
    try {
      await waitReady(proxy);
      const calls0 = ccCalls('billing');
      const before = upstream.received.length;
      // calls every 150 ms until the third token arrives (~4 s: the first, then one refresh every ~2 s)
      const tokens = (): number => new Set(upstream.received.slice(before).map((s) => s.token)).size;
      const end = Date.now() + 20_000;
      while (tokens() < 3 && Date.now() < end) {
        const r = await call(`${proxy.url}/billing/tick`);
        expect(r.status, r.text).toBe(200);
        await sleep(150);
      }
      const seen = upstream.received.slice(before);
      // every token verified (jose checks exp) when it arrived, and it changed at least twice
      expect(seen.every((s) => s.verified !== null)).toBe(true);
      expect(new Set(seen.map((s) => s.token)).size).toBeGreaterThanOrEqual(3);
      const calls = ccCalls('billing') - calls0;
      expect(calls).toBeGreaterThanOrEqual(3);
      expect(calls).toBeLessThanOrEqual(5); // about every 2 s, not per request
      for (const s of seen) expect(s.verified!.payload.exp! * 1000 - s.at).toBeGreaterThan(0);
      expect((await stats(proxy))['client_credentials.refreshes_ahead']).toBeGreaterThanOrEqual(2);
    } finally {
      as.setTokenTtl(3600);
      await proxy.stop();
    }
  }, 40_000);
});

describe('token endpoint failure', () => {
  it('503 with Retry-After and the upstream receives no request; recovers when the endpoint does, within the Retry-After', async () => {
    const proxy = await startProxy(config(), { env: ENV });
    try {
      await waitReady(proxy);
      as.setToken('down');
      const before = upstream.received.length;
      const rs = await Promise.all(Array.from({ length: 5 }, () => call(`${proxy.url}/billing/x`, { headers: { authorization: 'Bearer caller' } })));
      for (const r of rs) {
        expect(r.status, r.text).toBe(503);
        expect(r.json).toMatchObject({ error: 'temporarily_unavailable', code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' });
        expect(String(r.headers['retry-after'])).toMatch(/^[1-9]\d*$/);
      }
      expect(upstream.received.length).toBe(before);
      expect((await stats(proxy))['client_credentials.calls_failed']).toBeGreaterThanOrEqual(1);
      as.setToken('normal');
      // a client that waits as Retry-After says (the failed call holds the next back for 1 s) gets through
      await sleep(Number(rs[0]!.headers['retry-after']) * 1_000);
      const ok = await call(`${proxy.url}/billing/x`);
      expect(ok.status, ok.text).toBe(200);
    } finally {
      as.setToken('normal');
      await proxy.stop();
    }
  });
});
