// JWS signature check with node:crypto's one-shot verify (OpenSSL on the calling
// thread, no WebCrypto job hop): the `node` verify engine. The alg/key consistency,
// crit and allowlist rules are enforced before this is reached (token-rules.ts).
import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import type { JWK } from 'jose';
import { okpKeyProblem } from './okp-point.js';
import { MAX_TOKEN_BYTES } from './token-parse.js';
import { rsaKeyProblem } from './rsa-key.js';

const HASH: Readonly<Record<string, string | null>> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', EdDSA: null,
};
/** Raw r||s (RFC 7518 §3.4) and Ed25519 signature sizes, bytes. */
const FIXED_SIG_BYTES: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, EdDSA: 64 };
/**
 * RSA modulus size in bytes per imported key: an RSASSA signature must be exactly that long
 * (RFC 8017 §8.1.2, §8.2.2 step 1). OpenSSL's PSS verify also takes one whose leading zero byte
 * was dropped, which would give 1 in 256 PS tokens a second spelling and a second SHA-256.
 */
const RSA_BYTES = new WeakMap<KeyObject, number>();

/**
 * Signing input and signature bytes in thread-local buffers reused for every token: the one-shot
 * verify is synchronous, so no Buffer object is made per token. A view per distinct length is kept
 * (verify needs exact lengths; an issuer's tokens come in a few), at most 64 per buffer.
 */
const INPUT = Buffer.allocUnsafeSlow(MAX_TOKEN_BYTES);
const SIG = Buffer.allocUnsafeSlow(Math.ceil((MAX_TOKEN_BYTES * 3) / 4));
const MAX_VIEWS = 64;
const inputViews = new Map<number, Buffer>();
const sigViews = new Map<number, Buffer>();

function view(buf: Buffer, views: Map<number, Buffer>, n: number): Buffer {
  let v = views.get(n);
  if (v === undefined) {
    if (views.size >= MAX_VIEWS) views.clear();
    v = buf.subarray(0, n);
    views.set(n, v);
  }
  return v;
}

/** Modulus bytes of an RSA key (read once per key object); undefined for other keys. */
function rsaBytes(key: KeyObject): number | undefined {
  let n = RSA_BYTES.get(key);
  if (n === undefined && key.asymmetricKeyType === 'rsa') {
    n = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    RSA_BYTES.set(key, n);
  }
  return n;
}

/**
 * Import a sanitised public JWK; throws on invalid material, an RSA modulus under 2048 bits or an
 * exponent even, below 3 or over 64 bits (rsa-key.ts), or an EdDSA key of small order or non-canonical
 * encoding (okp-point.ts).
 */
export function importNodeKey(jwk: Readonly<JWK>): KeyObject {
  if (jwk.kty === 'OKP') {
    const problem = okpKeyProblem(String(jwk.crv), String(jwk.x));
    if (problem !== null) throw new Error(problem);
  }
  const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  const rsa = rsaKeyProblem(key);
  if (rsa !== null) throw new Error(rsa);
  return key;
}

/**
 * True only for a valid signature of the first `inputLength` characters of `input` (latin1 bytes:
 * a JWS's `header.payload`; default all of it, so a whole token can be passed without slicing it)
 * under `key` for `alg`; `sig` is the bytes, or the JWS signature segment already checked to be
 * strict base64url (decoded into the reused buffer). Never throws.
 */
export function verifyNodeSignature(alg: string, key: KeyObject, input: string, sig: Buffer | string, inputLength = input.length): boolean {
  const hash = HASH[alg];
  if (hash === undefined) return false;
  if (typeof sig === 'string') sig = sig.length <= SIG.length ? view(SIG, sigViews, SIG.write(sig, 'base64url')) : Buffer.from(sig, 'base64url');
  const fixed = FIXED_SIG_BYTES[alg] ?? rsaBytes(key);
  if (fixed !== undefined && sig.length !== fixed) return false;
  let k: KeyObject | VerifyKeyObjectInput = key;
  if (alg[0] === 'E' && alg !== 'EdDSA') k = { key, dsaEncoding: 'ieee-p1363' };
  else if (alg[0] === 'P') k = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  try {
    const n = Math.min(Math.max(0, inputLength), input.length);
    const data = n <= INPUT.length ? view(INPUT, inputViews, INPUT.write(input, 0, n, 'latin1')) : Buffer.from(input.slice(0, n), 'latin1');
    return verify(hash, data, k, sig);
  } catch {
    return false;
  }
}
