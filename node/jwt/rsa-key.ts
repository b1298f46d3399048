// What makes an imported RSA public key unfit to verify anything: a modulus under 2048 bits (also
// when a JWK pads a short one with leading zero bytes) or over 8192, a public exponent that is even or
// below 3 — with e = 1 a "signature" is the padded message itself, forgeable by anyone — or over 64 bits.
import type { KeyObject } from 'node:crypto';

/** RFC 8725 §3.5 via RFC 7518 §3.3. */
export const MIN_RSA_BITS = 2048;
/**
 * Largest modulus taken, bits (a DPoP proof's jwk is bounded to it by its member length too): a check under
 * OpenSSL's largest, 16384 bits, cost ~1.1 ms instead of ~0.08 ms at 2048 — each forged token under that kid
 * ~14× as dear to refuse; 8192 costs ~0.3 ms.
 */
export const MAX_RSA_BITS = 8192;
/**
 * Largest public exponent taken, bits (OpenSSL's own cap for moduli over 3072 bits): a check costs in
 * proportion to e's length, and a 2048-bit e made each forged token ~40× as dear to refuse as under
 * e = 65537 (3.7 ms, not 0.09 ms, of a verifier worker) — anyone could then fill the pool with junk.
 */
export const MAX_RSA_EXPONENT_BITS = 64;

/**
 * Why `key` (an RSA public key from node:crypto) must not verify signatures, or null when it
 * may; non-RSA keys → null. Reads the parsed key, never the JWK text, so padding cannot hide a size.
 */
export function rsaKeyProblem(key: KeyObject): string | null {
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') return null;
  const d = key.asymmetricKeyDetails;
  if ((d?.modulusLength ?? 0) < MIN_RSA_BITS) return 'RSA modulus below 2048 bits';
  if (d!.modulusLength! > MAX_RSA_BITS) return `RSA modulus over ${MAX_RSA_BITS} bits`;
  const e = d?.publicExponent;
  if (typeof e !== 'bigint' || e < 3n || e % 2n === 0n) return 'RSA public exponent even or below 3';
  if (e >> BigInt(MAX_RSA_EXPONENT_BITS) !== 0n) return `RSA public exponent over ${MAX_RSA_EXPONENT_BITS} bits`;
  return null;
}
