// Turns a fetched JWKS document into an immutable key-set snapshot: public
// signature keys only (no `oct`, no `use` other than sig, none published with
// its private half), each checked by node:crypto, with a process-unique version.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { isCompactToken } from '../contracts/index.js';
import { keyFitsAlg } from './token-rules.js';
import { okpKeyProblem } from './okp-point.js';
import { rsaKeyProblem } from './rsa-key.js';
import type { KeyEntry } from './types.js';

/** Immutable view of one issuer's keys, read synchronously on the request path. */
export interface KeySetSnapshot {
  /** Unique in the process (across issuers and reloads), so a worker cache keyed by it never aliases. */
  readonly version: number;
  readonly keys: readonly KeyEntry[];
  readonly byKid: ReadonlyMap<string, KeyEntry>;
  /** Refs (id and material, KeyEntry.ref) of every key: a cached token stays valid only while its key is still published. */
  readonly ids: ReadonlySet<string>;
  /** Canonical form of the keys: a refresh with the same digest keeps the version. */
  readonly digest: string;
}

let nextVersion = 1;

const ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA']);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
/** RFC 7518 §6.2.2, §6.3.2 (OKP: RFC 8037 §2): members only a private key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;
const PRIVATE_PUBLISHED = 'private key material published';
/** Longest kid a revocation can name (cluster/revocation/revocation-request.ts: value ≤ 1024 characters, no control character). */
const MAX_KID_CHARS = 1024;
const CONTROL = /[\u0000-\u001f\u007f]/;
const KID_UNREVOCABLE = `kid over ${MAX_KID_CHARS} characters, with a control character or shaped as a token (JWS/JWE): no revocation could name it`;

/** RFC 7638 thumbprint (SHA-256, base64url) of a public JWK built by `publicPart`. */
export function thumbprint(jwk: Readonly<JWK>): string {
  const req = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(req)).digest('base64url');
}

/** The public members of a usable signature key, or a reason to drop it. */
function publicPart(k: Record<string, unknown>): JWK | string {
  // whoever fetched the JWKS can sign with such a key: its signatures prove nothing (as a symmetric key's). Judged
  // first: a private JWK as usually written (key_ops ["sign"]) was refused for its key_ops, not as leaked, and a key
  // in use it leaked stayed in use
  if (PRIVATE_MEMBERS.some((m) => k[m] !== undefined)) return PRIVATE_PUBLISHED;
  if (k.use !== undefined && k.use !== 'sig') return 'use is not sig';
  if (k.key_ops !== undefined && !(Array.isArray(k.key_ops) && k.key_ops.includes('verify'))) return 'key_ops lacks verify';
  if (k.kid !== undefined && !isStr(k.kid)) return 'kid is not a string';
  let jwk: JWK;
  switch (k.kty) {
    case 'RSA':
      if (!isStr(k.n) || !isStr(k.e)) return 'RSA key without n/e';
      jwk = { kty: 'RSA', n: k.n, e: k.e };
      break;
    case 'EC':
      if (k.crv !== 'P-256' && k.crv !== 'P-384') return 'unsupported EC curve';
      if (!isStr(k.x) || !isStr(k.y)) return 'EC key without x/y';
      jwk = { kty: 'EC', crv: k.crv, x: k.x, y: k.y };
      break;
    case 'OKP':
      if (k.crv !== 'Ed25519') return 'unsupported OKP curve';
      if (!isStr(k.x)) return 'OKP key without x';
      {
        // OpenSSL would accept forged signatures under such a key (R = identity, S = 0)
        const problem = okpKeyProblem(k.crv, k.x);
        if (problem !== null) return problem;
      }
      jwk = { kty: 'OKP', crv: k.crv, x: k.x };
      break;
    case 'oct': return 'symmetric key';
    default: return 'unsupported kty';
  }
  if (k.alg !== undefined) {
    if (typeof k.alg !== 'string' || !ALGS.has(k.alg) || !keyFitsAlg({ ...jwk, alg: k.alg }, k.alg)) return 'alg unsupported or inconsistent with the key';
    jwk.alg = k.alg;
  }
  // a key whose kid `revoke --kid` / POST /revocations refuses could never be revoked by kid: not used at all
  // (a JWS/JWE-shaped kid too: a revocation refuses it as a pasted token — revocation-request.ts)
  if (k.kid !== undefined && ((k.kid as string).length > MAX_KID_CHARS || CONTROL.test(k.kid as string) || isCompactToken(k.kid as string))) return KID_UNREVOCABLE;
  if (k.kid !== undefined) jwk.kid = k.kid as string;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    return 'key material invalid';
  }
  // size and exponent of the parsed key: leading zero bytes in `n` must not pass a short modulus
  return rsaKeyProblem(key) ?? jwk;
}

/**
 * What a fetch made of each key, by the key's JSON text: the next fetch takes an unchanged key's
 * outcome from here instead of parsing and checking it again with node:crypto on the event loop
 * (~0.3 ms a key: a 512 KiB JWKS of P-256 keys held the loop 1.25 s at every refresh).
 */
export type CheckedKeys = ReadonlyMap<string, JWK | string>;

export type SanitizeResult =
  /** `leaked` (both outcomes): RFC 7638 thumbprints of the keys refused for their published private half (a key in use among them is withdrawn, and never trusted again by this process). */
  | { readonly ok: true; readonly keys: KeyEntry[]; readonly dropped: string[]; readonly checked: CheckedKeys; readonly leaked: readonly string[] }
  | { readonly ok: false; readonly message: string; readonly leaked: readonly string[] };

/** Validate a JWKS document; `dropped` lists why keys were skipped (for logs, no key material); `previous`: the last fetch's `checked`. */
export function sanitizeJwks(doc: unknown, previous: CheckedKeys | null = null): SanitizeResult {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    return { ok: false, message: 'JWKS document has no keys array', leaked: [] };
  }
  const keys: KeyEntry[] = [];
  const dropped: string[] = [];
  const seen = new Set<string>();
  const leaked: string[] = [];
  const checked = new Map<string, JWK | string>();
  for (const raw of (doc as { keys: unknown[] }).keys) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) { dropped.push('not an object'); continue; }
    // the exact text: any change to a member (or its order) checks the key afresh
    const text = JSON.stringify(raw);
    const jwk = previous?.get(text) ?? publicPart(raw as Record<string, unknown>);
    checked.set(text, jwk);
    if (typeof jwk === 'string') {
      if (jwk === PRIVATE_PUBLISHED) leaked.push(thumbprint(raw as JWK));
      const kid = (raw as { kid?: unknown }).kid;
      // the kid (a public label, never key material) tells the operator which key was refused; one it
      // cannot name (too long, control characters) is named by its RFC 7638 thumbprint instead
      dropped.push(jwk === KID_UNREVOCABLE ? `key ${thumbprint(raw as JWK)}: ${jwk}`
        : typeof kid === 'string' && kid.length <= 128 ? `kid ${JSON.stringify(kid)}: ${jwk}` : jwk);
      continue;
    }
    const print = thumbprint(jwk);
    const id = jwk.kid ?? '~' + print;
    // RFC 7517 §4.5 wants distinct kids: the first key keeps the kid, and the log says which kid lost a key
    if (seen.has(id)) { dropped.push(jwk.kid !== undefined && jwk.kid.length <= 128 ? `kid ${JSON.stringify(jwk.kid)}: duplicate kid` : 'duplicate key'); continue; }
    seen.add(id);
    // the alg too: a key narrowed to another alg no longer verifies what it verified before
    keys.push(Object.freeze({ id, jwk: Object.freeze(jwk), ref: jwk.alg === undefined ? `${id}#${print}` : `${id}#${print}#${jwk.alg}` }));
  }
  // the reasons go in the failure itself: with no key kept, no 'jwks keys refused' line is written
  if (keys.length === 0) return { ok: false, leaked, message: `JWKS has no usable signature key (${dropped.length} dropped${dropped.length === 0 ? '' : `: ${dropped.slice(0, 4).join('; ')}${dropped.length > 4 ? '; …' : ''}`})` };
  return { ok: true, keys, dropped, checked, leaked };
}

/** Build the snapshot for `keys`; reuses `prev`'s version when the keys did not change. */
export function makeSnapshot(keys: readonly KeyEntry[], prev: KeySetSnapshot | null): KeySetSnapshot {
  const digest = JSON.stringify(keys.map((k) => k.jwk));
  if (prev !== null && prev.digest === digest) return prev;
  const byKid = new Map<string, KeyEntry>();
  for (const k of keys) if (k.jwk.kid !== undefined) byKid.set(k.jwk.kid, k);
  return Object.freeze({
    version: nextVersion++,
    keys: Object.freeze([...keys]),
    byKid,
    ids: new Set(keys.map((k) => k.ref)),
    digest,
  });
}
