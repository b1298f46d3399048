// What makes an imported RSA public key unfit to verify anything: a modulus under 2048 bits
// (also when a JWK pads a short one with leading zero bytes) or a public exponent that is
// even or below 3 — with e = 1 a "signature" is the padded message itself, forgeable by anyone.
import type { KeyObject } from 'node:crypto';

/** RFC 8725 §3.5 via RFC 7518 §3.3. */
export const MIN_RSA_BITS = 2048;

/**
 * Why `key` (an RSA public key from node:crypto) must not verify signatures, or null when it
 * may; non-RSA keys → null. Reads the parsed key, never the JWK text, so padding cannot hide a size.
 */
export function rsaKeyProblem(key: KeyObject): string | null {
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') return null;
  const d = key.asymmetricKeyDetails;
  if ((d?.modulusLength ?? 0) < MIN_RSA_BITS) return 'RSA modulus below 2048 bits';
  const e = d?.publicExponent;
  if (typeof e !== 'bigint' || e < 3n || e % 2n === 0n) return 'RSA public exponent even or below 3';
  return null;
}
