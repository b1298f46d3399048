// Header, key-selection and claims rules, table-driven at a fixed clock.
import { describe, it, expect } from 'vitest';
import { checkClaims, checkHeader, keyFitsAlg, resolveKey } from '../../../node/jwt/token-rules.js';
import { sanitizeJwks } from '../../../node/jwt/index.js';
import type { IssuerPolicy, KeyEntry } from '../../../node/jwt/index.js';
import { fixtureKeys } from '../../fixtures/keys.js';

const NOW = 1_700_000_000;
const policy: IssuerPolicy = {
  issuer: 'https://as.test', audiences: ['api', 'api2'], algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'],
  clockSkewS: 30, maxLifetimeS: 3600, requireTyp: true,
};
const good = { iss: 'https://as.test', aud: 'api', exp: NOW + 60, iat: NOW - 10, nbf: NOW - 10 };

describe('checkClaims', () => {
  it('accepts a valid claim set', () => expect(checkClaims(good, policy, NOW)).toBeNull());

  it.each<[string, Record<string, unknown>, string]>([
    ['wrong iss', { iss: 'https://evil.test' }, 'wrong_issuer'],
    ['iss with trailing slash', { iss: 'https://as.test/' }, 'wrong_issuer'],
    ['missing iss', { iss: undefined }, 'wrong_issuer'],
    ['wrong aud', { aud: 'other' }, 'wrong_audience'],
    ['aud array without ours', { aud: ['x', 'y'] }, 'wrong_audience'],
    ['missing aud', { aud: undefined }, 'wrong_audience'],
    ['aud of wrong type', { aud: 7 }, 'malformed'],
    ['aud array with a non-string', { aud: ['api', 3] }, 'malformed'],
    ['missing exp', { exp: undefined }, 'missing_exp'],
    ['exp as string', { exp: String(NOW + 60) }, 'malformed'],
    ['exp NaN-like', { exp: null }, 'malformed'],
    ['expired beyond skew', { exp: NOW - 30 }, 'expired'],
    ['nbf beyond skew', { nbf: NOW + 31 }, 'not_yet_valid'],
    ['nbf as string', { nbf: 'soon' }, 'malformed'],
    ['nbf -Infinity (JSON 1e999 with a minus)', { nbf: -Infinity }, 'malformed'],
    ['iat in the future beyond skew', { iat: NOW + 31, exp: NOW + 100 }, 'iat_in_future'],
    ['lifetime above the maximum', { iat: NOW - 10, exp: NOW - 10 + 3601 }, 'lifetime_exceeded'],
    ['no iat and remaining life above the maximum', { iat: undefined, exp: NOW + 3601 }, 'lifetime_exceeded'],
    ['an ID token: at_hash', { at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' }, 'bad_typ'],
    ['an ID token: c_hash', { c_hash: 'LDktKdoQak3Pk0cnXxCltA' }, 'bad_typ'],
    ['an ID token: s_hash', { s_hash: 'x6bKR_xrKqYHtnyG-9Wz6w' }, 'bad_typ'],
    ['Keycloak typ claim ID', { typ: 'ID' }, 'bad_typ'],
    ['Keycloak typ claim Refresh', { typ: 'Refresh' }, 'bad_typ'],
    ['Cognito token_use id', { token_use: 'id' }, 'bad_typ'],
    ['Hydra token_use refresh_token', { token_use: 'refresh_token' }, 'bad_typ'],
    ['token_use not a string', { token_use: ['access'] }, 'bad_typ'],
    ['a back-channel logout token: events', { events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: 's1' }, 'bad_typ'],
    ['a SET: events, whatever its value', { events: null }, 'bad_typ'],
  ])('%s → %s', (_n, patch, code) => {
    const claims: Record<string, unknown> = { ...good, ...patch };
    for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
    expect(checkClaims(claims, policy, NOW)?.code).toBe(code);
  });

  it('accepts within the skew on every bound', () => {
    expect(checkClaims({ ...good, exp: NOW - 29 }, policy, NOW)).toBeNull();
    expect(checkClaims({ ...good, nbf: NOW + 30 }, policy, NOW)).toBeNull();
    expect(checkClaims({ ...good, iat: NOW + 30, exp: NOW + 100 }, policy, NOW)).toBeNull();
    expect(checkClaims({ ...good, aud: ['x', 'api2'] }, policy, NOW)).toBeNull();
    expect(checkClaims({ ...good, iat: NOW - 10, exp: NOW - 10 + 3600 }, policy, NOW)).toBeNull();
    // a nonce or a Keycloak access token's own typ claim is no sign of an ID token
    expect(checkClaims({ ...good, nonce: 'n', typ: 'Bearer', auth_time: NOW - 60 }, policy, NOW)).toBeNull();
    expect(checkClaims({ ...good, token_use: 'access' }, policy, NOW)).toBeNull();
    expect(checkClaims({ ...good, token_use: 'Access_Token' }, policy, NOW)).toBeNull();
  });
});

describe('checkHeader', () => {
  it.each<[string, Record<string, unknown>, string | null]>([
    ['RS256 at+jwt', { alg: 'RS256', typ: 'at+jwt' }, null],
    ['application/at+jwt, any case', { alg: 'ES256', typ: 'Application/AT+JWT' }, null],
    ['alg none', { alg: 'none', typ: 'at+jwt' }, 'alg_not_allowed'],
    ['alg None', { alg: 'None', typ: 'at+jwt' }, 'alg_not_allowed'],
    ['HS256', { alg: 'HS256', typ: 'at+jwt' }, 'alg_not_allowed'],
    ['RS384 not in the allowlist', { alg: 'RS384', typ: 'at+jwt' }, 'alg_not_allowed'],
    ['missing alg', { typ: 'at+jwt' }, 'malformed'],
    ['alg not a string', { alg: ['RS256'], typ: 'at+jwt' }, 'malformed'],
    ['crit with an unknown name', { alg: 'RS256', typ: 'at+jwt', crit: ['exp'], exp: 1 }, 'crit_unsupported'],
    ['crit empty list', { alg: 'RS256', typ: 'at+jwt', crit: [] }, 'crit_unsupported'],
    ['crit b64', { alg: 'RS256', typ: 'at+jwt', crit: ['b64'], b64: false }, 'crit_unsupported'],
    ['ID token typ JWT', { alg: 'RS256', typ: 'JWT' }, 'bad_typ'],
    ['no typ', { alg: 'RS256' }, 'bad_typ'],
    ['kid not a string', { alg: 'RS256', typ: 'at+jwt', kid: 7 }, 'malformed'],
  ])('%s', (_n, header, code) => {
    expect(checkHeader(header, policy)?.code ?? null).toBe(code);
  });

  it('refuses none and HS* even for a policy that lists them (the schema refuses them too; this holds without it)', () => {
    const lax = { ...policy, algorithms: ['none', 'HS256', 'HS512', 'RS256'] };
    for (const alg of ['none', 'HS256', 'HS512']) expect(checkHeader({ alg, typ: 'at+jwt' }, lax)?.code, alg).toBe('alg_not_allowed');
  });

  it('ignores typ when the issuer does not require it', () => {
    expect(checkHeader({ alg: 'RS256', typ: 'JWT' }, { ...policy, requireTyp: false })).toBeNull();
  });

  it.each<[string, string | null]>([
    ['logout+jwt', 'bad_typ'], ['Logout+JWT', 'bad_typ'], ['logout+jwt; v=1', 'bad_typ'], [' logout+jwt ', 'bad_typ'],
    ['application/secevent+jwt;x=y', 'bad_typ'], ['at+jwt; v=1', null], ['JWT', null], ['application/jwt', null], [';logout+jwt', null],
  ])('without require_typ, typ %j (read as a media type) → %s', (typ, code) => {
    expect(checkHeader({ alg: 'RS256', typ }, { ...policy, requireTyp: false })?.code ?? null).toBe(code);
  });

  // checkHeader remembers the last frozen (header, policy) pair that passed: the answer must stay the rules' own
  describe('the remembered pass', () => {
    const frozenPolicy = (p: IssuerPolicy): IssuerPolicy => Object.freeze({ ...p, audiences: Object.freeze([...p.audiences]), algorithms: Object.freeze([...p.algorithms]) });
    const strict = frozenPolicy(policy);
    const header = Object.freeze({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' });

    it('judges the same header again under another policy', () => {
      expect(checkHeader(header, strict)).toBeNull();
      expect(checkHeader(header, frozenPolicy({ ...policy, algorithms: ['ES256'] }))?.code).toBe('alg_not_allowed');
      expect(checkHeader(Object.freeze({ alg: 'RS256', typ: 'JWT' }), strict)?.code).toBe('bad_typ');
      expect(checkHeader(header, strict)).toBeNull();
    });

    it('reads a header that can change every time', () => {
      const open: Record<string, unknown> = { alg: 'RS256', typ: 'at+jwt' };
      expect(checkHeader(open, strict)).toBeNull();
      open.alg = 'none';
      expect(checkHeader(open, strict)?.code).toBe('alg_not_allowed');
      open.alg = 'RS256';
      open.crit = ['exp'];
      expect(checkHeader(open, strict)?.code).toBe('crit_unsupported');
    });

    it('reads a policy whose allowlist can change every time', () => {
      const algorithms = ['RS256'];
      const p = Object.freeze({ ...policy, algorithms });
      expect(checkHeader(header, p)).toBeNull();
      algorithms[0] = 'ES256';
      expect(checkHeader(header, p)?.code).toBe('alg_not_allowed');
    });

    it('an event token (typ left to the caller) passing does not let an access token of the same header pass', () => {
      const logout = Object.freeze({ alg: 'RS256', typ: 'logout+jwt' });
      const lax = frozenPolicy({ ...policy, requireTyp: false });
      expect(checkHeader(logout, lax, false)).toBeNull();
      expect(checkHeader(logout, lax)?.code).toBe('bad_typ');
    });
  });
});

describe('key selection', () => {
  const k = fixtureKeys();
  const set = sanitizeJwks({ keys: [k.RS256.jwk, k.ES256.jwk, k.ES384.jwk, k.EdDSA.jwk, { ...k.PS256.jwk, alg: undefined }] });
  if (!set.ok) throw new Error('fixture JWKS invalid');
  const keys: KeyEntry[] = set.keys;
  const byKid = new Map(keys.map((e) => [e.jwk.kid!, e]));

  it('matches alg to kty/crv and to the JWK alg', () => {
    expect(keyFitsAlg(k.RS256.jwk, 'RS256')).toBe(true);
    expect(keyFitsAlg(k.RS256.jwk, 'PS256')).toBe(false); // JWK pins alg RS256
    expect(keyFitsAlg({ ...k.RS256.jwk, alg: undefined }, 'PS256')).toBe(true);
    expect(keyFitsAlg(k.ES256.jwk, 'ES384')).toBe(false);
    expect(keyFitsAlg({ ...k.ES256.jwk, alg: undefined }, 'ES384')).toBe(false); // the curve, not only the JWK alg
    expect(keyFitsAlg({ ...k.ES384.jwk, alg: undefined }, 'ES256')).toBe(false);
    expect(keyFitsAlg(k.EdDSA.jwk, 'EdDSA')).toBe(true);
    expect(keyFitsAlg(k.ES256.jwk, 'EdDSA')).toBe(false);
    expect(keyFitsAlg({ ...k.RS256.jwk, alg: undefined }, 'HS256')).toBe(false);
  });

  it('uses kid only as a map key', () => {
    for (const kid of ['../../etc/passwd', '__proto__', 'constructor', 'toString', '', 'rs256-fixture\u0000', 'RS256-FIXTURE']) {
      expect(resolveKey(byKid, keys, kid, 'RS256').kind).toBe('unknown_kid');
    }
    expect(resolveKey(byKid, keys, 'rs256-fixture', 'RS256')).toMatchObject({ kind: 'found' });
  });

  it('refuses a published kid used with the wrong algorithm', () => {
    const r = resolveKey(byKid, keys, 'es256-fixture', 'RS256');
    expect(r).toMatchObject({ kind: 'fail', failure: { code: 'alg_not_allowed' } });
  });

  it('without kid uses the single key of matching type only', () => {
    expect(resolveKey(byKid, keys, undefined, 'ES384')).toMatchObject({ kind: 'found', entry: { id: 'es384-fixture' } });
    // RS256-pinned key and the unpinned PS256-fixture RSA key both fit RS256 → ambiguous
    expect(resolveKey(byKid, keys, undefined, 'RS256')).toMatchObject({ kind: 'fail', failure: { code: 'unknown_kid' } });
  });
});
