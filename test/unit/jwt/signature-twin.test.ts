// The ECDSA twin spelling of a token: (r, n − s) verifies for the same key and input, so its
// digest must be known to revocation; other algorithms have no twin. Also the RSA length rule:
// a PSS signature with its leading zero byte dropped verifies in OpenSSL and must be refused.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { twinDigest } from '../../../node/jwt/signature-twin.js';
import { verifyNodeSignature } from '../../../node/jwt/node-signature.js';
import { fixtureKeys } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';

const keys = fixtureKeys();
const ORDER = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
} as const;

function twinOf(token: string, alg: keyof typeof ORDER): string {
  const dot = token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  const half = sig.length / 2;
  const s = ORDER[alg] - BigInt(`0x${sig.subarray(half).toString('hex')}`);
  return `${token.slice(0, dot)}.${Buffer.concat([sig.subarray(0, half), Buffer.from(s.toString(16).padStart(half * 2, '0'), 'hex')]).toString('base64url')}`;
}
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const verifies = (alg: string, token: string): boolean =>
  verifyNodeSignature(alg, keys[alg as keyof typeof keys].publicKey, token, token.slice(token.lastIndexOf('.') + 1), token.lastIndexOf('.'));

describe('twinDigest', () => {
  it.each(['ES256', 'ES384'] as const)('%s: the twin verifies, its digest is twinDigest, and the twin of the twin is the original', (alg) => {
    for (let i = 0; i < 20; i++) {
      const t = makeToken(keys[alg]);
      const twin = twinOf(t, alg);
      expect(verifies(alg, t)).toBe(true);
      expect(verifies(alg, twin)).toBe(true);
      expect(twinDigest(t, alg)).toBe(sha(twin));
      expect(twinDigest(twin, alg)).toBe(sha(t));
    }
  });

  it.each(['ES256', 'ES384'] as const)('%s: the last dot the verifier passes (from the parsed signature) gives the digest found without it', (alg) => {
    const t = makeToken(keys[alg]);
    const sig = t.split('.')[2]!;
    expect(twinDigest(t, alg, t.length - sig.length - 1)).toBe(twinDigest(t, alg));
    expect(twinDigest(t, alg, t.length - sig.length - 1)).toBe(sha(twinOf(t, alg)));
  });

  it('no twin for RSA, PSS and EdDSA, nor for an ES signature of the wrong size', () => {
    for (const alg of ['RS256', 'PS256', 'EdDSA'] as const) expect(twinDigest(makeToken(keys[alg]), alg)).toBeNull();
    expect(twinDigest(makeToken(keys.ES384), 'ES256')).toBeNull();
  });
});

describe('RSA signature length', () => {
  it('a PS256 signature with its leading zero byte dropped is refused (the full-length one verifies)', () => {
    let checked = 0;
    for (let i = 0; i < 20_000 && checked < 2; i++) {
      const t = makeToken(keys.PS256, { claims: { n: i } });
      const dot = t.lastIndexOf('.');
      const sig = Buffer.from(t.slice(dot + 1), 'base64url');
      if (sig[0] !== 0) continue;
      checked++;
      expect(verifies('PS256', t)).toBe(true);
      expect(verifies('PS256', `${t.slice(0, dot)}.${sig.subarray(1).toString('base64url')}`)).toBe(false);
    }
    expect(checked, 'no PS256 signature with a leading zero byte in 20 000 tries').toBe(2);
  });
});
