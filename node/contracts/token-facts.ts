// What revocation matching knows about a token: computed once when the token is verified
// (and cached with it), read by the per-request revocation check and by the cluster's store.

/**
 * The revocation keys of one token, computed once when it is verified (and cached with it)
 * so the per-request revocation check allocates nothing.
 */
export interface TokenFacts {
  /** SHA-256 hex (lower case) of the raw token. */
  readonly tokenHash: string;
  /**
   * SHA-256 hex of the token's other valid spelling, when it has one (an ES256/ES384 JWT: the
   * signature's s replaced by n − s verifies as well); a revocation by token hash matches either.
   */
  readonly twinHash?: string | undefined;
  readonly jti?: string | undefined;
  readonly sub?: string | undefined;
  readonly clientId?: string | undefined;
  /** Issued-at, epoch seconds, floored to the whole second (factIat). */
  readonly iat?: number | undefined;
  /** `kid` of the signing key (JWTs only). */
  readonly kid?: string | undefined;
  /**
   * A JWT its issuer's introspection judged whose header names no `kid`: the key that signed it is
   * unknown here, so every live `kid` revocation of its issuer (or of any issuer) refuses it.
   */
  readonly keyUnknown?: true | undefined;
  /** The `iss` claim (the issuer URL). */
  readonly iss?: string | undefined;
  /** The `sid` claim: the OpenID Connect session the token belongs to (revocation kind `sid`). */
  readonly sid?: string | undefined;
}

/** A claim as a revocation key: a non-empty string, else undefined. */
export const factString = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
/**
 * `iat` as a revocation key: a finite number, floored to its whole second (epoch seconds), else
 * undefined. Cuts (`before`) are whole seconds and inclusive: an `iat` of S.5 was issued within
 * second S, so a cut at S must refuse it (compared unfloored, it slipped past).
 */
export const factIat = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : undefined);
const str = factString;

/**
 * A token whose `sub`, `jti`, `client_id`, `azp` or `sid` is present but not a string (RFC 7519 §4.1.2,
 * §4.1.7, RFC 9068 §2.2, OIDC): its identity header would show `123` or `alice` while a revocation by
 * that sub, client or session (string keys, below) could never match it. Refused.
 */
export function identityClaimsMalformed(p: Readonly<Record<string, unknown>>): boolean {
  return notString(p.sub) || notString(p.jti) || notString(p.client_id) || notString(p.azp) || notString(p.sid);
}
const notString = (v: unknown): boolean => v !== undefined && typeof v !== 'string';

/** Build TokenFacts from claims (strings and numbers only; anything else is left out). */
export function tokenFacts(tokenHash: string, claims: Readonly<Record<string, unknown>>, kid: string | null | undefined, iss: string): TokenFacts {
  return Object.freeze({
    tokenHash,
    jti: str(claims.jti),
    sub: str(claims.sub),
    clientId: str(claims.client_id) ?? str(claims.azp),
    iat: factIat(claims.iat),
    kid: kid ?? undefined,
    iss: str(claims.iss) ?? iss,
    sid: str(claims.sid),
  });
}
