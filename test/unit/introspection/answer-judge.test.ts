// The introspection judge's boundaries, table-driven at a fixed clock: each date rule on both
// sides of its clock-skew edge, audience lists, require_aud, require_iss, DPoP token_type, issuer compared exactly;
// an iss-less answer's principal and shared copy name the issuer's iss.
import { describe, it, expect } from 'vitest';
import { judgeAnswer, sharedResult, type AnswerRules } from '../../../node/introspection/answer-judge.js';
import { REFUSED } from '../../../node/introspection/refusals.js';
import type { VerifyOutcome } from '../../../node/pipeline/token-verifier.js';

const NOW = 1_700_000_000; // s
const rules: AnswerRules = { name: 'demo', issuerUrl: 'https://as.test', audiences: ['api', 'api2'], requireAud: false, requireIss: false, skewMs: 30_000, maxLifetimeS: 3600 };
const good = { sub: 'bob', scope: 'orders:read', iss: 'https://as.test', aud: 'api', exp: NOW + 60, iat: NOW - 10, token_type: 'Bearer' };
const KEY = 'a'.repeat(64);

function judge(patch: Record<string, unknown>, r: AnswerRules = rules): VerifyOutcome {
  const claims: Record<string, unknown> = { ...good, ...patch };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  return judgeAnswer({ active: true, claims, expiresAt: NOW * 1000 + 60_000 }, KEY, NOW * 1000, r);
}

describe('judgeAnswer', () => {
  it('accepts a well-formed answer, on every bound just inside the skew', () => {
    for (const patch of [
      {}, { exp: NOW - 29 }, { nbf: NOW + 30 }, { iat: NOW + 30, exp: NOW + 100 },
      { iat: NOW - 10, exp: NOW - 10 + 3600 }, { aud: ['x', 'api2'] }, { aud: undefined },
      { token_type: 'dpop', cnf: { jkt: 'thumbprint' } }, { iss: undefined, token_type: undefined },
    ]) expect(judge(patch).ok, JSON.stringify(patch)).toBe(true);
  });

  it.each<[string, Record<string, unknown>, VerifyOutcome]>([
    ['exp at now − skew', { exp: NOW - 30 }, REFUSED.expired],
    ['nbf one second beyond the skew', { nbf: NOW + 31 }, REFUSED.notYetValid],
    ['iat one second beyond the skew', { iat: NOW + 31, exp: NOW + 100 }, REFUSED.issuedInFuture],
    ['exp − iat one second above the maximum', { iat: NOW - 10, exp: NOW - 10 + 3601 }, REFUSED.lifetimeExceeded],
    ['no iat and remaining life above the maximum', { iat: undefined, exp: NOW + 3601 }, REFUSED.lifetimeExceeded],
    ['an audience list without ours', { aud: ['x', 'y'] }, REFUSED.wrongAudience],
    ['a foreign audience', { aud: 'other' }, REFUSED.wrongAudience],
    ['an audience list with a non-string', { aud: [null, 'api'] }, REFUSED.badClaims],
    ['an issuer URL extended past ours', { iss: 'https://as.test.evil' }, REFUSED.wrongIssuer],
    ['token_type DPoP without cnf.jkt', { token_type: 'DPoP', cnf: {} }, REFUSED.notAccessToken],
    ['token_type refresh_token', { token_type: 'refresh_token' }, REFUSED.notAccessToken],
  ])('refuses %s', (_name, patch, outcome) => {
    expect(judge(patch)).toBe(outcome);
  });

  it('refuses an inactive answer even when it carries claims', () => {
    expect(judgeAnswer({ active: false, claims: { ...good }, expiresAt: NOW * 1000 + 60_000 }, KEY, NOW * 1000, rules)).toBe(REFUSED.inactive);
  });

  it('require_iss: refuses an answer without iss (401 token issuer missing), still one naming another, accepts ours', () => {
    const strict = { ...rules, requireIss: true };
    expect(judge({ iss: undefined }, strict)).toBe(REFUSED.missingIssuer);
    expect(judge({ iss: 'https://tenant-b.as.test' }, strict)).toBe(REFUSED.wrongIssuer);
    expect(judge({}, strict).ok).toBe(true);
  });

  it('require_aud: refuses an answer without aud, accepts one naming ours', () => {
    const strict = { ...rules, requireAud: true };
    expect(judge({ aud: undefined }, strict)).toBe(REFUSED.wrongAudience);
    expect(judge({ aud: null }, strict)).toBe(REFUSED.wrongAudience);
    expect(judge({}, strict).ok).toBe(true);
  });

  it('trusts the principal until exp + skew (seconds), and without exp until the cached answer expires', () => {
    const r = judge({});
    expect(r.ok && r.principal.validUntil).toBe(NOW + 60 + 30);
    expect(r.ok && r.principal.exp).toBe(NOW + 60);
    const noExp = judge({ exp: undefined });
    expect(noExp.ok && noExp.principal.validUntil).toBe(NOW + 60);
  });
});

describe('an answer without iss', () => {
  it('makes a principal whose claims name the issuer\'s iss (X-Auth-Issuer, iss rules)', () => {
    const r = judge({ iss: undefined });
    expect(r.ok && r.principal.claims.iss).toBe('https://as.test');
    expect(r.ok && Object.isFrozen(r.principal.claims)).toBe(true);
  });

  it('is shared naming it too, marked as filled in (under require_iss as well); an answer with iss or an inactive one is shared as it came', () => {
    const bare = { active: true, claims: { sub: 'bob' }, expiresAt: NOW * 1000 } as const;
    const filled = { ...bare, claims: { sub: 'bob', iss: 'https://as.test' }, issFilled: true };
    expect(sharedResult(bare, rules)).toEqual(filled);
    expect(bare.claims).toEqual({ sub: 'bob' }); // the member's own copy is left alone
    for (const r of [{ ...bare, claims: { sub: 'bob', iss: 'https://other' } }, { active: false, claims: null, expiresAt: 0 }]) expect(sharedResult(r, rules)).toBe(r);
    expect(sharedResult(bare, { ...rules, requireIss: true })).toEqual(filled);
  });

  it('a filled-in iss is refused under require_iss as a missing one (401 missing issuer), taken without it, refused when it names another issuer', () => {
    const filled = { active: true, claims: { sub: 'bob', iss: 'https://as.test', exp: NOW + 60 }, expiresAt: NOW * 1000 + 60_000, issFilled: true };
    const strict = { ...rules, requireIss: true };
    expect(judgeAnswer(filled, KEY, NOW * 1000, strict)).toBe(REFUSED.missingIssuer);
    expect(judgeAnswer({ ...filled, issFilled: false }, KEY, NOW * 1000, strict)).toMatchObject({ ok: true });
    expect(judgeAnswer(filled, KEY, NOW * 1000, rules)).toMatchObject({ ok: true });
    expect(judgeAnswer({ ...filled, claims: { ...filled.claims, iss: 'https://other' } }, KEY, NOW * 1000, rules)).toBe(REFUSED.wrongIssuer);
  });
});
