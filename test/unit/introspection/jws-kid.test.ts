// The signing key of a JWT judged by introspection: its header kid goes into the facts, a kid-less
// JWT is marked keyUnknown, an ES256/ES384 JWT gets its twin spelling's digest, opaque tokens
// (dotted or not) and refusals are returned untouched.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { jwsHeaderKey, jwsKeyFacts, withHeaderKid } from '../../../node/introspection/jws-kid.js';
import type { VerifyOutcome } from '../../../node/pipeline/token-verifier.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jws = (header: Record<string, unknown>): string => `${b64(header)}.${b64({ sub: 'a' })}.c2ln`;
const ok = (): VerifyOutcome => Object.freeze({
  ok: true as const,
  principal: Object.freeze({ issuer: 'demo', kind: 'opaque' as const, claims: {}, scopes: [], exp: 0, validUntil: 0, fingerprint: 'f', facts: Object.freeze({ tokenHash: 'h' }) }),
}) as VerifyOutcome;

describe('jws-kid', () => {
  it('reads the header kid of a JWS; null for tokens that are no JWS', () => {
    expect(jwsHeaderKey(jws({ alg: 'RS256', kid: 'k1' }))).toEqual({ kid: 'k1' });
    expect(jwsHeaderKey(jws({ alg: 'RS256' }))).toEqual({ kid: undefined });
    expect(jwsHeaderKey(jws({ alg: 'RS256', kid: 7 }))).toEqual({ kid: undefined });
    expect(jwsHeaderKey('opaque-token-without-dots')).toBeNull();
    expect(jwsHeaderKey('abc.def.ghi')).toBeNull(); // dotted opaque
    expect(jwsHeaderKey(`${b64([1])}.x.y`)).toBeNull(); // JSON, not an object
    expect(jwsHeaderKey(`${jws({ alg: 'RS256', kid: 'k1' })}.extra`)).toBeNull();
  });

  it('adds the kid, or keyUnknown, to an accepted JWT\'s facts; leaves the rest alone', () => {
    const o = ok();
    const withKid = withHeaderKid(jws({ alg: 'RS256', kid: 'k1' }), o);
    expect(withKid.ok && withKid.principal.facts).toEqual({ tokenHash: 'h', kid: 'k1' });
    const unknown = withHeaderKid(jws({ alg: 'RS256' }), o);
    expect(unknown.ok && unknown.principal.facts).toEqual({ tokenHash: 'h', keyUnknown: true });
    expect(withHeaderKid('opaque', o)).toBe(o);
    const refused = { ok: false as const, error: { code: 'X' }, reason: 'inactive' } as unknown as VerifyOutcome;
    expect(withHeaderKid(jws({ alg: 'RS256', kid: 'k1' }), refused)).toBe(refused);
  });

  it('an ES256 JWT (one another member shared: judged without the token) gets the digest of its (r, n − s) twin; other algs none', () => {
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const r = Buffer.alloc(32, 1);
    const sBytes = Buffer.alloc(32, 2);
    const input = `${b64({ alg: 'ES256', kid: 'e1' })}.${b64({ sub: 'a' })}`;
    const token = `${input}.${Buffer.concat([r, sBytes]).toString('base64url')}`;
    const twinS = Buffer.from((n - BigInt(`0x${sBytes.toString('hex')}`)).toString(16).padStart(64, '0'), 'hex');
    const twin = `${input}.${Buffer.concat([r, twinS]).toString('base64url')}`;
    const digest = createHash('sha256').update(twin).digest('hex');
    expect(jwsKeyFacts(token)).toEqual({ kid: 'e1', twinHash: digest });
    const o = withHeaderKid(token, ok());
    expect(o.ok && o.principal.facts).toEqual({ tokenHash: 'h', kid: 'e1', twinHash: digest });
    expect(jwsKeyFacts(jws({ alg: 'RS256', kid: 'k1' }))).toEqual({ kid: 'k1', twinHash: undefined });
    expect(jwsKeyFacts('opaque')).toBeNull();
  });
});
