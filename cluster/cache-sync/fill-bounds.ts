// The rules an introspection result learnt from a peer must meet before a member caches it
// or hands it on: a consistent shape, a bounded size, and a lifetime no longer than the
// member's own TTL for the issuer and the claims' `exp` — whoever signed it.
import type { IntrospectionResult } from '../../node/contracts/index.js';

/** Largest claims object accepted from a peer, JSON characters: the introspection client's own response limit (256 KiB). */
export const MAX_CLAIMS_CHARS = 256 * 1024;

/** An issuer's cache TTLs, ms (IntrospectionClient.resultBounds). */
export interface ResultTtls {
  readonly positiveTtlMs: number;
  readonly negativeTtlMs: number;
}

/** TTLs used when a client does not say: the schema's defaults (60 s, 5 s). */
export const DEFAULT_TTLS: ResultTtls = Object.freeze({ positiveTtlMs: 60_000, negativeTtlMs: 5_000 });

/**
 * `invalid` when claims do not match `active` (active needs claims, inactive has none) or are
 * too large; otherwise `r` with its expiry capped at the TTL counted from when it was signed
 * (or now, whichever is earlier) and at the claims' `exp`, and whether the cap cut it.
 */
export function boundResult(r: IntrospectionResult, ttl: ResultTtls, nowMs: number, signedAt: number | null): { readonly result: IntrospectionResult; readonly capped: boolean } | 'invalid' {
  const claims = r.claims;
  if (r.active ? claims === null : claims !== null) return 'invalid';
  if (claims !== null && JSON.stringify(claims).length > MAX_CLAIMS_CHARS) return 'invalid';
  let cap = Math.min(nowMs, signedAt ?? nowMs) + (r.active ? ttl.positiveTtlMs : ttl.negativeTtlMs);
  const exp = claims?.exp;
  if (typeof exp === 'number' && Number.isFinite(exp)) cap = Math.min(cap, exp * 1000);
  return r.expiresAt <= cap ? { result: r, capped: false } : { result: { ...r, expiresAt: cap }, capped: true };
}
