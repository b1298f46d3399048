// Authenticate stage: which judge a token goes to (JWS → JWT verifier with the route's
// issuers; opaque → the first allowed issuer with introspection), sync when the judge
// is, 401 without error code when no token came, and never a rejected Promise.
import { describe, it, expect } from 'vitest';
import { createAuthenticator, looksLikeJws, respelledJws, type TokenIntrospector } from '../../../node/pipeline/authenticate.js';
import { CONTINUE, type StageResult } from '../../../node/pipeline/context.js';
import type { TokenVerifier, VerifyOutcome } from '../../../node/pipeline/token-verifier.js';
import { proxyError } from '../../../node/errors.js';
import { compiled, ctxFor, principal, route } from './pipeline-helpers.js';

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
const OPAQUE = 'dGhpcyBpcyBvcGFxdWU';

function recordingVerifier(answer: (token: string) => VerifyOutcome | Promise<VerifyOutcome>): TokenVerifier & { calls: Array<[string, readonly string[] | null]> } {
  const calls: Array<[string, readonly string[] | null]> = [];
  return { calls, verify: (t, allowed) => { calls.push([t, allowed]); return answer(t); } };
}
function introspector(name: string, log: string[]): TokenIntrospector {
  return { lookup: () => { log.push(name); return { ok: true, principal: principal({ sub: 'o' }, name, 'opaque') }; } };
}
const ctxWithToken = (auth: unknown, token: string | null) => {
  const ctx = ctxFor(compiled(route(auth)));
  ctx.token = token;
  return ctx;
};
const reasonOf = (r: StageResult): string => (r.kind === 'deny' ? r.reason : 'continue');
/** The stage answered synchronously. */
function sync(r: StageResult | Promise<StageResult>): StageResult {
  expect(r).not.toBeInstanceOf(Promise);
  return r as StageResult;
}

describe('authenticate', () => {
  const ok: VerifyOutcome = { ok: true, principal: principal({ sub: 'alice' }) };

  it('continues without a principal on auth: none, even with a token', () => {
    const v = recordingVerifier(() => ok);
    const ctx = ctxWithToken('none', JWT);
    expect(createAuthenticator({ jwt: v, introspection: {} })(ctx)).toBe(CONTINUE);
    expect(v.calls).toHaveLength(0);
    expect(ctx.principal).toBeNull();
  });

  it('answers 401 PORTCULLIS_ERR_AUTH_MISSING (no error code) when no token came', () => {
    const r = sync(createAuthenticator({ jwt: recordingVerifier(() => ok), introspection: {} })(ctxWithToken({}, null)));
    expect(r.kind === 'deny' && r.error.code).toBe('PORTCULLIS_ERR_AUTH_MISSING');
    expect(reasonOf(r)).toBe('no_token');
  });

  it('sends a JWS to the JWT verifier with the route issuers and answers synchronously on a sync verdict', () => {
    const v = recordingVerifier(() => ok);
    const ctx = ctxWithToken({ issuers: ['main'] }, JWT);
    const r = createAuthenticator({ jwt: v, introspection: {} })(ctx);
    expect(r).toBe(CONTINUE);
    expect(v.calls).toEqual([[JWT, ['main']]]);
    expect(ctx.principal).toBe((ok as { principal: unknown }).principal);
    // no issuers on the route: any configured issuer
    createAuthenticator({ jwt: v, introspection: {} })(ctxWithToken({}, JWT));
    expect(v.calls[1]![1]).toBeNull();
  });

  it('waits for an async verdict and maps a refusal to a deny with the verifier reason', async () => {
    const fail: VerifyOutcome = { ok: false, error: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token expired'), reason: 'expired' };
    const v = recordingVerifier(() => Promise.resolve(fail));
    const ctx = ctxWithToken({}, JWT);
    const r = createAuthenticator({ jwt: v, introspection: {} })(ctx);
    expect(r).toBeInstanceOf(Promise);
    const settled = await r;
    expect(settled.kind === 'deny' && settled.error.code).toBe('PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    expect(reasonOf(settled)).toBe('expired');
    expect(ctx.principal).toBeNull();
  });

  it('turns a verifier that throws or rejects into 503, never an exception', async () => {
    const throwing = recordingVerifier(() => { throw new Error('bug'); });
    const r1 = sync(createAuthenticator({ jwt: throwing, introspection: {} })(ctxWithToken({}, JWT)));
    expect(r1.kind === 'deny' && r1.error.code).toBe('PORTCULLIS_ERR_AUTH_UNAVAILABLE');
    const rejecting = recordingVerifier(() => Promise.reject(new Error('bug')));
    const r2 = await createAuthenticator({ jwt: rejecting, introspection: {} })(ctxWithToken({}, JWT));
    expect(r2.kind === 'deny' && r2.error.code).toBe('PORTCULLIS_ERR_AUTH_UNAVAILABLE');
  });

  it('sends an opaque token to the first allowed issuer that has introspection', async () => {
    const log: string[] = [];
    const v = recordingVerifier(() => ok);
    const auth = createAuthenticator({ jwt: v, introspection: { a: introspector('a', log), b: introspector('b', log) } });
    const ctx = ctxWithToken({ issuers: ['main', 'b'] }, OPAQUE);
    expect(auth(ctx)).toBe(CONTINUE);
    expect(ctx.principal?.issuer).toBe('b');
    auth(ctxWithToken({}, OPAQUE));
    expect(log).toEqual(['b', 'a']);
    expect(v.calls).toHaveLength(0);
  });

  it('refuses an opaque token with 401 invalid_token when no allowed issuer introspects', () => {
    const log: string[] = [];
    const auth = createAuthenticator({ jwt: recordingVerifier(() => ok), introspection: { a: introspector('a', log) } });
    const r = sync(auth(ctxWithToken({ issuers: ['main'] }, OPAQUE)));
    expect(r.kind === 'deny' && r.error.code).toBe('PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    expect(reasonOf(r)).toBe('opaque_not_supported');
    expect(log).toEqual([]);
  });

  it('introspects JWS-shaped tokens when there is no JWT verifier', () => {
    const log: string[] = [];
    const auth = createAuthenticator({ jwt: null, introspection: { a: introspector('a', log) } });
    expect(auth(ctxWithToken({}, JWT))).toBe(CONTINUE);
    expect(log).toEqual(['a']);
  });

  it('recognises compact JWS shapes only', () => {
    expect(looksLikeJws(JWT)).toBe(true);
    expect(looksLikeJws('a.b.')).toBe(true); // alg none: the JWT verifier refuses it
    expect(looksLikeJws('a.b')).toBe(false);
    expect(looksLikeJws('a.b.c.d.e')).toBe(false); // JWE
    expect(looksLikeJws('a+b.c.d')).toBe(false);
    expect(looksLikeJws(`${JWT}==`)).toBe(true); // padded: the JWT verifier refuses it, no authorization server judges it
    expect(looksLikeJws('a=.b=.c')).toBe(true);
    expect(looksLikeJws(OPAQUE)).toBe(false);
  });

  it('recognises a JWS respelled in the standard base64 alphabet or padded, and nothing else', () => {
    const header = (h: unknown): string => Buffer.from(JSON.stringify(h)).toString('base64');
    const std = `${header({ alg: 'RS256', kid: 'k>?~' })}.eyJzdWIiOiJhIn0.c2ln+/`;
    expect(std).toMatch(/[+/]/);
    expect(respelledJws(std)).toBe(true);
    expect(respelledJws(`${JWT}=`)).toBe(true);
    expect(respelledJws(`${JWT.slice(0, -2)}~${JWT.slice(-2)}`)).toBe(true); // ~ in the signature: a Buffer decoder skips it
    expect(respelledJws(`${JWT.slice(0, 3)}~${JWT.slice(3)}`)).toBe(true); // ~ in the header
    expect(respelledJws('ab~c.de~f.gh')).toBe(false); // an opaque token with ~ and two dots: no JSON header
    expect(respelledJws(JWT)).toBe(false); // canonical: the JWT verifier's
    expect(respelledJws('ab+c.de/f.gh')).toBe(false); // an opaque token with two dots: no JSON header
    expect(respelledJws(`${header({ typ: 'x' })}.a.b+`)).toBe(false); // JSON but no alg
    expect(respelledJws(OPAQUE)).toBe(false);
    const log: string[] = [];
    const auth = createAuthenticator({ jwt: null, introspection: { a: introspector('a', log) } });
    const r = auth(ctxWithToken({}, std)) as StageResult;
    expect(r).toMatchObject({ kind: 'deny', reason: 'malformed' });
    expect(log).toEqual([]); // never sent to the authorization server
  });
});
