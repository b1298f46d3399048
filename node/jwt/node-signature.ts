// JWS signature check with node:crypto's one-shot verify (OpenSSL on the calling
// thread, no WebCrypto job hop): the `node` verify engine. The alg/key consistency,
// crit and allowlist rules are enforced before this is reached (token-rules.ts).
import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import type { JWK } from 'jose';
import { okpKeyProblem } from './okp-point.js';

const HASH: Readonly<Record<string, string | null>> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', EdDSA: null,
};
/** Raw r||s (RFC 7518 §3.4) and Ed25519 signature sizes, bytes. */
const FIXED_SIG_BYTES: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, EdDSA: 64 };
const MIN_RSA_BITS = 2048;

/**
 * Import a sanitised public JWK; throws on invalid material, an RSA modulus under 2048 bits,
 * or an EdDSA key of small order or non-canonical encoding (okp-point.ts).
 */
export function importNodeKey(jwk: Readonly<JWK>): KeyObject {
  if (jwk.kty === 'OKP') {
    const problem = okpKeyProblem(String(jwk.crv), String(jwk.x));
    if (problem !== null) throw new Error(problem);
  }
  const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new Error('RSA modulus below 2048 bits');
  }
  return key;
}

/** True only for a valid signature of `input` under `key` for `alg`; never throws. */
export function verifyNodeSignature(alg: string, key: KeyObject, input: string, sig: Buffer): boolean {
  const hash = HASH[alg];
  if (hash === undefined) return false;
  const fixed = FIXED_SIG_BYTES[alg];
  if (fixed !== undefined && sig.length !== fixed) return false;
  let k: KeyObject | VerifyKeyObjectInput = key;
  if (alg[0] === 'E' && alg !== 'EdDSA') k = { key, dsaEncoding: 'ieee-p1363' };
  else if (alg[0] === 'P') k = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  try {
    return verify(hash, Buffer.from(input, 'latin1'), k, sig);
  } catch {
    return false;
  }
}
