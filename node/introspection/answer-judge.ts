// An introspection answer judged against its issuer's rules, as a JWT's claims are: inactive,
// malformed dates or identity claims, another issuer, not an access token, expired, not yet valid,
// issued in the future, too long a lifetime, a foreign audience — or the principal it makes.
import { identityClaimsMalformed, notAnAccessToken, tokenFacts, type IntrospectionResult } from '../contracts/index.js';
import type { Principal } from '../pipeline/context.js';
import type { VerifyOk, VerifyOutcome } from '../pipeline/token-verifier.js';
import { deepFreeze, isAccessTokenType, optionalDate, scopesOf } from './answer-claims.js';
import { withKeyFacts, type JwsKeyFacts } from './jws-kid.js';
import { REFUSED } from './refusals.js';

/** One issuer's rules for its answers (from its config, read once by the client). */
export interface AnswerRules {
  /** Config name of the issuer: `Principal.issuer`. */
  readonly name: string;
  /** The issuer URL an answer's `iss` must equal (when present). */
  readonly issuerUrl: string;
  readonly audiences: readonly string[];
  /** `introspection.require_aud`: an answer without `aud` is refused. */
  readonly requireAud: boolean;
  /** `introspection.require_iss`: an answer without `iss` is refused. */
  readonly requireIss: boolean;
  /** `clock_skew_s`, in ms. */
  readonly skewMs: number;
  /** `max_token_lifetime_s` (capped by the revocation lifetime, node/auth/revocable-lifetime.ts), s; null = none. */
  readonly maxLifetimeS: number | null;
}

/**
 * Outcome of an answer: inactive, expired, not yet valid (nbf beyond the skew), foreign audience, or a
 * principal (`jws`: a JWT's header kid and ECDSA twin digest; absent for a peer's result, added on a hit).
 */
export function judgeAnswer(result: IntrospectionResult, key: string, now: number, rules: AnswerRules, jws?: JwsKeyFacts | null): VerifyOutcome {
  if (!result.active || result.claims === null) return REFUSED.inactive;
  // results from a coordinator or prime() are frozen here, like our own answers
  const claims = deepFreeze(result.claims);
  // RFC 7662 §2.2 dates are NumericDates: a string, object or null exp would otherwise be ignored and
  // the answer trusted for the whole cache_ttl_s — refused, as a JWT with such a claim is; so is a
  // non-string sub/jti/client_id/azp/sid, which a revocation could never match (token-rules.ts)
  if (!optionalDate(claims.exp) || !optionalDate(claims.nbf) || !optionalDate(claims.iat) || identityClaimsMalformed(claims)) return REFUSED.badClaims;
  // an answer naming another issuer is not about a token of this one (a shared multi-tenant AS, a
  // misrouted endpoint): compared exactly, like a JWT's iss; absent is fine (iss is optional) unless
  // require_iss: a shared multi-tenant AS that leaves it out may be answering for another tenant's token —
  // and an `iss` a peer filled in (`issFilled`) is no more the server's than an absent one
  if (claims.iss === undefined || (result.issFilled === true && rules.requireIss)) {
    if (rules.requireIss) return REFUSED.missingIssuer;
  } else if (claims.iss !== rules.issuerUrl) return REFUSED.wrongIssuer;
  // token_type (RFC 7662 §2.2, RFC 6749 §7.1) names an access-token type; a refresh token or anything
  // else some servers answer `active` for must not open a route
  if (claims.token_type !== undefined && !isAccessTokenType(claims.token_type, claims.cnf)) return REFUSED.notAccessToken;
  // nor an ID token (Keycloak introspects those too, `active` with `typ: ID`), as for a JWT (token-rules.ts)
  if (notAnAccessToken(claims)) return REFUSED.notAccessToken;
  const exp = typeof claims.exp === 'number' ? claims.exp : null;
  if (exp !== null && exp * 1000 + rules.skewMs <= now) return REFUSED.expired;
  // an AS answering active with a future nbf contradicts itself: refused as a JWT would be (for as
  // long as the answer is cached: at most cache_ttl_s)
  const nbf = claims.nbf;
  if (typeof nbf === 'number' && Number.isFinite(nbf) && nbf * 1000 - rules.skewMs > now) return REFUSED.notYetValid;
  // an iat beyond the skew, as for a JWT: a revocation cut (`iat` ≤ before) would not reach the token
  const iat = claims.iat;
  if (typeof iat === 'number' && Number.isFinite(iat) && iat * 1000 - rules.skewMs > now) return REFUSED.issuedInFuture;
  // a lifetime above the maximum, as for a JWT (exp − iat, else what is left): a revocation would be dropped before the token
  if (exp !== null && rules.maxLifetimeS !== null && (typeof iat === 'number' && Number.isFinite(iat) ? exp - iat : exp - now / 1000) > rules.maxLifetimeS) return REFUSED.lifetimeExceeded;
  // RFC 7662 `aud` is optional (unless require_aud); when the server names audiences, one must be ours (as for JWTs)
  const aud = claims.aud;
  if (aud === undefined || aud === null) {
    if (rules.requireAud) return REFUSED.wrongAudience;
  } else if (typeof aud === 'string') {
    if (!rules.audiences.includes(aud)) return REFUSED.wrongAudience;
  } else {
    // a string or an array of strings (RFC 7519 §4.1.3), as for a JWT: `[null, "ours"]` or a number is malformed
    if (!Array.isArray(aud) || !aud.every((a) => typeof a === 'string')) return REFUSED.badClaims;
    if (!aud.some((a: string) => rules.audiences.includes(a))) return REFUSED.wrongAudience;
  }
  // an answer without `iss` is taken as the issuer's own (above), so its principal names it: the upstream's
  // X-Auth-Issuer and a route's `iss` rule read it, as for a JWT — else one tenant's `alice` reached the upstream
  // without an issuer beside another tenant's. Once per answer (the outcome is cached), never per request.
  const named = claims.iss === undefined ? Object.freeze({ ...claims, iss: rules.issuerUrl }) : claims;
  const principal: Principal = Object.freeze({
    issuer: rules.name,
    kind: 'opaque' as const,
    claims: named,
    scopes: scopesOf(named),
    // no `exp` in the answer: the principal is trusted until the cached answer expires
    exp: exp ?? Math.floor(result.expiresAt / 1000),
    // the same instant as the check above: exp + skew; without exp, the answer's cache expiry
    validUntil: exp !== null ? exp + rules.skewMs / 1000 : Math.floor(result.expiresAt / 1000),
    fingerprint: key.slice(0, 16),
    facts: jws === undefined || jws === null ? tokenFacts(key, named, undefined, rules.issuerUrl) : Object.freeze(withKeyFacts(tokenFacts(key, named, undefined, rules.issuerUrl), jws)),
  });
  const ok: VerifyOk = Object.freeze({ ok: true as const, principal });
  return ok;
}

/**
 * `result` as this member shares it with the others (a fill, a kept result handed to an asker): an active answer
 * without `iss` names the issuer's `iss`, marked `issFilled` (it travels as v2) — each member judges a shared answer
 * again under its own rules for the issuer's config name: where that name means another issuer there (a policy
 * version repointing it while it spreads, members on differing files) the stated `iss` is refused instead of an
 * iss-less answer passing as that other issuer's, and a member with `require_iss` refuses it as its own server's
 * iss-less answer. Filled in under `require_iss` too (refused here, it is still shared: the others judge it).
 * Anything else is returned as it is.
 */
export function sharedResult(result: IntrospectionResult, rules: AnswerRules): IntrospectionResult {
  const claims = result.claims;
  if (!result.active || claims === null || claims.iss !== undefined) return result;
  return { active: true, claims: { ...claims, iss: rules.issuerUrl }, expiresAt: result.expiresAt, issFilled: true };
}
