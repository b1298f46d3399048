// Refuses EdDSA public keys that make signatures meaningless: points of small order
// (an Ed25519 key of order 1 accepts R = identity, S = 0 for every message) and
// non-canonical encodings (y ≥ p). OpenSSL checks neither when it imports or verifies.

/** Ed25519 field prime 2^255 − 19. */
const P25519 = (1n << 255n) - 19n;
/** Ed448 field prime 2^448 − 2^224 − 1. */
const P448 = (1n << 448n) - (1n << 224n) - 1n;

/**
 * y-coordinates of the 8 points of order dividing 8 on Ed25519: the identity (y = 1), order 2
 * (y = p − 1), order 4 (y = 0, both signs of x) and order 8 (the pair below, both signs).
 * The same list as libsodium's `ge25519_has_small_order` blacklist (src/libsodium/crypto_core/
 * ed25519/ref10/ed25519_ref10.c), which also compares with the sign bit cleared; its entries
 * p and p + 1 are the non-canonical spellings of 0 and 1, refused here by the y ≥ p check
 * (libsodium's `ge25519_is_canonical`).
 */
const Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
const SMALL_ORDER_Y_25519: ReadonlySet<bigint> = new Set([0n, 1n, P25519 - 1n, Y8, P25519 - Y8]);
/** Ed448's cofactor is 4: its small-order points are (0, ±1) and (±1, 0) (RFC 8032 §5.2, a = 1). */
const SMALL_ORDER_Y_448: ReadonlySet<bigint> = new Set([0n, 1n, P448 - 1n]);

const CURVE = {
  Ed25519: { bytes: 32, p: P25519, small: SMALL_ORDER_Y_25519 },
  Ed448: { bytes: 57, p: P448, small: SMALL_ORDER_Y_448 },
} as const;

/** Little-endian integer of `b` with the top bit (x's sign, RFC 8032 §5.1.3 / §5.2.3) cleared. */
function yOf(b: Buffer): bigint {
  let y = 0n;
  for (let i = b.length - 1; i >= 0; i--) y = (y << 8n) | BigInt(i === b.length - 1 ? b[i]! & 0x7f : b[i]!);
  return y;
}

/**
 * Why the OKP public key `x` (base64url) on `crv` must not be used, or null when it may.
 * Reasons: wrong length, non-canonical encoding (y ≥ p), small order. Other curves → null
 * (the caller's curve allowlist decides). Cost: one base64url decode and a 32/57-byte BigInt.
 */
export function okpKeyProblem(crv: string, x: string): string | null {
  const c = crv === 'Ed25519' ? CURVE.Ed25519 : crv === 'Ed448' ? CURVE.Ed448 : null;
  if (c === null) return null;
  const b = Buffer.from(x, 'base64url');
  if (b.length !== c.bytes) return `${crv} public key is not ${c.bytes} bytes`;
  const y = yOf(b);
  if (y >= c.p) return `${crv} public key is not canonically encoded (y ≥ p)`;
  if (c.small.has(y)) return `${crv} public key is a point of small order`;
  return null;
}
