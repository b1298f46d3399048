// RFC 7662 client against the embedded dev authorization server on port 0: behaviour (active,
// inactive, caching, single-flight, down, slow) and construction. The wire format and broken
// answers are in introspection-wire.test.ts.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { IntrospectionResult } from '../../../node/contracts/index.js';
import { IntrospectionClient, formEncode } from '../../../node/introspection/index.js';
import { issuerSchema } from '../../../node/config/index.js';
import type { VerifyOutcome } from '../../../node/pipeline/token-verifier.js';
import { waitFor } from '../../helpers/wait.js';
import { ENV, client, clients, clock, closeClients, issuer, sha256hex } from './client-fixtures.js';

afterEach(closeClients);

describe('introspection against the dev authorization server', () => {
  let as: AuthServer;
  beforeAll(async () => { as = await startAuthServer(); });
  afterAll(async () => { await as.close(); });
  afterEach(() => { as.setIntrospection('normal'); as.resetCounters(); });

  for (const auth_method of ['client_secret_basic', 'client_secret_post'] as const) {
    it(`turns an active token into an opaque principal (${auth_method})`, async () => {
      const token = as.issueOpaque({ sub: 'carol', scope: 'orders:read orders:write', tenant: 'acme' }, 600);
      const c = client(as.introspectionEndpoint, { auth_method });
      const r = await c.lookup(token);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const p = r.principal;
      expect(p).toMatchObject({ issuer: 'demo', kind: 'opaque', scopes: ['orders:read', 'orders:write'] });
      expect(p.claims).toMatchObject({ sub: 'carol', tenant: 'acme', iss: as.issuer });
      expect(p.claims).not.toHaveProperty('active');
      expect(p.exp).toBeGreaterThan(Date.now() / 1000 + 590);
      expect(p.validUntil).toBe(p.exp + 60); // exp + clock_skew_s: the instant HTTP and live connections refuse it
      expect(p.fingerprint).toBe(sha256hex(token).slice(0, 16));
      expect(Object.isFrozen(p.claims)).toBe(true);
      // second lookup: synchronous, from the cache
      expect(c.lookup(token)).toBe(r);
      expect(as.counters.introspection).toBe(1);
      expect(c.stats()).toMatchObject({ calls_ok: 1, cache_hits: 1, cache_misses: 1, latency_count: 1 });
    });
  }

  it('answers an unknown or revoked token with 401 invalid_token and caches that for negative_ttl_s', async () => {
    const t = clock();
    const c = client(as.introspectionEndpoint, { negative_ttl_s: 5 }, { now: t.now });
    const token = as.issueOpaque({}, 600);
    expect((await c.lookup(token)).ok).toBe(true);
    as.revokeOpaque(token);
    c.evict(sha256hex(token));
    const r = await c.lookup(token);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    expect(r.reason).toBe('inactive');
    expect(as.counters.introspection).toBe(2);
    t.advance(4_000);
    expect(c.lookup(token)).toBe(r);
    expect(as.counters.introspection).toBe(2);
    t.advance(1_000);
    expect(await c.lookup(token)).toMatchObject({ ok: false, reason: 'inactive' });
    expect(as.counters.introspection).toBe(3);
    expect(c.stats()).toMatchObject({ calls_ok: 1, calls_inactive: 2 });
  });

  it('never caches a positive answer past the token exp, nor past cache_ttl_s', async () => {
    const t = clock();
    const c = client(as.introspectionEndpoint, { cache_ttl_s: 60 }, { now: t.now });
    const short = as.issueOpaque({}, 3); // expires in 3 s, well before the 60 s TTL
    await c.lookup(short);
    t.advance(1_500);
    expect(c.lookup(short)).not.toBeInstanceOf(Promise);
    t.advance(2_000);
    const again = c.lookup(short);
    expect(again).toBeInstanceOf(Promise); // exp passed: asked again
    await again;
    expect(as.counters.introspection).toBe(2);

    const t2 = clock();
    const c2 = client(as.introspectionEndpoint, { cache_ttl_s: 10 }, { now: t2.now });
    const long = as.issueOpaque({}, 3600);
    await c2.lookup(long);
    t2.advance(9_900);
    expect(c2.lookup(long)).not.toBeInstanceOf(Promise);
    t2.advance(200);
    await c2.lookup(long);
    expect(as.counters.introspection).toBe(4);
  });

  it('makes one call for 100 concurrent lookups of the same token', async () => {
    as.setIntrospection('slow', 100);
    const c = client(as.introspectionEndpoint);
    const token = as.issueOpaque({ sub: 'dave' }, 600);
    const results = await Promise.all(Array.from({ length: 100 }, () => c.lookup(token)));
    expect(as.counters.introspection).toBe(1);
    expect(results.every((r) => r.ok && r.principal.claims.sub === 'dave')).toBe(true);
    expect(c.stats()).toMatchObject({ singleflight_waits: 99, calls_ok: 1 });
    // distinct tokens are not coalesced
    const others = [as.issueOpaque({}, 600), as.issueOpaque({}, 600)];
    await Promise.all(others.map((o) => c.lookup(o)));
    expect(as.counters.introspection).toBe(3);
  });

  it('answers 503 with Retry-After when the AS is down, and never caches the failure', async () => {
    const c = client(as.introspectionEndpoint, {}, { retryAfterS: 5 });
    const token = as.issueOpaque({}, 600);
    as.setIntrospection('down');
    const r = await c.lookup(token);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: 5 });
    expect(r.reason).toBe('introspection_http_error');
    expect(await c.lookup(token)).toMatchObject({ ok: false, reason: 'introspection_http_error' });
    expect(as.counters.introspection).toBe(2);
    as.setIntrospection('normal');
    expect((await c.lookup(token)).ok).toBe(true);
    expect(c.stats()).toMatchObject({ calls_failed: 2, calls_ok: 1 });
  });

  it('times out a slow AS at timeout_ms with 503, not cached', async () => {
    as.setIntrospection('slow', 2_000);
    const c = client(as.introspectionEndpoint, { timeout_ms: 200 });
    const token = as.issueOpaque({}, 600);
    const started = Date.now();
    const r = await c.lookup(token);
    const elapsed = Date.now() - started;
    // the AS answers after 2 s: a timeout reason (not its answer) means timeout_ms cut the call
    expect(r).toMatchObject({ ok: false, reason: 'introspection_timeout', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    as.setIntrospection('normal');
    expect((await c.lookup(token)).ok).toBe(true);
  });

  it('answers 503 when the AS refuses connections', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const c = client(`http://127.0.0.1:${port}/introspect`);
    expect(await c.lookup('abc')).toMatchObject({ ok: false, reason: 'introspection_network_error', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: 5 } });
  });

  it('reports answers through onResult keyed by SHA-256 hex, and a primed result is served synchronously', async () => {
    const seen: Array<[string, IntrospectionResult]> = [];
    const c = client(as.introspectionEndpoint, {}, { onResult: (h, r) => seen.push([h, r]) });
    const token = as.issueOpaque({ sub: 'erin' }, 600);
    await c.lookup(token);
    expect(seen).toHaveLength(1);
    const [key, result] = seen[0]!;
    expect(key).toBe(sha256hex(token));
    expect(result).toMatchObject({ active: true, claims: { sub: 'erin' } });
    expect(JSON.stringify(seen)).not.toContain(token);

    const other = client(as.introspectionEndpoint);
    expect(other.prime(key, result)).toBe(true);
    const hit = other.lookup(token);
    expect(hit).not.toBeInstanceOf(Promise);
    expect((hit as VerifyOutcome).ok && (hit as { principal: { claims: Record<string, unknown> } }).principal.claims.sub).toBe('erin');
    expect(as.counters.introspection).toBe(1);
    expect(other.prime('not-a-hash', result)).toBe(false);
  });

  it('does not cache an answer that was evicted while in flight (revocation race)', async () => {
    as.setIntrospection('slow', 100);
    const c = client(as.introspectionEndpoint);
    const token = as.issueOpaque({}, 600);
    const pending = c.lookup(token);
    c.evict(sha256hex(token));
    expect((await pending).ok).toBe(true);
    expect(c.lookup(token)).toBeInstanceOf(Promise);
    await c.lookup(token);
  });

  it('keeps at most maxEntries cached tokens (LRU)', async () => {
    const c = client(as.introspectionEndpoint, {}, { maxEntries: 2 });
    const [a, b, d] = [as.issueOpaque({}, 600), as.issueOpaque({}, 600), as.issueOpaque({}, 600)];
    await c.lookup(a);
    await c.lookup(b);
    c.lookup(a); // a is now the most recent
    await c.lookup(d); // evicts b
    expect(c.lookup(a)).not.toBeInstanceOf(Promise);
    expect(c.lookup(b)).toBeInstanceOf(Promise);
    expect(c.stats()).toMatchObject({ cache_entries: 2 });
    await c.lookup(b);
  });

  it('lets a coordinator answer for the AS (cluster owner) and counts a failing one as unavailable', async () => {
    const remote: IntrospectionResult = { active: true, claims: { sub: 'frank', scope: 'x' }, expiresAt: Date.now() + 60_000 };
    const c = client(as.introspectionEndpoint, {}, { coordinate: async () => remote });
    const r = await c.lookup('tok-from-elsewhere');
    expect(r.ok && r.principal.claims.sub).toBe('frank');
    expect(as.counters.introspection).toBe(0);
    const broken = client(as.introspectionEndpoint, {}, { coordinate: async () => { throw new Error('bus down'); } });
    expect(await broken.lookup('t')).toMatchObject({ ok: false, error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
  });

  it('answers 503 after close, and aborts calls in flight', async () => {
    as.setIntrospection('slow', 1_000);
    const c = new IntrospectionClient({ name: 'demo', issuer: issuer(as.introspectionEndpoint), env: ENV });
    const pending = c.lookup(as.issueOpaque({}, 600));
    await new Promise((r) => setTimeout(r, 50));
    await c.close();
    expect(await pending).toMatchObject({ ok: false, reason: 'introspection_closed' });
    expect(c.lookup('x')).toMatchObject({ ok: false, reason: 'introspection_closed' });
  });

  it('retired by a reload: a lookup already waiting gets the AS answer, then the client closes', async () => {
    as.setIntrospection('slow', 300);
    const c = new IntrospectionClient({ name: 'demo', issuer: issuer(as.introspectionEndpoint), env: ENV });
    const pending = c.lookup(as.issueOpaque({ sub: 'dave' }, 600));
    await new Promise((r) => setTimeout(r, 50));
    c.retire();
    const r = await pending;
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(c.stats().cache_entries).toBe(1);
    // closing drops the cache: wait for that without starting lookups that would keep it busy
    await waitFor('c.stats().cache_entries === 0', () => c.stats().cache_entries === 0, 3_000, { detail: () => 'retired client never closed' });
    expect(c.lookup('x')).toMatchObject({ ok: false, reason: 'introspection_closed' });
  });

  it('retired with nothing waiting: closes at once', async () => {
    const c = new IntrospectionClient({ name: 'demo', issuer: issuer(as.introspectionEndpoint), env: ENV });
    c.retire();
    await new Promise((r) => setImmediate(r));
    expect(c.lookup('x')).toMatchObject({ ok: false, reason: 'introspection_closed' });
  });
});

describe('construction', () => {
  it('names the missing secret variable without revealing anything else', () => {
    expect(() => new IntrospectionClient({ name: 'corp', issuer: issuer('http://127.0.0.1:1/i', { client_secret_env: 'CORP_SECRET' }), env: {} }))
      .toThrow(/issuers\.corp\.introspection\.client_secret_env: environment variable CORP_SECRET is not set/);
  });

  it('reads the secret from process.env by default', () => {
    process.env.PORTCULLIS_TEST_INTROSPECTION_SECRET = 's';
    try {
      const c = new IntrospectionClient({ name: 'd', issuer: issuer('http://127.0.0.1:1/i', { client_secret_env: 'PORTCULLIS_TEST_INTROSPECTION_SECRET' }) });
      clients.push(c);
      expect(c.ready()).toBe(true);
    } finally {
      delete process.env.PORTCULLIS_TEST_INTROSPECTION_SECRET;
    }
  });

  it('waits for a discovered endpoint when the config has none (503 until then)', async () => {
    const cfg = issuerSchema.parse({ issuer: 'i', audiences: ['a'], introspection: { client_id: 'c', client_secret_env: 'AS_SECRET' } });
    const c = new IntrospectionClient({ name: 'd', issuer: cfg, env: ENV });
    clients.push(c);
    expect(c.ready()).toBe(false);
    expect(await c.lookup('t')).toMatchObject({ ok: false, reason: 'introspection_no_endpoint' });
    c.setEndpoint('http://127.0.0.1:1/introspect');
    expect(c.ready()).toBe(true);
    expect(() => c.setEndpoint('ftp://x')).toThrow(/issuers\.d\.introspection\.endpoint/);
  });

  it('form-encodes like application/x-www-form-urlencoded', () => {
    expect(formEncode("a b+c*~!'()")).toBe('a+b%2Bc*%7E%21%27%28%29');
  });
});
