// ECDSA's second valid spelling of a signed token: (r, s) and (r, n − s) verify alike for the
// same key and input (node:crypto and jose accept both, as OpenSSL does), so one ES256/ES384
// token has two byte forms and two SHA-256s. The twin's digest ties a revocation by either to both.
import { hash } from 'node:crypto';

/** Group order n of P-256 and P-384 (big-endian), by JWS alg. */
const ORDER: Readonly<Record<string, Buffer>> = {
  ES256: Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex'),
  ES384: Buffer.from('ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973', 'hex'),
};

/**
 * SHA-256 hex of `token` with its ECDSA signature's s replaced by n − s, or null when `alg` is
 * not ES256/ES384 or the signature is not the raw r||s of that curve. Only for a signature that
 * verified (0 < s < n, so n − s is in range too). Cost: one decode, a byte-wise subtraction and
 * one hash; called once per verification, never on a cache hit. `dot`: the index of the token's
 * last `.` when the caller knows it (the verifier, from the parsed signature), else found here.
 */
export function twinDigest(token: string, alg: string, dot?: number): string | null {
  const n = ORDER[alg];
  if (n === undefined) return null;
  dot ??= token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  const half = n.length;
  if (sig.length !== 2 * half) return null;
  let borrow = 0;
  for (let i = half - 1; i >= 0; i--) {
    const d = n[i]! - sig[half + i]! - borrow;
    borrow = d < 0 ? 1 : 0;
    sig[half + i] = d & 0xff;
  }
  return hash('sha256', token.slice(0, dot + 1) + sig.toString('base64url'), 'hex');
}
