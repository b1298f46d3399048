// JwtVerifier over time: keys unavailable at start (503), rotation picked up through
// an unknown-kid refetch, a flood of random kids rationed, JWKS outages keeping the
// last good keys, cache expiry at exp exactly, key withdrawal, hot reload, worker
// crashes, and the dev authorization server end to end.
import { describe, it, expect, afterEach, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { JwtVerifier, VerifierPool, RETRY_AFTER_KEYS_S, defaultWorkerFilename, type JwtVerifierOptions, type VerifyOutcome } from '../../../node/jwt/index.js';
import { startAuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { fixtureKeys, makeKey } from '../../fixtures/keys.js';
import { TEST_ISSUER, makeToken, nowS } from '../../fixtures/tokens.js';
import { issuerConfig, silentLogger, type IssuerInput } from './helpers.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

const k = fixtureKeys();
const CRASH_WORKER = new URL('./crash.worker.mjs', import.meta.url).href;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((o) => o.close()));
});

async function setup(over: Partial<IssuerInput> = {}, opts: Partial<JwtVerifierOptions> = {}): Promise<{ s: JwksServer; v: JwtVerifier }> {
  const s = await startJwksServer([k.RS256, k.ES256]);
  open.push(s);
  const v = new JwtVerifier({
    issuers: { main: issuerConfig({ issuer: TEST_ISSUER, jwks_uri: s.jwksUri, ...over }) },
    // on the pool: a miss is then always a Promise, so "synchronous" below means "a cache hit"
    poolSize: 2, cacheEntries: 1000, cacheBytes: 1 << 20, logger: silentLogger(), mode: 'pool', ...opts,
  });
  open.push(v);
  return { s, v };
}

async function started(over: Partial<IssuerInput> = {}, opts: Partial<JwtVerifierOptions> = {}): Promise<{ s: JwksServer; v: JwtVerifier }> {
  const r = await setup(over, opts);
  r.v.start();
  expect(await r.v.whenReady(5000)).toBe(true);
  return r;
}

describe('startup', () => {
  it('answers 503 with Retry-After until the keys are loaded', async () => {
    const { s, v } = await setup();
    s.mode = 'down';
    v.start();
    expect(v.ready()).toBe(false);
    expect(await v.whenReady(300)).toBe(false);
    const r = await v.verify(makeToken(k.RS256), null);
    expect(r).toMatchObject({ ok: false, reason: 'keys_unavailable', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: RETRY_AFTER_KEYS_S } });
    s.mode = 'normal';
    expect(await v.whenReady(5000)).toBe(true);
    expect((await v.verify(makeToken(k.RS256), null)).ok).toBe(true);
  });
});

describe('key rotation and outages', () => {
  it('picks up a rotated key through one unknown-kid refetch, without restart', async () => {
    const { s, v } = await started(); // default cool-down: 10 s
    const fetches = s.counters.jwks;
    const rotated = makeKey('ES256');
    s.setKeys([k.RS256, k.ES256, rotated]);
    const results = await Promise.all(Array.from({ length: 10 }, () => v.verify(makeToken(rotated), null)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(s.counters.jwks - fetches).toBe(1);
    expect((await v.verify(makeToken(k.RS256), null)).ok).toBe(true); // old keys still published
    // a second rotation inside the cool-down is refused without a fetch, then picked up after it
    const again = makeKey('EdDSA');
    s.setKeys([k.RS256, k.ES256, rotated, again]);
    expect(await v.verify(makeToken(again), null)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    expect(s.counters.jwks - fetches).toBe(1);
    // the cool-down is a duration on the monotonic clock (a wall-clock step moves nothing): move that clock past it
    const t = performance.now();
    const mono = vi.spyOn(performance, 'now').mockImplementation(() => t + 10_001);
    try {
      expect((await v.verify(makeToken(again), null)).ok).toBe(true);
    } finally {
      mono.mockRestore();
    }
    expect(s.counters.jwks - fetches).toBe(2);
    expect(v.stats()).toMatchObject({ jwks_unknown_kid_refetch: 2, jwks_unknown_kid_throttled: 1 });
  });

  it.each([
    ['the default 10 s cool-down', 10, 1],
    ['no cool-down (budget only)', 0, 3],
  ])('rations a flood of 200 random kids to a handful of JWKS fetches: %s', async (_n, cooldown, maxFetches) => {
    const { s, v } = await started({ jwks: { unknown_kid_cooldown_s: cooldown } });
    const before = s.counters.jwks;
    const liar = makeKey('RS256');
    const results: VerifyOutcome[] = [];
    for (let wave = 0; wave < 4; wave++) {
      const tokens = Array.from({ length: 50 }, () => makeToken(liar, { header: { kid: randomBytes(12).toString('hex') } }));
      results.push(...(await Promise.all(tokens.map((t) => v.verify(t, null)))));
    }
    expect(results.every((r) => !r.ok && r.reason === 'unknown_kid')).toBe(true);
    const fetched = s.counters.jwks - before;
    expect(fetched).toBeGreaterThanOrEqual(1);
    expect(fetched).toBeLessThanOrEqual(maxFetches);
    expect(v.stats().jwks_unknown_kid_refetch).toBe(fetched);
    expect(v.stats().pool_tasks).toBe(0); // refused on the main thread: the pool never saw them
  });

  it('keeps verifying with the last good keys while the JWKS is down', async () => {
    const { s, v } = await started({ jwks: { unknown_kid_cooldown_s: 0 } });
    s.mode = 'down';
    // an unknown kid forces a refetch, which fails: the kid may be a fresh rotation, so 503, not 401
    expect(await v.verify(makeToken(makeKey('ES256')), null)).toMatchObject({ ok: false, reason: 'jwks_refetch_failed', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
    expect(v.stats().jwks_fetch_failed).toBeGreaterThanOrEqual(1);
    expect(v.ready()).toBe(true);
    expect((await v.verify(makeToken(k.ES256), null)).ok).toBe(true);
    expect((await v.verify(makeToken(k.RS256), null)).ok).toBe(true);
  });

  it('stops accepting a cached token once its key is withdrawn from the JWKS', async () => {
    const { s, v } = await started({ jwks: { unknown_kid_cooldown_s: 0 } });
    const token = makeToken(k.ES256);
    expect((await v.verify(token, null)).ok).toBe(true);
    expect(v.verify(token, null)).not.toBeInstanceOf(Promise);
    s.setKeys([k.RS256]);
    await v.verify(makeToken(makeKey('RS256')), null); // unknown kid → refetch → ES256 key gone
    const r = await v.verify(token, null);
    expect(r).toMatchObject({ ok: false, reason: 'unknown_kid' });
  });
});

describe('cache expiry', () => {
  it('never serves a cached token at or after its exp (no skew)', async () => {
    const { v } = await started({ clock_skew_s: 0 });
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = nowS();
    vi.setSystemTime(t0 * 1000);
    const token = makeToken(k.RS256, { iat: t0, ttlS: 30 });
    expect((await v.verify(token, null)).ok).toBe(true);
    vi.setSystemTime((t0 + 30) * 1000 - 1);
    const hit = v.verify(token, null);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toMatchObject({ ok: true });
    vi.setSystemTime((t0 + 30) * 1000);
    expect(v.verify(token, null)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('expires the cache entry at exp even when the clock skew would still accept it', async () => {
    const { v } = await started({ clock_skew_s: 60 });
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = nowS();
    vi.setSystemTime(t0 * 1000);
    const token = makeToken(k.ES256, { iat: t0, ttlS: 30 });
    expect((await v.verify(token, null)).ok).toBe(true);
    vi.setSystemTime((t0 + 30) * 1000);
    const expired = v.stats().cache_expirations!;
    expect((await v.verify(token, null)).ok).toBe(true);
    expect(v.stats().cache_expirations).toBe(expired + 1); // not a cache hit: judged again
    vi.setSystemTime((t0 + 91) * 1000);
    expect(v.verify(token, null)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('bounds the cache by bytes', async () => {
    const { v } = await started({}, { cacheEntries: 1000, cacheBytes: 8 * 1024 });
    for (let i = 0; i < 40; i++) expect((await v.verify(makeToken(k.ES256), null)).ok).toBe(true);
    const st = v.stats();
    expect(st.cache_bytes).toBeLessThanOrEqual(8 * 1024);
    expect(st.cache_entries).toBeLessThan(40);
    expect(st.cache_evictions).toBeGreaterThan(0);
  });
});

describe('hot reload', () => {
  it('keeps unchanged issuers and applies a changed policy without a 503 gap', async () => {
    const { s, v } = await started();
    const token = makeToken(k.RS256);
    expect((await v.verify(token, null)).ok).toBe(true);
    const fetches = s.counters.jwks;
    v.reconfigure({ main: issuerConfig({ issuer: TEST_ISSUER, jwks_uri: s.jwksUri }) });
    expect(v.verify(token, null)).not.toBeInstanceOf(Promise); // same config: cache and actor kept
    expect(s.counters.jwks).toBe(fetches);
    v.reconfigure({ main: issuerConfig({ issuer: TEST_ISSUER, jwks_uri: s.jwksUri, audiences: ['api://other'] }) });
    expect(v.ready()).toBe(true);
    expect(await v.verify(token, null)).toMatchObject({ ok: false, reason: 'wrong_audience' });
    v.reconfigure({});
    expect(await v.verify(makeToken(k.RS256), null)).toMatchObject({ ok: false, reason: 'wrong_issuer' });
  });
});

describe('counters across a reload', () => {
  it('an issuer whose actor a reload replaced keeps its JWKS counts (jwks.<issuer>.*, a Prometheus counter), not back to 0', async () => {
    const { s, v } = await started();
    expect(v.stats()['jwks.main.fetch_ok']).toBe(1);
    v.reconfigure({ main: issuerConfig({ issuer: TEST_ISSUER, jwks_uri: s.jwksUri, audiences: ['api://other'] }) }); // a new actor, seeded with the keys
    expect(v.stats()).toMatchObject({ 'jwks.main.fetch_ok': 1, jwks_fetch_ok: 1 });
    v.reconfigure({}); // removed: its series goes, the all-issuer total stays
    expect(v.stats()).toMatchObject({ jwks_fetch_ok: 1 });
    expect(v.stats()['jwks.main.fetch_ok']).toBeUndefined();
  });
});

describe('worker crashes', () => {
  it('fails a crashed task over once, then answers 503', async () => {
    const dir = tempDir('portcullis-crash-');
    const { v } = await started({}, { workerFilename: CRASH_WORKER, mode: 'pool' });
    const once = await v.verify(makeToken(k.RS256, { claims: { crash_marker: join(dir, 'marker') } }), null);
    expect(once.ok).toBe(true);
    const always = await v.verify(makeToken(k.RS256, { claims: { crash: 'always' } }), null);
    expect(always).toMatchObject({ ok: false, reason: 'pool_failure', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
    const st = v.stats();
    expect(st.pool_failovers).toBe(2);
    expect(st.pool_failures).toBe(1);
    // the pool replaced its workers: normal tokens still verify
    expect((await v.verify(makeToken(k.ES256), null)).ok).toBe(true);
  });

  it('resolves the compiled worker from the dist twin when running from sources', async () => {
    const file = fileURLToPath(defaultWorkerFilename());
    expect(file).toMatch(/[/\\]dist[/\\]node[/\\]jwt[/\\]verify\.worker\.js$/);
    expect(existsSync(file)).toBe(true);
    const pool = new VerifierPool({ size: 1 });
    open.push(pool);
    const r = await pool.run({ token: 'a.b.c', issuer: 'x', version: -1, now: 0 });
    expect(r).toMatchObject({ ok: false, code: 'need_keys' });
  });
});

describe('with the dev authorization server', () => {
  it('discovers, verifies, rotates and survives an outage', async () => {
    const as = await startAuthServer({ algorithms: ['RS256', 'ES256', 'EdDSA'] });
    open.push(as);
    const v = new JwtVerifier({
      issuers: { dev: issuerConfig({ issuer: as.issuer, audiences: ['portcullis-demo'] }) },
      poolSize: 2, cacheEntries: 100, cacheBytes: 1 << 20, logger: silentLogger(), mode: 'pool',
    });
    open.push(v);
    v.start();
    expect(await v.whenReady(5000)).toBe(true);
    for (const alg of ['RS256', 'ES256', 'EdDSA']) expect((await v.verify(await as.issueJwt({}, { alg }), null)).ok).toBe(true);
    expect(await v.verify(await as.issueJwt({}, { alg: 'none' }), null)).toMatchObject({ ok: false, reason: 'alg_not_allowed' });
    expect(await v.verify(await as.issueJwt({}, { alg: 'HS256' }), null)).toMatchObject({ ok: false, reason: 'alg_not_allowed' });
    expect(await v.verify(await as.issueJwt({}, { ttlSeconds: -120 }), null)).toMatchObject({ ok: false, reason: 'expired' });
    const jwks = as.counters.jwks;
    await as.rotateKeys();
    expect((await v.verify(await as.issueJwt(), null)).ok).toBe(true);
    expect(as.counters.jwks - jwks).toBe(1);
    as.setJwks('down');
    expect((await v.verify(await as.issueJwt({}, { alg: 'ES256' }), null)).ok).toBe(true);
    await waitFor('v.stats().pool_tasks! > 0', () => v.stats().pool_tasks! > 0);
  });
});
