// EdDSA public keys that would make forgeries verify: every small-order Ed25519 point
// (both signs of x), every non-canonical encoding (y ≥ p), Ed448's small-order points;
// each small-order key is shown to accept R = identity, S = 0 in node:crypto, and real
// keys pass. Also where the check sits: JWKS sanitising and the DPoP key import.
import { describe, it, expect } from 'vitest';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { okpKeyProblem } from '../../../node/jwt/okp-point.js';
import { sanitizeJwks } from '../../../node/jwt/index.js';
import { importNodeKey } from '../../../node/jwt/node-signature.js';
import { ProofKeyCache, checkProofJwk } from '../../../node/dpop/proof-key.js';

const P = (1n << 255n) - 19n;
const P448 = (1n << 448n) - (1n << 224n) - 1n;
const Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;

function enc(y: bigint, bytes: number, sign: 0 | 1): string {
  const b = Buffer.alloc(bytes);
  let v = y;
  for (let i = 0; i < bytes; i++) { b[i] = Number(v & 0xffn); v >>= 8n; }
  if (sign === 1) b[bytes - 1]! |= 0x80;
  return b.toString('base64url');
}

/** How many of `n` fixed messages the signature R = identity, S = 0 "verifies" under x. */
function forgeries(x: string, n = 200): number {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  const sig = Buffer.concat([Buffer.from(enc(1n, 32, 0), 'base64url'), Buffer.alloc(32)]);
  let ok = 0;
  for (let i = 0; i < n; i++) if (verify(null, Buffer.from(`message ${i}`), key, sig)) ok++;
  return ok;
}

const SMALL = [['identity', 1n], ['order 2', P - 1n], ['order 4', 0n], ['order 8', Y8], ['order 8', P - Y8]] as const;

describe('okpKeyProblem (Ed25519)', () => {
  for (const [name, y] of SMALL) {
    for (const sign of [0, 1] as const) {
      it(`refuses the ${name} point y=${y.toString().slice(0, 12)}… sign ${sign}, which accepts forged signatures in node:crypto`, () => {
        const x = enc(y, 32, sign);
        expect(forgeries(x)).toBeGreaterThan(0);
        expect(okpKeyProblem('Ed25519', x)).toBe('Ed25519 public key is a point of small order');
      });
    }
  }

  it('refuses every non-canonical encoding y = p … 2^255 − 1, with either sign bit', () => {
    for (let d = 0n; d < 19n; d++) {
      for (const sign of [0, 1] as const) expect(okpKeyProblem('Ed25519', enc(P + d, 32, sign))).toBe('Ed25519 public key is not canonically encoded (y ≥ p)');
    }
    expect(forgeries(enc(P + 1n, 32, 0))).toBe(200); // non-canonical 1 = the identity again
  });

  it('refuses wrong lengths and accepts real keys, which accept no forgery', () => {
    expect(okpKeyProblem('Ed25519', Buffer.alloc(31, 9).toString('base64url'))).toMatch(/not 32 bytes/);
    for (let i = 0; i < 20; i++) {
      const x = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
      expect(okpKeyProblem('Ed25519', x)).toBeNull();
    }
    expect(forgeries(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!)).toBe(0);
  });
});

describe('okpKeyProblem (Ed448)', () => {
  it('refuses (0, ±1), (±1, 0) and y ≥ p; accepts real keys', () => {
    for (const y of [0n, 1n, P448 - 1n]) for (const sign of [0, 1] as const) expect(okpKeyProblem('Ed448', enc(y, 57, sign))).toMatch(/small order/);
    expect(okpKeyProblem('Ed448', enc(P448, 57, 0))).toMatch(/not canonically encoded/);
    expect(okpKeyProblem('Ed448', enc(1n << 448n, 57, 0))).toMatch(/not canonically encoded/);
    expect(okpKeyProblem('Ed448', generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }).x!)).toBeNull();
  });
});

describe('where the check applies', () => {
  const small = { kty: 'OKP', crv: 'Ed25519', x: enc(1n, 32, 0) };

  it('JWKS: the small-order key is dropped with its kid named, the other keys stay', () => {
    const good = { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'good' };
    const r = sanitizeJwks({ keys: [{ ...small, kid: 'evil' }, { ...small, kid: 'evil-noncanonical', x: enc(P + 1n, 32, 0) }, good] });
    expect(r.ok && r.keys.map((k) => k.id)).toEqual(['good']);
    expect(r.ok && r.dropped).toEqual([
      'kid "evil": Ed25519 public key is a point of small order',
      'kid "evil-noncanonical": Ed25519 public key is not canonically encoded (y ≥ p)',
    ]);
  });

  it('DPoP and the verifier worker: the key import refuses it, so no proof or token verifies under it', () => {
    expect(() => importNodeKey(small)).toThrow(/small order/);
    const key = checkProofJwk(small, 'EdDSA');
    if (typeof key === 'string') throw new Error(key);
    const cache = new ProofKeyCache();
    expect(cache.get(key)).toBeNull();
    expect(cache.importFailures).toBe(1);
  });
});
