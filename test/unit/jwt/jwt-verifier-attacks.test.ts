// JwtVerifier end to end (real JWKS server, real piscina pool running the compiled
// worker, or inline on the event loop): every algorithm accepted, every RFC 8725 attack
// refused with a stable reason and a 401 that never carries the token, in every
// verifier.mode, and tokens never logged.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { JwtVerifier, type VerifyOutcome } from '../../../node/jwt/index.js';
import { tokenFacts, type TokenFacts } from '../../../node/contracts/index.js';
import { FIXTURE_ALGS, fixtureKeys, makeKey } from '../../fixtures/keys.js';
import {
  TEST_AUDIENCE, TEST_ISSUER, b64url, forgeSignature, hs256WithPublicKey, makeToken, nowS, signRaw, accessClaims,
  tamperPayload, unsignedToken,
} from '../../fixtures/tokens.js';
import { capturingLogger, issuerConfig } from './helpers.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';

const k = fixtureKeys();
const STRICT_ISS = 'https://strict.test';

// auto with budget 0: every token spills to the pool (the auto path's own fallback)
const MODES = [
  ['node', 'pool', undefined], ['node', 'inline', undefined], ['node', 'auto', undefined], ['node', 'auto', 0],
  ['jose', 'pool', undefined], ['jose', 'inline', undefined],
] as const;

describe.each(MODES)('%s engine, mode %s, inline budget %s µs', (engine, mode, inlineBudgetUs) => {
  let s: JwksServer;
  let attacker: JwksServer;
  let v: JwtVerifier;
  const log = capturingLogger();
  const seenTokens: string[] = [];

  async function check(token: string, allowed: readonly string[] | null = null): Promise<VerifyOutcome> {
    seenTokens.push(token);
    return v.verify(token, allowed);
  }

  beforeAll(async () => {
    s = await startJwksServer(Object.values(k));
    const evil = makeKey('ES256', 'attacker');
    attacker = await startJwksServer([evil]);
    v = new JwtVerifier({
      issuers: {
        main: issuerConfig({ issuer: TEST_ISSUER, jwks_uri: s.jwksUri }),
        strict: issuerConfig({ issuer: STRICT_ISS, jwks_uri: s.jwksUri, require_typ: 'at+jwt', max_token_lifetime_s: 600, clock_skew_s: 0 }),
      },
      poolSize: 2, cacheEntries: 1000, cacheBytes: 1 << 20, logger: log.logger, engine, mode, inlineBudgetUs,
    });
    v.start();
    expect(await v.whenReady(5000)).toBe(true);
  });

  afterAll(async () => {
    await v.close();
    await s.close();
    await attacker.close();
  });

  describe('valid tokens', () => {
    it.each(FIXTURE_ALGS)('accepts %s and builds the principal', async (alg) => {
      const token = makeToken(k[alg]);
      const r = await check(token);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.principal).toMatchObject({ issuer: 'main', kind: 'jwt', scopes: ['orders:read', 'orders:write'] });
      expect(r.principal.claims.sub).toBe('alice');
      expect(r.principal.exp).toBe(r.principal.claims.exp);
      expect(r.principal.validUntil).toBe((r.principal.claims.exp as number) + 60); // exp + the default clock_skew_s
      expect(r.principal.fingerprint).toBe(createHash('sha256').update(token).digest('hex').slice(0, 16));
    });

    it('hands policy a frozen principal whose facts are the revocation keys tokenFacts() computes', async () => {
      const token = makeToken(k.ES256, { claims: { azp: 'web', client_id: undefined, sid: 'session-1' } });
      const first = await check(token);
      const hit = await check(token);
      for (const r of [first, hit]) {
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const p = r.principal;
        const digest = createHash('sha256').update(token).digest('hex');
        const expected = tokenFacts(digest, p.claims, k.ES256.kid, TEST_ISSUER);
        expect(expected).toMatchObject({ clientId: 'web', sid: 'session-1', kid: k.ES256.kid, iss: TEST_ISSUER });
        for (const key of Object.keys(expected) as (keyof TokenFacts)[]) expect(p.facts[key]).toBe(expected[key]);
        expect(Object.isFrozen(r) && Object.isFrozen(p) && Object.isFrozen(p.facts) && Object.isFrozen(p.claims) && Object.isFrozen(p.scopes)).toBe(true);
        // ESM is strict: a write to the outcome, the principal, its facts or claims throws and changes nothing
        expect(() => { (p as { issuer: string }).issuer = 'strict'; }).toThrow(TypeError);
        expect(() => { (p.facts as { sub?: string }).sub = 'mallory'; }).toThrow(TypeError);
        expect(() => { (p as { kind: string }).kind = 'opaque'; }).toThrow(TypeError);
        expect(() => { (r as { ok: boolean }).ok = false; }).toThrow(TypeError);
        expect(() => { (p.claims as Record<string, unknown>).scope = 'admin'; }).toThrow(TypeError);
        expect([r.ok, p.issuer, p.kind, p.facts.sub, p.claims.scope]).toEqual([true, 'main', 'jwt', 'alice', 'orders:read orders:write']);
      }
    });

    it('reads scp arrays and aud arrays', async () => {
      const r = await check(makeToken(k.ES256, { claims: { scope: undefined, scp: ['a', 'b'], aud: ['other', TEST_AUDIENCE] } }));
      expect(r.ok && r.principal.scopes).toEqual(['a', 'b']);
    });

    it('answers a cache hit synchronously with the same outcome', async () => {
      const token = makeToken(k.RS256);
      const first = v.verify(token, null);
      // inline with node:crypto the miss itself is synchronous; the pool and jose answer later;
      // auto places it by the loop's measured utilisation, so on a loaded machine it may go to the pool
      if (engine !== 'node' || mode === 'pool' || (mode === 'auto' && inlineBudgetUs !== undefined)) expect(first).toBeInstanceOf(Promise);
      else if (mode === 'inline') expect(first).not.toBeInstanceOf(Promise);
      const resolved = await first;
      const hits = v.stats().cache_hits!;
      const second = v.verify(token, null);
      expect(second).not.toBeInstanceOf(Promise);
      expect(second).toBe(resolved);
      expect(v.stats().cache_hits).toBe(hits + 1);
    });

    it('restricts to the allowed issuers, also on a cache hit', async () => {
      const token = makeToken(k.ES256);
      expect((await check(token, ['main'])).ok).toBe(true);
      const r = await check(token, ['strict']);
      expect(r).toMatchObject({ ok: false, reason: 'wrong_issuer' });
    });

    it('shares one verification between concurrent requests for the same token', async () => {
      const token = makeToken(k.EdDSA);
      const before = v.stats().verify_ok!;
      const all = await Promise.all(Array.from({ length: 20 }, () => check(token)));
      expect(all.every((r) => r.ok)).toBe(true);
      expect(v.stats().verify_ok! - before).toBe(1);
    });

    it('checks signatures where the mode says, and counts where', async () => {
      const before = v.stats();
      expect((await check(makeToken(k.ES256))).ok).toBe(true);
      const st = v.stats();
      const inline = st.verify_inline! - before.verify_inline!;
      const pooled = st.verify_pool! - before.verify_pool!;
      expect(inline + pooled).toBe(1);
      // a pooled token reached the pool (twice when its thread first had to be sent the keys)
      expect(st.pool_tasks! - before.pool_tasks! >= pooled).toBe(true);
      if (pooled === 0) expect(st.pool_tasks).toBe(before.pool_tasks);
      // fixed modes are exact; auto with budget 0 spills every token; default auto is measured (verify-placement.test.ts)
      if (mode === 'inline') expect([inline, st.pool_size]).toEqual([1, 0]);
      if (mode === 'pool') expect([pooled, st.verify_inline, st.pool_size]).toEqual([1, 0, 2]);
      if (mode === 'auto' && inlineBudgetUs === 0) expect([pooled, st.verify_inline_spills! - before.verify_inline_spills!]).toEqual([1, 1]);
    });
  });

  describe('attacks', () => {
    const attacker = makeKey('ES256', 'attacker-key');
    const strictTyp = (typ: string): string => makeToken(k.RS256, { header: { typ } }, STRICT_ISS);

    const cases: [string, string, () => string][] = [
      ['alg none', 'alg_not_allowed', () => unsignedToken(k.RS256.kid)],
      ['alg none without signature segment dot', 'malformed', () => unsignedToken(k.RS256.kid).slice(0, -1)],
      ['HS256 keyed with the RSA public key (PEM)', 'alg_not_allowed', () => hs256WithPublicKey(k.RS256, 'pem')],
      ['HS256 keyed with the RSA public key (JWK)', 'alg_not_allowed', () => hs256WithPublicKey(k.RS256, 'jwk')],
      ['tampered payload (scope escalation)', 'bad_signature', () => tamperPayload(makeToken(k.RS256), { scope: 'admin' })],
      ['tampered payload (ES256)', 'bad_signature', () => tamperPayload(makeToken(k.ES256), { sub: 'root' })],
      ['forged RS256 signature, published kid', 'bad_signature', () => forgeSignature(makeToken(k.RS256))],
      ['forged PS256 signature, published kid', 'bad_signature', () => forgeSignature(makeToken(k.PS256))],
      ['forged ES256 signature, published kid', 'bad_signature', () => forgeSignature(makeToken(k.ES256))],
      ['forged ES384 signature, published kid', 'bad_signature', () => forgeSignature(makeToken(k.ES384))],
      ['forged EdDSA signature, published kid', 'bad_signature', () => forgeSignature(makeToken(k.EdDSA))],
      ['attacker key signing under a published kid', 'bad_signature', () => signRaw(attacker, { alg: 'ES256', typ: 'at+jwt', kid: k.ES256.kid }, accessClaims())],
      ['RS256 header pointing at the ES256 kid', 'alg_not_allowed', () => signRaw(k.RS256, { alg: 'RS256', kid: k.ES256.kid }, accessClaims())],
      ['PS256 with an RS256-pinned key', 'alg_not_allowed', () => signRaw(k.RS256, { alg: 'PS256', kid: k.RS256.kid }, accessClaims())],
      ['embedded jwk header, no kid', 'bad_signature', () => signRaw(attacker, { alg: 'ES256', jwk: attacker.jwk }, accessClaims())],
      ['embedded jwk header, attacker kid', 'unknown_kid', () => signRaw(attacker, { alg: 'ES256', kid: attacker.kid, jwk: attacker.jwk }, accessClaims())],
      ['jku header to the attacker JWKS', 'unknown_kid', () => signRaw(attacker, { alg: 'ES256', kid: 'attacker', jku: `${attackerUrl()}/jwks` }, accessClaims())],
      ['x5u header', 'unknown_kid', () => signRaw(attacker, { alg: 'ES256', kid: 'attacker', x5u: `${attackerUrl()}/x5u` }, accessClaims())],
      ['x5c header', 'bad_signature', () => signRaw(attacker, { alg: 'ES256', x5c: ['MIIB'] }, accessClaims())],
      ['kid path traversal', 'unknown_kid', () => signRaw(k.RS256, { alg: 'RS256', kid: '../../etc/passwd' }, accessClaims())],
      ['kid __proto__', 'unknown_kid', () => signRaw(k.RS256, { alg: 'RS256', kid: '__proto__' }, accessClaims())],
      ['kid as object', 'malformed', () => signRaw(k.RS256, { alg: 'RS256', kid: { $ne: 1 } }, accessClaims())],
      ['unknown crit', 'crit_unsupported', () => signRaw(k.RS256, { alg: 'RS256', kid: k.RS256.kid, crit: ['http://evil/ext'], 'http://evil/ext': 1 }, accessClaims())],
      ['crit b64:false (unencoded payload)', 'crit_unsupported', () => signRaw(k.RS256, { alg: 'RS256', kid: k.RS256.kid, crit: ['b64'], b64: false }, accessClaims())],
      ['expired', 'expired', () => makeToken(k.RS256, { iat: nowS() - 1000, ttlS: 300 })],
      ['not yet valid', 'not_yet_valid', () => makeToken(k.RS256, { claims: { nbf: nowS() + 3600 } })],
      ['issued in the future', 'iat_in_future', () => makeToken(k.RS256, { iat: nowS() + 3600 })],
      ['wrong audience', 'wrong_audience', () => makeToken(k.RS256, {}, undefined, 'api://payments')],
      ['audience array without ours', 'wrong_audience', () => makeToken(k.RS256, {}, undefined, ['a', 'b'])],
      ['missing audience', 'wrong_audience', () => makeToken(k.RS256, { claims: { aud: undefined } })],
      ['wrong issuer', 'wrong_issuer', () => makeToken(k.RS256, {}, 'https://evil.test')],
      ['issuer with a trailing slash', 'wrong_issuer', () => makeToken(k.RS256, {}, TEST_ISSUER + '/')],
      ['missing issuer', 'wrong_issuer', () => makeToken(k.RS256, { claims: { iss: undefined } })],
      ['missing exp', 'missing_exp', () => makeToken(k.RS256, { claims: { exp: undefined } })],
      ['exp as a string', 'malformed', () => makeToken(k.RS256, { claims: { exp: String(nowS() + 300) } })],
      ['ID token typ JWT where at+jwt is required', 'bad_typ', () => strictTyp('JWT')],
      ['no typ where at+jwt is required', 'bad_typ', () => makeToken(k.RS256, { header: { typ: undefined } }, STRICT_ISS)],
      ['lifetime above the issuer maximum', 'lifetime_exceeded', () => makeToken(k.RS256, { ttlS: 601 }, STRICT_ISS)],
      ['two segments', 'malformed', () => makeToken(k.RS256).split('.').slice(0, 2).join('.')],
      ['four segments', 'malformed', () => makeToken(k.RS256) + '.e30'],
      ['JWE-shaped five segments', 'malformed', () => `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`],
      ['padded base64', 'malformed', () => makeToken(k.RS256).replace('.', '=.')],
      ['standard base64 characters', 'malformed', () => makeToken(k.RS256).replace(/[-_]/, '+')],
      ['header is JSON but not an object', 'malformed', () => `${b64url('[]')}.${b64url(accessClaims())}.c2ln`],
      ['oversized token', 'oversized', () => makeToken(k.RS256, { claims: { pad: 'x'.repeat(17 * 1024) } })],
    ];

    it.each(cases)('%s → %s', async (_name, reason, make) => {
      const r = await check(make());
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.reason).toBe(reason);
      expect(r.error.code).toBe('PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
      expect(r.error.message).not.toMatch(/eyJ/);
    });

    it('accepts the strict issuer with application/at+jwt', async () => {
      expect((await check(strictTyp('application/at+jwt'))).ok).toBe(true);
    });

    it('never contacts jku/x5u URLs', () => {
      expect(attackerCounters()).toEqual({ jwks: 0, oidc: 0, oauth: 0 });
    });

    it('refuses oversized and malformed tokens synchronously, before any work', () => {
      const r = v.verify('x'.repeat(16 * 1024 + 1), null);
      expect(r).not.toBeInstanceOf(Promise);
      expect(r).toMatchObject({ ok: false, reason: 'oversized' });
      expect(v.verify('a.b', null)).toMatchObject({ ok: false, reason: 'malformed' });
    });

    it('counts every refusal by reason', () => {
      const st = v.stats();
      expect(st.verify_failed_bad_signature).toBeGreaterThanOrEqual(8);
      expect(st.verify_failed_alg_not_allowed).toBeGreaterThanOrEqual(4);
      for (const key of ['cache_hits', 'cache_misses', 'cache_entries', 'cache_bytes', 'pool_queue', 'pool_tasks', 'pool_task_ms_sum', 'jwks_fetch_ok', 'jwks_fetch_failed', 'jwks_unknown_kid_refetch']) {
        expect(st).toHaveProperty(key);
      }
    });

    it('never logs a token', () => {
      expect(seenTokens.length).toBeGreaterThan(40);
      const all = log.lines.join('\n');
      for (const t of seenTokens) {
        for (const seg of t.split('.')) if (seg.length > 20) expect(all.includes(seg)).toBe(false);
      }
    });
  });

  function attackerUrl(): string { return attacker.url; }
  function attackerCounters(): Record<string, number> { return { ...attacker.counters }; }
});
