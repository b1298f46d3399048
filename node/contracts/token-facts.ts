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
  /**
   * A token the proxy minted (`forward.token: internal`): the facts of the inbound token it replaced
   * (claim `portcullis_src`), so a revocation of that token refuses this one too. Undefined otherwise.
   */
  readonly parent?: TokenFacts | undefined;
}

/** Claim of internal tokens carrying the revocation keys of the inbound token they replaced. */
export const PARENT_CLAIM = 'portcullis_src';
/** Derivation levels a token may carry (an internal token minted from an internal token…); deeper is refused. */
export const MAX_PARENT_DEPTH = 4;
const HEX64 = /^[0-9a-f]{64}$/;

/** The `portcullis_src` value for a token derived from one with `f`: its revocation keys, its own parents nested. */
export function parentClaim(f: TokenFacts): Record<string, unknown> {
  const o: Record<string, unknown> = { th: f.tokenHash };
  if (f.twinHash !== undefined) o.tt = f.twinHash;
  if (f.jti !== undefined) o.jti = f.jti;
  if (f.sub !== undefined) o.sub = f.sub;
  if (f.clientId !== undefined) o.cid = f.clientId;
  if (f.iat !== undefined) o.iat = f.iat;
  if (f.kid !== undefined) o.kid = f.kid;
  if (f.iss !== undefined) o.iss = f.iss;
  if (f.sid !== undefined) o.sid = f.sid;
  if (f.parent !== undefined) o.src = parentClaim(f.parent);
  return o;
}

/**
 * Facts from a `portcullis_src` claim: undefined when absent, null when malformed (not an object, no
 * 64-hex `th`, a field of the wrong type, nested deeper than MAX_PARENT_DEPTH) — such a token is refused.
 */
export function parentFacts(v: unknown, depth = 1): TokenFacts | undefined | null {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v) || depth > MAX_PARENT_DEPTH) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.th !== 'string' || !HEX64.test(o.th) || (o.tt !== undefined && (typeof o.tt !== 'string' || !HEX64.test(o.tt)))) return null;
  for (const k of ['jti', 'sub', 'cid', 'kid', 'iss', 'sid'] as const) if (o[k] !== undefined && typeof o[k] !== 'string') return null;
  if (o.iat !== undefined && factIat(o.iat) === undefined) return null;
  const up = parentFacts(o.src, depth + 1);
  if (up === null) return null;
  return Object.freeze({
    tokenHash: o.th, twinHash: o.tt as string | undefined, jti: str(o.jti), sub: str(o.sub), clientId: str(o.cid),
    iat: factIat(o.iat), kid: str(o.kid), iss: str(o.iss), sid: str(o.sid), parent: up,
  });
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
 * A token whose `sub`, `jti`, `client_id`, `azp`, `cid`, `appid` or `sid` is present but not a string, has a
 * space or tab at either end, or holds a control character or a lone surrogate (RFC 7519 §4.1.2, §4.1.7, RFC 9068 §2.2, OIDC; `cid`
 * is Okta's client id and `appid` Microsoft Entra ID v1's, revocation keys like the other two — clientOf): its
 * identity header would show `123`, `alice` or nothing at all while a revocation by that sub, client or session
 * (string keys, below) could never match it. Refused too: a token whose client claims name two different clients
 * (clientsDisagree), and a malformed `portcullis_src` (the inbound token an internal token was derived from: its
 * revocation must reach it).
 */
export function identityClaimsMalformed(p: Readonly<Record<string, unknown>>): boolean {
  return notString(p.sub) || notString(p.jti) || notString(p.client_id) || notString(p.azp) || notString(p.cid) || notString(p.appid) || notString(p.sid)
    || clientsDisagree(p) || (p[PARENT_CLAIM] !== undefined && parentFacts(p[PARENT_CLAIM]) === null);
}

/**
 * Two of `client_id`, `azp`, `cid`, `appid` name different clients: the token's revocation key is one of them
 * (clientOf), so `revoke --client` of the other answered 201 and never reached it. Which client the token
 * belongs to cannot be told here, so it is refused (closed). Allocates nothing; the common token has one.
 */
function clientsDisagree(p: Readonly<Record<string, unknown>>): boolean {
  const first = clientOf(p);
  if (first === undefined) return false;
  return differs(p.client_id, first) || differs(p.azp, first) || differs(p.cid, first) || differs(p.appid, first);
}
const differs = (v: unknown, first: string): boolean => typeof v === 'string' && v.length > 0 && v !== first;
/**
 * Not a string, one with a space or tab at either end, or one with a control character: an identity
 * header drops the ends (HTTP trims a field value), so the upstream would read `bob` for a token of
 * `bob ` — another subject, which a revocation of `bob` does not match — and leaves out a value with a
 * CTL (node/pipeline/mutate.ts), so the upstream would read no client while the token's client is another.
 */
const notString = (v: unknown): boolean => v !== undefined && (typeof v !== 'string' || (v.length > 0 && (isOws(v.charCodeAt(0)) || isOws(v.charCodeAt(v.length - 1)) || CTL.test(v) || unicodeEnds(v) || LONE_SURROGATE.test(v))));
/**
 * Unicode white space (JS `\s`: U+00A0, U+2000–U+200A, U+3000, U+FEFF…) or NEL (U+0085) at either end: an app
 * that trims the header it reads (.NET `Trim()`, Python `strip()`, Java `strip()`) reads `bob` for `bob\u00a0`,
 * another subject, which a revocation of `bob` does not match. Inner ones are part of the value.
 */
const UNICODE_ENDS = /^[\s\u0085]|[\s\u0085]$/;
/** UNICODE_ENDS, read only when an end is not ASCII (ASCII ends are isOws's and CTL's). */
const unicodeEnds = (v: string): boolean => (v.charCodeAt(0) >= 0x80 || v.charCodeAt(v.length - 1) >= 0x80) && UNICODE_ENDS.test(v);
/** Controls but HTAB (NUL, CR, LF…) and DEL: what mutate.ts leaves out of a header, so never accepted here. */
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;
const isOws = (c: number): boolean => c === 0x20 || c === 0x09;
/**
 * An unpaired UTF-16 surrogate (JSON may write `"\ud800"`): not well-formed Unicode. mutate.ts leaves such a
 * value out of a header (its UTF-8 form, U+FFFD, is another subject's `alice\ufffd`), so as with a CTL the
 * upstream would read no subject or client while the token has one. The `u` flag reads a pair as one code point.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The token's client as a revocation key: `client_id` (RFC 9068), else `azp` (OIDC, Auth0, Keycloak), else
 * `cid` (Okta), else `appid` (Microsoft Entra ID v1) — a `client_id` revocation must reach a client however its
 * issuer names it. A token whose claims name two different clients never gets here (identityClaimsMalformed).
 */
export const clientOf = (claims: Readonly<Record<string, unknown>>): string | undefined => str(claims.client_id) ?? str(claims.azp) ?? str(claims.cid) ?? str(claims.appid);

/** Build TokenFacts from claims (strings and numbers only; anything else is left out). */
export function tokenFacts(tokenHash: string, claims: Readonly<Record<string, unknown>>, kid: string | null | undefined, iss: string): TokenFacts {
  return Object.freeze({
    tokenHash,
    jti: str(claims.jti),
    sub: str(claims.sub),
    clientId: clientOf(claims),
    iat: factIat(claims.iat),
    kid: kid ?? undefined,
    iss: str(claims.iss) ?? iss,
    sid: str(claims.sid),
    parent: parentFacts(claims[PARENT_CLAIM]) ?? undefined,
  });
}
