// The DPoP proof's own key: the `jwk` header checked to be a public signing key that fits
// the proof's `alg`, its RFC 7638 thumbprint (compared with the token's cnf.jkt) and a
// bounded cache of imported KeyObjects keyed by that thumbprint.
import { createHash, type KeyObject } from 'node:crypto';
import { importNodeKey } from '../jwt/node-signature.js';

/** Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
/** Key material members: base64url, bounded (an 8192-bit RSA modulus is 1366 characters). */
const B64URL = /^[A-Za-z0-9_-]{1,1400}$/;
/** The curve an EC/OKP algorithm needs. */
const CURVES: Readonly<Record<string, readonly string[]>> = { ES256: ['P-256'], ES384: ['P-384'], EdDSA: ['Ed25519', 'Ed448'] };

/** A checked public key: its thumbprint and the RFC 7638 required members only. */
export interface ProofKey {
  readonly thumbprint: string;
  readonly members: Readonly<Record<string, string>>;
}

/** Why a `jwk` header was refused. */
export type JwkFailure = 'not_object' | 'private' | 'kty' | 'alg_mismatch' | 'member';

const str = (v: unknown): v is string => typeof v === 'string' && B64URL.test(v);

/**
 * Check the `jwk` header for `alg` (already on the allowlist): a JSON object without private
 * members, of the key type and curve `alg` needs, `alg`/`use` consistent when present.
 * Returns the thumbprint (SHA-256, base64url) or the failure.
 */
export function checkProofJwk(jwk: unknown, alg: string): ProofKey | JwkFailure {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return 'not_object';
  const k = jwk as Record<string, unknown>;
  for (const m of PRIVATE_MEMBERS) if (k[m] !== undefined) return 'private';
  if (k.alg !== undefined && k.alg !== alg) return 'alg_mismatch';
  if (k.use !== undefined && k.use !== 'sig') return 'alg_mismatch';
  let members: Record<string, string>;
  let json: string;
  if (alg[0] === 'R' || alg[0] === 'P') {
    if (k.kty !== 'RSA') return 'kty';
    if (!str(k.e) || !str(k.n)) return 'member';
    members = { kty: 'RSA', e: k.e, n: k.n };
    json = `{"e":"${k.e}","kty":"RSA","n":"${k.n}"}`;
  } else {
    const curves = CURVES[alg];
    const kty = alg === 'EdDSA' ? 'OKP' : 'EC';
    if (curves === undefined || k.kty !== kty) return 'kty';
    if (typeof k.crv !== 'string' || !curves.includes(k.crv)) return 'kty';
    if (!str(k.x)) return 'member';
    if (kty === 'EC') {
      if (!str(k.y)) return 'member';
      members = { kty, crv: k.crv, x: k.x, y: k.y };
      json = `{"crv":"${k.crv}","kty":"EC","x":"${k.x}","y":"${k.y}"}`;
    } else {
      members = { kty, crv: k.crv, x: k.x };
      json = `{"crv":"${k.crv}","kty":"OKP","x":"${k.x}"}`;
    }
  }
  // Every value is base64url or a fixed curve name: the JSON needs no escaping (RFC 7638 §3.3).
  return { thumbprint: createHash('sha256').update(json).digest('base64url'), members };
}

/**
 * Imported public keys by thumbprint. A key is imported only after its thumbprint matched a
 * verified token's cnf.jkt, so the cache holds at most one entry per bound key in use.
 * Least recently used entries leave first at `maxEntries`.
 */
export class ProofKeyCache {
  private readonly keys = new Map<string, KeyObject>();
  imports = 0;
  importFailures = 0;

  constructor(private readonly maxEntries = 10_000) {}

  /** The KeyObject for `key`, or null when the material is invalid (bad point, RSA < 2048 bits). */
  get(key: ProofKey): KeyObject | null {
    const hit = this.keys.get(key.thumbprint);
    if (hit !== undefined) {
      this.keys.delete(key.thumbprint);
      this.keys.set(key.thumbprint, hit);
      return hit;
    }
    let k: KeyObject;
    try {
      k = importNodeKey(key.members);
    } catch {
      this.importFailures++;
      return null;
    }
    this.imports++;
    if (this.keys.size >= this.maxEntries) this.keys.delete(this.keys.keys().next().value as string);
    this.keys.set(key.thumbprint, k);
    return k;
  }

  get size(): number { return this.keys.size; }
}
