// The per-issuer key owner against a real node:http server: discovery (OIDC, RFC 8414
// fallback, issuer check), Cache-Control clamping, backoff that keeps the last good
// keys, and the unknown-kid refetch ration (coalescing, cool-down, budget).
import { describe, it, expect, afterEach, vi } from 'vitest';
import { JwksActor, UNKNOWN_KID_BURST } from '../../../node/jwt/index.js';
import { fixtureKeys, makeKey } from '../../fixtures/keys.js';
import { capturingLogger, issuerConfig, silentLogger, sleep, type IssuerInput } from './helpers.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';
import { waitFor } from '../../helpers/wait.js';

const k = fixtureKeys();
const open: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((o) => o.close())); });

async function server(): Promise<JwksServer> {
  const s = await startJwksServer([k.RS256, k.ES256]);
  open.push(s);
  return s;
}

function actor(s: JwksServer, over: Partial<IssuerInput> = {}, logger = silentLogger()): JwksActor {
  const a = new JwksActor('main', issuerConfig({ issuer: s.issuer, ...over }), logger);
  open.push(a);
  return a;
}

describe('discovery', () => {
  it('finds the JWKS through the OIDC document', async () => {
    const s = await server();
    const a = actor(s);
    a.start();
    await a.ready;
    expect(a.snapshot?.byKid.has(k.RS256.kid)).toBe(true);
    expect(s.counters).toMatchObject({ oidc: 1, oauth: 0, jwks: 1 });
  });

  it('falls back to the RFC 8414 document', async () => {
    const s = await server();
    s.discovery.oidc = false;
    const a = actor(s);
    a.start();
    await a.ready;
    expect(s.counters).toMatchObject({ oidc: 1, oauth: 1, jwks: 1 });
  });

  it('refuses a metadata document for another issuer', async () => {
    const s = await server();
    s.discovery.issuerOverride = 'https://evil.test';
    const a = actor(s);
    a.start();
    await waitFor('a.counters.jwks_fetch_failed === 1', () => a.counters.jwks_fetch_failed === 1);
    expect(a.snapshot).toBeNull();
    expect(s.counters.jwks).toBe(0);
  });

  it('skips discovery when jwks_uri is configured', async () => {
    const s = await server();
    const a = actor(s, { jwks_uri: s.jwksUri });
    a.start();
    await a.ready;
    expect(s.counters).toMatchObject({ oidc: 0, oauth: 0, jwks: 1 });
  });
});

describe('refresh schedule', () => {
  it.each<[string | null, number]>([
    ['max-age=120', 120], ['public, max-age=5', 60], ['max-age=99999', 3600], [null, 3600], ['no-store', 60],
  ])('Cache-Control %s → next refresh in %i s', async (cc, seconds) => {
    const s = await server();
    s.cacheControl = cc;
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { min_refresh_s: 60, max_refresh_s: 3600 } });
    a.start();
    await a.ready;
    const delta = a.nextRefreshAt! - Date.now();
    expect(delta).toBeGreaterThan(seconds * 1000 - 1000);
    expect(delta).toBeLessThanOrEqual(seconds * 1000);
  });

  it('refreshes in the background', async () => {
    const s = await server();
    s.cacheControl = 'max-age=0';
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { min_refresh_s: 1, max_refresh_s: 1 } });
    a.start();
    await waitFor('a.counters.jwks_fetch_ok >= 3', () => a.counters.jwks_fetch_ok >= 3, 8000);
    expect(s.counters.jwks).toBeGreaterThanOrEqual(3);
  });

  it('keeps the last good keys through an outage and backs off exponentially', async () => {
    const s = await server();
    s.cacheControl = 'max-age=0';
    const { logger, lines } = capturingLogger();
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { min_refresh_s: 1, max_refresh_s: 60 } }, logger);
    a.start();
    await a.ready;
    const good = a.snapshot;
    for (const mode of ['down', 'garbage', 'empty'] as const) {
      s.mode = mode;
      const failed = a.counters.jwks_fetch_failed;
      await waitFor('a.counters.jwks_fetch_failed > failed', () => a.counters.jwks_fetch_failed > failed, 5000);
      expect(a.snapshot).toBe(good);
    }
    // three failures in a row: the next try is 4 s × [0.8, 1]
    const delta = a.nextRefreshAt! - Date.now();
    expect(delta).toBeGreaterThan(2500);
    expect(delta).toBeLessThanOrEqual(4000);
    expect(lines.some((l) => l.includes('jwks fetch failed') && l.includes('"keepingKeys":true'))).toBe(true);
  });

  it('starts unready while the JWKS is down and recovers after backoff', async () => {
    const s = await server();
    s.mode = 'down';
    const a = actor(s, { jwks_uri: s.jwksUri });
    a.start();
    await waitFor('a.counters.jwks_fetch_failed >= 1', () => a.counters.jwks_fetch_failed >= 1);
    expect(a.snapshot).toBeNull();
    s.mode = 'normal';
    await a.ready;
    expect(a.snapshot).not.toBeNull();
  });

  it('a key set served as text/html is refused (unready, the failure says why); one served as text/plain is taken', async () => {
    const s = await server();
    s.mode = 'html';
    const { logger, lines } = capturingLogger();
    const a = actor(s, { jwks_uri: s.jwksUri }, logger);
    a.start();
    await waitFor('a.counters.jwks_fetch_failed >= 1', () => a.counters.jwks_fetch_failed >= 1);
    expect(a.snapshot).toBeNull();
    expect(lines.some((l) => l.includes('jwks fetch failed') && l.includes('text/html'))).toBe(true);
    s.mode = 'plain';
    await a.ready;
    expect(a.snapshot).not.toBeNull();
  });

  it('gives up on a slow JWKS at timeout_ms', async () => {
    const s = await server();
    s.mode = 'slow';
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { timeout_ms: 200 } });
    a.start();
    await waitFor('a.counters.jwks_fetch_failed >= 1', () => a.counters.jwks_fetch_failed >= 1);
    // the server answers after 2 s: failing before any fetch succeeded means timeout_ms cut it
    expect(a.counters.jwks_fetch_ok).toBe(0);
    expect(a.snapshot).toBeNull();
  });

  it('close() stops every timer and fetch', async () => {
    const s = await server();
    s.cacheControl = 'max-age=0';
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { min_refresh_s: 1, max_refresh_s: 1 } });
    a.start();
    await a.ready;
    await a.close();
    const n = s.counters.jwks;
    await sleep(1300);
    expect(s.counters.jwks).toBe(n);
    expect(a.nextRefreshAt).toBeNull();
  });
});

describe('unknown kid refetch', () => {
  it('coalesces concurrent requests into one fetch and honours the cool-down', async () => {
    const s = await server();
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { unknown_kid_cooldown_s: 10 } });
    a.start();
    await a.ready;
    const rotated = makeKey('ES256');
    s.setKeys([k.RS256, k.ES256, rotated]);
    s.slowMs = 100;
    s.mode = 'slow';
    const waits = Array.from({ length: 50 }, () => a.refetchForUnknownKid());
    expect(new Set(waits).size).toBe(1);
    await waits[0];
    expect(a.snapshot?.byKid.has(rotated.kid)).toBe(true);
    expect(s.counters.jwks).toBe(2);
    expect(a.refetchForUnknownKid()).toBeNull();
    expect(a.counters).toMatchObject({ jwks_unknown_kid_refetch: 1, jwks_unknown_kid_throttled: 1 });
  });

  it('a wall clock stepped back an hour does not throttle unknown-kid refetches for the hour (regression)', async () => {
    const s = await server();
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { unknown_kid_cooldown_s: 1 } });
    a.start();
    await a.ready;
    await a.refetchForUnknownKid();
    try {
      // before: the cool-down was measured on Date.now() — after an NTP step back every refetch was throttled for the
      // hour, so tokens signed with a key the IdP rotated in meanwhile were refused 401 for the hour
      vi.setSystemTime(Date.now() - 3_600_000); // Date only: performance.now runs on
      const rotated = makeKey('ES256');
      s.setKeys([k.RS256, k.ES256, rotated]);
      await waitFor('a refetch after the 1 s cool-down', () => a.refetchForUnknownKid() !== null);
      await waitFor('the rotated key', () => a.snapshot?.byKid.has(rotated.kid) === true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a key once published with its private half stays refused when the JWKS publishes it public again, also after a reload', async () => {
    const s = await server();
    const { logger, lines } = capturingLogger();
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { unknown_kid_cooldown_s: 0 } }, logger);
    a.start();
    await a.ready;
    expect(a.snapshot?.byKid.has(k.ES256.kid)).toBe(true);
    const leakedEs = { ...k.ES256.privateKey.export({ format: 'jwk' }), kid: k.ES256.kid, alg: 'ES256', use: 'sig' };
    s.setKeys({ keys: [{ ...k.RS256.jwk }, leakedEs] });
    await a.refetchForUnknownKid();
    expect(a.snapshot?.byKid.has(k.ES256.kid)).toBe(false);
    expect(a.snapshot?.byKid.has(k.RS256.kid)).toBe(true);
    // the issuer "repairs" its JWKS: the same key, public again — its private half is out, anyone may sign with it
    s.setKeys([k.RS256, k.ES256]);
    await a.refetchForUnknownKid();
    expect(a.snapshot?.byKid.has(k.ES256.kid)).toBe(false);
    expect(a.snapshot?.byKid.has(k.RS256.kid)).toBe(true);
    expect(lines.some((l) => l.includes('jwks keys refused') && l.includes('published with its private half before'))).toBe(true);
    expect(lines.join('\n')).not.toContain(String(leakedEs.d));
    // a reload's replacement (same key source) remembers it
    const next = new JwksActor('main', a.config, silentLogger(), a.snapshot, a.leakedKeys);
    open.push(next);
    next.start();
    await next.refetchForUnknownKid();
    expect(s.counters.jwks).toBeGreaterThanOrEqual(4);
    expect(next.snapshot?.byKid.has(k.ES256.kid)).toBe(false);
    // only the leaked key: a failed fetch that keeps the last good keys without it
    s.setKeys([k.ES256]);
    await next.refetchForUnknownKid();
    expect(next.snapshot?.byKid.has(k.ES256.kid)).toBe(false);
    expect(next.counters.jwks_fetch_failed).toBeGreaterThanOrEqual(1);
  });

  it('caps refetches with a budget even without a cool-down', async () => {
    const s = await server();
    const a = actor(s, { jwks_uri: s.jwksUri, jwks: { unknown_kid_cooldown_s: 0 } });
    a.start();
    await a.ready;
    for (let i = 0; i < 20; i++) await a.refetchForUnknownKid();
    expect(s.counters.jwks).toBe(1 + UNKNOWN_KID_BURST);
    expect(a.counters.jwks_unknown_kid_throttled).toBe(20 - UNKNOWN_KID_BURST);
  });

  it('does not refetch before the first key set', async () => {
    const s = await server();
    s.mode = 'down';
    const a = actor(s, { jwks_uri: s.jwksUri });
    expect(a.refetchForUnknownKid()).toBeNull();
  });
});
