// The worker's own checks, called directly (the main thread's pre-checks bypassed):
// both signature engines refuse every attack with the same code, accept every
// algorithm, agree on random mutations of valid tokens, and handle key versions.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { sanitizeJwks, thumbprint, verifyBatch, verifyNodeSignature, verifyTask, type IssuerBundle, type IssuerPolicy, type VerifyEngine, type VerifyResult, type VerifyTask } from '../../../node/jwt/index.js';
import { FIXTURE_ALGS, fixtureKeys, makeKey } from '../../fixtures/keys.js';
import {
  TEST_AUDIENCE, TEST_ISSUER, accessClaims, forgeSignature, hs256WithPublicKey, makeToken, nowS, signRaw, tamperPayload, unsignedToken,
} from '../../fixtures/tokens.js';

const k = fixtureKeys();
const ENGINES: VerifyEngine[] = ['node', 'jose'];
const policy: IssuerPolicy = {
  issuer: TEST_ISSUER, audiences: [TEST_AUDIENCE], algorithms: [...FIXTURE_ALGS], clockSkewS: 0, maxLifetimeS: 600, requireTyp: true,
};
const set = sanitizeJwks({ keys: Object.values(k).map((x) => x.jwk) });
if (!set.ok) throw new Error('fixture JWKS invalid');
let version = 1_000_000; // far from the versions the main thread hands out in this process
const bundle = (keys = set.keys, p = policy): IssuerBundle => ({ version: ++version, policy: p, keys });
const main = bundle();

async function run(token: string, engine: VerifyEngine, b: IssuerBundle = main): Promise<VerifyResult> {
  return verifyTask({ token, issuer: `worker-test-${engine}`, version: b.version, now: Date.now() / 1000, install: b }, engine);
}

const attacker = makeKey('ES256', 'attacker');
const attacks: [string, string, () => string][] = [
  ['alg none', 'alg_not_allowed', () => unsignedToken(k.RS256.kid)],
  ['HS256 with the RSA public key (PEM)', 'alg_not_allowed', () => hs256WithPublicKey(k.RS256, 'pem')],
  ['HS256 with the RSA public key (JWK)', 'alg_not_allowed', () => hs256WithPublicKey(k.RS256, 'jwk')],
  ['tampered payload', 'bad_signature', () => tamperPayload(makeToken(k.PS256), { scope: 'admin' })],
  ['forged signature', 'bad_signature', () => forgeSignature(makeToken(k.ES384))],
  // cut at a byte boundary: a cut inside a character leaves non-canonical base64url (malformed, token-parse.test.ts)
  ['truncated ES256 signature', 'bad_signature', () => { const [h, p, s] = makeToken(k.ES256).split('.'); return `${h}.${p}.${Buffer.from(s!, 'base64url').subarray(0, 61).toString('base64url')}`; }],
  ['attacker key under a published kid', 'bad_signature', () => signRaw(attacker, { alg: 'ES256', typ: 'at+jwt', kid: k.ES256.kid }, accessClaims())],
  ['embedded jwk, no kid', 'bad_signature', () => signRaw(attacker, { alg: 'ES256', typ: 'at+jwt', jwk: attacker.jwk }, accessClaims())],
  ['alg/key mismatch', 'alg_not_allowed', () => signRaw(k.RS256, { alg: 'RS256', typ: 'at+jwt', kid: k.EdDSA.kid }, accessClaims())],
  ['kid path trick', 'unknown_kid', () => signRaw(k.RS256, { alg: 'RS256', typ: 'at+jwt', kid: '../../etc/passwd' }, accessClaims())],
  ['unknown crit', 'crit_unsupported', () => signRaw(k.RS256, { alg: 'RS256', typ: 'at+jwt', kid: k.RS256.kid, crit: ['x'], x: 1 }, accessClaims())],
  ['ID token typ', 'bad_typ', () => makeToken(k.RS256, { header: { typ: 'JWT' } })],
  ['expired', 'expired', () => makeToken(k.EdDSA, { iat: nowS() - 400, ttlS: 300 })],
  ['not yet valid', 'not_yet_valid', () => makeToken(k.EdDSA, { claims: { nbf: nowS() + 60 } })],
  ['iat in the future', 'iat_in_future', () => makeToken(k.EdDSA, { iat: nowS() + 60 })],
  ['wrong audience', 'wrong_audience', () => makeToken(k.ES256, {}, TEST_ISSUER, 'other')],
  ['wrong issuer', 'wrong_issuer', () => makeToken(k.ES256, {}, 'https://evil.test')],
  ['missing exp', 'missing_exp', () => makeToken(k.ES256, { claims: { exp: undefined } })],
  ['lifetime exceeded', 'lifetime_exceeded', () => makeToken(k.ES256, { ttlS: 601 })],
  ['three segments, junk', 'malformed', () => 'a.b.c'],
];

describe.each(ENGINES)('%s engine', (engine) => {
  it.each(FIXTURE_ALGS)('accepts %s', async (alg) => {
    const r = await run(makeToken(k[alg]), engine);
    // keyId names the kid and the material (KeyEntry.ref): a new key under the same kid is another key
    expect(r).toMatchObject({ ok: true, kid: k[alg].kid, keyId: `${k[alg].kid}#${thumbprint(k[alg].jwk)}#${alg}` });
  });

  it.each(attacks)('%s → %s', async (_n, code, make) => {
    expect(await run(make(), engine)).toMatchObject({ ok: false, code });
  });

  it('answers need_keys for a version it does not hold, then verifies once installed', async () => {
    const b = bundle();
    const task: VerifyTask = { token: makeToken(k.RS256), issuer: `versions-${engine}`, version: b.version, now: nowS() };
    expect(await verifyTask(task, engine)).toMatchObject({ ok: false, code: 'need_keys' });
    expect((await verifyTask({ ...task, install: b }, engine)).ok).toBe(true);
    expect((await verifyTask(task, engine)).ok).toBe(true); // cached for this version
    const rotated = bundle(set.keys.filter((e) => e.id !== k.RS256.kid));
    expect(await verifyTask({ ...task, version: rotated.version, install: rotated }, engine)).toMatchObject({ ok: false, code: 'unknown_kid' });
    expect(await verifyTask(task, engine)).toMatchObject({ ok: false, code: 'need_keys' });
  });

  it('answers a batch in order, one result per task', async () => {
    const tasks: VerifyTask[] = [makeToken(k.ES256), 'x.y.z', forgeSignature(makeToken(k.RS256))]
      .map((token) => ({ token, issuer: `worker-test-${engine}`, version: main.version, now: nowS(), install: main }));
    const r = await verifyBatch({ engine, tasks });
    expect(r.map((x) => (x.ok ? 'ok' : x.code))).toEqual(['ok', 'malformed', 'bad_signature']);
    expect(await verifyBatch({ engine, tasks: undefined as unknown as VerifyTask[] })).toEqual([]);
  });
});

describe('verifyNodeSignature with an input length', () => {
  it('checks exactly the first inputLength characters: the whole token up to its last dot, nothing else', () => {
    for (const alg of FIXTURE_ALGS) {
      const token = makeToken(k[alg]);
      const dot = token.lastIndexOf('.');
      const sig = token.slice(dot + 1);
      expect(verifyNodeSignature(alg, k[alg].publicKey, token, sig, dot)).toBe(true);
      expect(verifyNodeSignature(alg, k[alg].publicKey, token.slice(0, dot), sig)).toBe(true);
      expect(verifyNodeSignature(alg, k[alg].publicKey, token, sig, dot - 1)).toBe(false);
      expect(verifyNodeSignature(alg, k[alg].publicKey, token, sig, dot + 1)).toBe(false);
      expect(verifyNodeSignature(alg, k[alg].publicKey, token, sig)).toBe(false);
    }
  });
});

describe('engines agree', () => {
  const valid = FIXTURE_ALGS.map((a) => makeToken(k[a]));
  const mutate = fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.nat(), fc.constantFrom(...'ABCxyz019-_.=')).map(([i, pos, ch]) => {
    const t = valid[i]!;
    const p = pos % t.length;
    return t.slice(0, p) + ch + t.slice(p + 1);
  });

  it('on random one-character mutations of valid tokens', async () => {
    await fc.assert(fc.asyncProperty(mutate, async (t) => {
      const [a, b] = await Promise.all(ENGINES.map((e) => run(t, e)));
      expect(a!.ok).toBe(b!.ok);
      if (!a!.ok && !b!.ok) expect(a!.code).toBe(b!.code);
    }), { numRuns: 500 });
  });
});
