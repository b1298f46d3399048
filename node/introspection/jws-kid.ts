// The signing key of a JWT that introspection judged: its header `kid` goes into the token facts so
// a `kid` revocation (every token signed by that key) matches it as it matches a JWT verified here;
// a JWT whose header names no key is marked `keyUnknown` (any `kid` revocation of its issuer refuses it).
// An ES256/ES384 JWT also carries the digest of its ECDSA twin spelling, as a verified one does.
import { twinDigest } from '../jwt/signature-twin.js';
import type { VerifyOutcome } from '../pipeline/token-verifier.js';

/** The protected header of a compact JWS, the fields facts need; null when the token is no JWS. */
function jwsHeader(token: string): { readonly kid: string | undefined; readonly alg: unknown } | null {
  const a = token.indexOf('.');
  if (a <= 0) return null;
  const b = token.indexOf('.', a + 1);
  if (b === -1 || token.indexOf('.', b + 1) !== -1) return null;
  const text = Buffer.from(token.slice(0, a), 'base64url').toString('utf8');
  if (!text.trimStart().startsWith('{')) return null; // a dotted opaque token: no exception per cache hit
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return null;
  const { kid, alg } = h as { kid?: unknown; alg?: unknown };
  return { kid: typeof kid === 'string' ? kid : undefined, alg };
}

/**
 * The protected header of a compact JWS (three dot-separated segments, a base64url JSON object
 * first) as its `kid` (undefined: none, or not a string); null when `token` is no JWS. Costs one
 * indexOf for a token without a dot.
 */
export function jwsHeaderKey(token: string): { readonly kid: string | undefined } | null {
  const h = jwsHeader(token);
  return h === null ? null : { kid: h.kid };
}

/** What a JWS token adds to an introspected principal's facts: its header `kid` and its ECDSA twin's digest. */
export interface JwsKeyFacts {
  /** Header `kid`; undefined: none (the principal is then `keyUnknown`). */
  readonly kid: string | undefined;
  /** SHA-256 hex of the (r, n − s) spelling of an ES256/ES384 token (signature-twin.ts); else undefined. */
  readonly twinHash: string | undefined;
}

/**
 * The key facts of a compact JWS (see jwsHeaderKey), null when `token` is no JWS. An ECDSA token's
 * twin verifies for the same key, so an authorization server that checks the signature calls both
 * spellings active: the twin's digest lets a revocation by either hash refuse both. One hash for
 * ES256/ES384, nothing more for other algs.
 */
export function jwsKeyFacts(token: string): JwsKeyFacts | null {
  const h = jwsHeader(token);
  if (h === null) return null;
  const twin = typeof h.alg === 'string' ? twinDigest(token, h.alg) : null;
  return { kid: h.kid, twinHash: twin ?? undefined };
}

/** The header `kid` of a JWS, else undefined (see jwsHeaderKey). */
export function jwsHeaderKid(token: string): string | undefined {
  return jwsHeader(token)?.kid;
}

/**
 * `outcome` with the JWS header's `kid` in its principal's facts (or `keyUnknown` when the header
 * names none), and an ECDSA token's twin digest, when `token` is a JWT and the facts say nothing of
 * its key (a result another member shared: judged without the token); `outcome` itself otherwise
 * (opaque tokens, refusals, facts already key-bearing). The header is part of what the
 * authorization server verified, and each mark can only add refusals.
 */
export function withHeaderKid(token: string, outcome: VerifyOutcome): VerifyOutcome {
  if (!outcome.ok || outcome.principal.facts.kid !== undefined || outcome.principal.facts.keyUnknown === true) return outcome;
  const jws = jwsKeyFacts(token);
  if (jws === null) return outcome;
  const p = outcome.principal;
  const facts = Object.freeze(withKeyFacts(p.facts, jws));
  return Object.freeze({ ok: true as const, principal: Object.freeze({ ...p, facts }) });
}

/** `facts` with a JWS's key facts added: `kid` or `keyUnknown`, and `twinHash` when it has one. */
export function withKeyFacts<F extends object>(facts: F, jws: JwsKeyFacts): F & { kid?: string; keyUnknown?: true; twinHash?: string } {
  const key = jws.kid !== undefined ? { kid: jws.kid } : { keyUnknown: true as const };
  return jws.twinHash !== undefined ? { ...facts, ...key, twinHash: jws.twinHash } : { ...facts, ...key };
}
