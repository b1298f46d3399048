// `forward.token: internal` against real processes: the proxy replaces the inbound token
// with a JWT it signs; a node:http upstream verifies it with jose createRemoteJWKSet against
// the proxy's own /.well-known/jwks.json. Claims and exp bounds, the inbound credential
// never forwarded, caching and single-flight (counters in /cache/stats and /metrics),
// revocation, generated-key rotation (published before use, old key kept), and a key file
// (created once, stable across restarts, rotated by replacing it and reloading).
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { adminGet, adminPost, call, kidOf, sha256hex, sleep, startVerifyingUpstream, stats, waitReady, type VerifyingUpstream } from './s2s-fixtures.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const ISS = 'https://portcullis.test';
let as: AuthServer;
let upstream: VerifyingUpstream;

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { orders: { targets: [upstream.url] }, ledger: { targets: [upstream.url], audience: 'ledger-api' } },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: { token_sources: { cookie: 'session' } }, forward: { token: 'internal' } },
      { name: 'ledger', match: { path: '/ledger/*' }, upstream: 'ledger', auth: {}, forward: { token: 'internal' } },
    ],
    internal_tokens: { issuer: ISS, max_ttl_s: 120, claims: ['tenant'] },
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
    ...extra,
  };
}

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
});
afterAll(async () => {
  await Promise.all([as?.close(), upstream?.close()]);
});

// The three suites share only the authorization server (each has its own proxy and upstream) and
// mostly wait (a 6.5 s rotation window, a restart and a 3.3 s publish_ahead_s): they run side by
// side (describe.concurrent); the cases of the first share one proxy and stay in order (it.sequential).
describe.concurrent('internal tokens', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy(config(), { env: ADMIN_ENV });
    await waitReady(proxy);
    upstream.trust(`${proxy.url}/.well-known/jwks.json`, ISS, ['orders', 'ledger-api']);
  });
  afterAll(async () => { await proxy?.stop(); });

  it.sequential('the upstream verifies the minted token: iss, aud, sub, scope, client_id, configured claims, exp bounds', async () => {
    const inbound = await as.issueJwt({ sub: 'alice', scope: 'orders:read orders:write', client_id: 'web', tenant: 'acme', email: 'a@example.com' }, { ttlSeconds: 3600 });
    const r = await call(`${proxy.url}/orders/1`, { token: inbound });
    expect(r.status, r.text).toBe(200);
    const c = r.json.claims;
    expect(c).toMatchObject({ iss: ISS, aud: 'orders', sub: 'alice', scope: 'orders:read orders:write', client_id: 'web', tenant: 'acme' });
    expect(c.email).toBeUndefined(); // only configured claims travel
    expect(c.exp - c.iat).toBe(120); // max_ttl_s below the inbound lifetime
    expect(typeof c.jti).toBe('string');
    expect(r.json.alg).toBe('ES256');

    // an inbound token expiring sooner bounds exp; another upstream gets its own audience
    const short = await as.issueJwt({ sub: 'bob' }, { ttlSeconds: 30 });
    const inboundExp = JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()).exp as number;
    const s = await call(`${proxy.url}/ledger/1`, { token: short });
    expect(s.status, s.text).toBe(200);
    expect(s.json.claims).toMatchObject({ aud: 'ledger-api', sub: 'bob', exp: inboundExp });
  });

  it.sequential('the inbound credential never reaches the upstream (Authorization replaced, token cookie removed)', async () => {
    const inbound = await as.issueJwt({ sub: 'carol' });
    const before = upstream.received.length;
    const r = await call(`${proxy.url}/orders/2`, { headers: { cookie: `theme=dark; session=${inbound}` } });
    expect(r.status, r.text).toBe(200);
    const seen = upstream.received.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers.cookie).toBe('theme=dark');
    expect(seen[0]!.verified?.payload.sub).toBe('carol');
    expect(JSON.stringify(seen[0]!.headers)).not.toContain(inbound);
  });

  it.sequential('reuses the minted token for the same inbound token (no new signing) and mints once for concurrent requests', async () => {
    const inbound = await as.issueJwt({ sub: 'dave' });
    const s0 = await stats(proxy);
    const a = await call(`${proxy.url}/orders/3`, { token: inbound });
    const b = await call(`${proxy.url}/orders/4`, { token: inbound });
    const sent = upstream.received.slice(-2).map((x) => x.token);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(sent[0]).toBe(sent[1]);
    const s1 = await stats(proxy);
    expect(s1['internal_tokens.minted']! - s0['internal_tokens.minted']!).toBe(1);
    expect(s1['internal_tokens.cache_hits']! - s0['internal_tokens.cache_hits']!).toBe(1);

    const burst = await as.issueJwt({ sub: 'erin' });
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => call(`${proxy.url}/orders/b${i}`, { token: burst })));
    expect(rs.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect(new Set(upstream.received.slice(-12).map((x) => x.token)).size).toBe(1);
    const s2 = await stats(proxy);
    expect(s2['internal_tokens.minted']! - s1['internal_tokens.minted']!).toBe(1);

    const metrics = await adminGet(proxy, '/metrics');
    expect(metrics.text).toMatch(/^portcullis_internal_tokens_minted_total \d+$/m);
  });

  it.sequential('a revoked inbound token gets 401 and its minted tokens leave the cache', async () => {
    const inbound = await as.issueJwt({ sub: 'frank' });
    expect((await call(`${proxy.url}/orders/5`, { token: inbound })).status).toBe(200);
    expect((await call(`${proxy.url}/ledger/5`, { token: inbound })).status).toBe(200);
    const s0 = await stats(proxy);
    const rv = await adminPost(proxy, '/revocations', { kind: 'token', value: sha256hex(inbound) });
    expect(rv.status, rv.text).toBe(201);
    const before = upstream.received.length;
    const r = await call(`${proxy.url}/orders/5`, { token: inbound });
    expect(r.status).toBe(401);
    expect(String(r.headers['www-authenticate'])).toContain('error="invalid_token"');
    expect(upstream.received.length).toBe(before);
    const s1 = await stats(proxy);
    expect(s1['internal_tokens.revocation_evictions']! - s0['internal_tokens.revocation_evictions']!).toBe(1);
    expect(s1['internal_tokens.cache_tokens']).toBe(s0['internal_tokens.cache_tokens']! - 1);
  });

  it.sequential('publishes its JWKS and discovery document before routing, without a token', async () => {
    const d = await call(`${proxy.url}/.well-known/openid-configuration`);
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ issuer: ISS, jwks_uri: `${ISS}/.well-known/jwks.json` });
    const j = await call(`${proxy.url}/.well-known/jwks.json`);
    expect(j.status).toBe(200);
    expect(j.headers['cache-control']).toBe('public, max-age=60'); // publish_ahead_s default
    expect(j.json.keys).toHaveLength(1);
    expect(j.json.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(j.json.keys[0].d).toBeUndefined();
    const h = await call(`${proxy.url}/.well-known/jwks.json`, { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(Number(h.headers['content-length'])).toBe(Buffer.byteLength(j.text));
    expect((await call(`${proxy.url}/.well-known/other`)).status).toBe(404); // not ours: routing decides
  });
});

describe.concurrent('generated-key rotation', () => {
  it('publishes each new key before it signs; the upstream verifies tokens of the old and the new key', async () => {
    const rotating = await startVerifyingUpstream();
    const proxy = await startProxy(config({
      upstreams: { orders: { targets: [rotating.url] }, ledger: { targets: [rotating.url] } },
      internal_tokens: { issuer: ISS, max_ttl_s: 30, rotate_after_s: 2, publish_ahead_s: 1 },
    }), { env: ADMIN_ENV });
    try {
      await waitReady(proxy);
      // the upstream honours the JWKS max-age (1 s; 0.8 s here) and never refetches for an unknown kid (30 s cool-down)
      rotating.trust(`${proxy.url}/.well-known/jwks.json`, ISS, 'orders', { cacheMaxAgeMs: 800 });
      const firstSeen = new Map<string, number>();
      const firstUsed = new Map<string, number>();
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const j = await call(`${proxy.url}/.well-known/jwks.json`);
          for (const k of j.json.keys as { kid: string }[]) if (!firstSeen.has(k.kid)) firstSeen.set(k.kid, Date.now());
          await sleep(50);
        }
      })();
      let oldest: string | null = null;
      const end = Date.now() + 6_500;
      while (Date.now() < end) {
        const t0 = Date.now();
        const r = await call(`${proxy.url}/orders/x`, { token: await as.issueJwt({ sub: 'rot' }) }); // a new inbound token: a new mint
        expect(r.status, r.text).toBe(200);
        const token = rotating.received.at(-1)!.token!;
        oldest ??= token;
        const kid = kidOf(token)!;
        if (!firstUsed.has(kid)) firstUsed.set(kid, t0);
        await sleep(100);
      }
      polling = false;
      await poller;
      const used = [...firstUsed.keys()];
      expect(used.length).toBeGreaterThanOrEqual(2);
      for (const kid of used.slice(1)) {
        expect(firstSeen.get(kid), `kid ${kid} used before it was published`).toBeLessThan(firstUsed.get(kid)!);
      }
      expect(rotating.received.every((x) => x.verified !== null)).toBe(true);
      // the first token's key is still published (its tokens live 30 s): the upstream verifies it now
      expect((await rotating.verify(oldest!))?.kid).toBe(used[0]);
      const s = await stats(proxy);
      expect(s['internal_tokens.key_rotations']).toBeGreaterThanOrEqual(2);
      expect(s['internal_tokens.keys_published']).toBeGreaterThanOrEqual(3);
    } finally {
      await proxy.stop();
      await rotating.close();
    }
  }, 45_000);
});

describe.concurrent('key file', () => {
  it('EdDSA key created at first start (0600), the same kid after a restart, a replaced file rotates on reload', async () => {
    const dir = tempDir('portcullis-s2s-key-');
    const keyFile = join(dir, 'internal.pem');
    const eddsa = await startVerifyingUpstream();
    const file = writeConfig(config({
      upstreams: { orders: { targets: [eddsa.url] }, ledger: { targets: [eddsa.url] } },
      internal_tokens: { issuer: ISS, alg: 'EdDSA', key_file: keyFile, publish_ahead_s: 3 },
    }));
    let proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file });
    try {
      expect(existsSync(keyFile)).toBe(true);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const jwks1 = (await call(`${proxy.url}/.well-known/jwks.json`)).json;
      expect(jwks1.keys).toHaveLength(1);
      expect(jwks1.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
      const oldKid = jwks1.keys[0].kid as string;
      await proxy.stop();
      proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file });
      await waitReady(proxy);
      const jwks2 = (await call(`${proxy.url}/.well-known/jwks.json`)).json;
      expect(jwks2.keys.map((k: { kid: string }) => k.kid)).toEqual([oldKid]);

      // the upstream verifies an EdDSA token; it honours the JWKS max-age (3 s; 2.5 s here)
      eddsa.trust(`${proxy.url}/.well-known/jwks.json`, ISS, 'orders', { cacheMaxAgeMs: 2_500 });
      const r = await call(`${proxy.url}/orders/1`, { token: await as.issueJwt({ sub: 'eve' }) });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ alg: 'EdDSA', kid: oldKid });

      // a new key file + reload: published at once, signs after publish_ahead_s (3 s)
      writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }));
      expect((await adminPost(proxy, '/reload', {})).status).toBe(200);
      const jwks3 = (await call(`${proxy.url}/.well-known/jwks.json`)).json;
      expect(jwks3.keys).toHaveLength(2);
      const newKid = jwks3.keys.find((k: { kid: string }) => k.kid !== oldKid).kid as string;
      const soon = await call(`${proxy.url}/orders/2`, { token: await as.issueJwt({ sub: 'eve2' }) });
      expect(soon.status, soon.text).toBe(200);
      expect(soon.json.kid).toBe(oldKid);
      await sleep(3_300);
      const later = await call(`${proxy.url}/orders/3`, { token: await as.issueJwt({ sub: 'eve3' }) });
      expect(later.status, later.text).toBe(200);
      expect(later.json.kid).toBe(newKid);
      expect((await eddsa.verify(eddsa.received.find((x) => x.verified?.payload.sub === 'eve2')!.token!))?.kid).toBe(oldKid);
    } finally {
      await proxy.stop();
      await eddsa.close();
    }
  }, 60_000);
});
