// The RFC 8725 / RFC 9068 rules applied to a parsed token: header (alg allowlist,
// crit, typ), key selection (kid as a map key only, alg consistent with the key)
// and claims (iss, no ID-token or event claims, aud, exp, nbf, iat, lifetime). Pure functions, shared by the
// main thread (cheap pre-checks before the pool) and the worker (authoritative).
import type { JWK } from 'jose';
import { identityClaimsMalformed, notAnAccessToken } from '../contracts/index.js';
import type { InvalidCode, IssuerPolicy, KeyEntry } from './types.js';

export interface RuleFailure {
  readonly ok: false;
  readonly code: InvalidCode;
  readonly message: string;
}

const fail = (code: InvalidCode, message: string): RuleFailure => ({ ok: false, code, message });

/** Algorithms this verifier can ever accept; the issuer allowlist narrows it further. */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA']);
const TYP_AT = new Set(['at+jwt', 'application/at+jwt']);

/**
 * `typ` naming another kind of JWT by explicit typing (RFC 8725 §3.11): `logout+jwt`, `secevent+jwt`,
 * `dpop+jwt`… — anything `+jwt` but at+jwt. Such a token (an issuer's logout token or security event
 * with our audience) must never pass as an access token, required typ or not.
 */
function otherJwtKind(typ: string): boolean {
  // read as a media type: its parameters (`; v=1`) and surrounding spaces do not change what it names
  // (no array per call: the part before the first `;` is the typ itself when it has none)
  const semi = typ.indexOf(';');
  const base = (semi === -1 ? typ : typ.slice(0, semi)).trim();
  return base.endsWith('+jwt') && !TYP_AT.has(base);
}

/**
 * The last header and issuer policy that passed checkHeader as an access token, both frozen plain
 * data: the verdict reads nothing but their own fields (primitives, and the policy's frozen
 * algorithms list), so the very same pair passes again without reading them. An issuer's tokens
 * share one frozen header object (token-parse.ts headerObject) and a cache miss checks it twice (the
 * main thread's pre-check, then the authoritative check): the second check and every later miss's
 * are two identity compares instead of the typ rule's split and lower-casing (~0.3 µs per check).
 */
let passedHeader: object | null = null;
let passedPolicy: IssuerPolicy | null = null;

/**
 * Header rules; attacker-controlled values are never echoed into messages. `accessToken` false
 * (event tokens, node/events) leaves `typ` to the caller.
 */
export function checkHeader(h: Record<string, unknown>, policy: IssuerPolicy, accessToken = true): RuleFailure | null {
  if (h === passedHeader && policy === passedPolicy && accessToken) return null;
  const alg = h.alg;
  if (typeof alg !== 'string' || alg.length === 0) return fail('malformed', 'token header has no alg');
  // none and HS* are refused whatever the configuration says (RFC 8725 §3.1, §3.2)
  if (!ASYMMETRIC.has(alg) || !policy.algorithms.includes(alg)) return fail('alg_not_allowed', 'token alg is not allowed for this issuer');
  // We understand no extension, so any crit (RFC 7515 §4.1.11; an empty list is itself invalid) is refused.
  if (h.crit !== undefined) return fail('crit_unsupported', 'token header has crit extensions');
  const typ = h.typ;
  if (policy.requireTyp) {
    if (typeof typ !== 'string' || !TYP_AT.has(typ.toLowerCase())) return fail('bad_typ', 'token typ is not at+jwt');
  } else if (accessToken && typ !== undefined && (typeof typ !== 'string' || otherJwtKind(typ.toLowerCase()))) {
    return fail('bad_typ', 'token typ names another kind of JWT');
  }
  if (h.kid !== undefined && typeof h.kid !== 'string') return fail('malformed', 'token kid is not a string');
  // only objects no one can change: an unfrozen header or policy is read again every time
  if (accessToken && Object.isFrozen(h) && Object.isFrozen(policy) && Object.isFrozen(policy.algorithms)) {
    passedHeader = h;
    passedPolicy = policy;
  }
  return null;
}

/** True when `jwk` may verify `alg`: RSA for RS and PS, EC P-256/P-384 for ES256/ES384, OKP Ed25519 for EdDSA. */
export function keyFitsAlg(jwk: Readonly<JWK>, alg: string): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  switch (alg) {
    case 'RS256': case 'RS384': case 'RS512': case 'PS256': case 'PS384': case 'PS512':
      return jwk.kty === 'RSA';
    case 'ES256': return jwk.kty === 'EC' && jwk.crv === 'P-256';
    case 'ES384': return jwk.kty === 'EC' && jwk.crv === 'P-384';
    case 'EdDSA': return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
    default: return false;
  }
}

export type KeyLookup =
  | { readonly kind: 'found'; readonly entry: KeyEntry }
  /** A kid the set does not hold: the only case that may trigger a JWKS refetch. */
  | { readonly kind: 'unknown_kid' }
  | { readonly kind: 'fail'; readonly failure: RuleFailure };

/**
 * Pick the key for a token. The kid is used only as a Map key (never as a path or URL);
 * a token without kid uses the one key of matching type when the set holds exactly one.
 */
export function resolveKey(byKid: ReadonlyMap<string, KeyEntry>, keys: readonly KeyEntry[], kid: unknown, alg: string): KeyLookup {
  if (typeof kid === 'string') {
    const entry = byKid.get(kid);
    if (entry === undefined) return { kind: 'unknown_kid' };
    if (!keyFitsAlg(entry.jwk, alg)) return { kind: 'fail', failure: fail('alg_not_allowed', 'token alg does not match the key type') };
    return { kind: 'found', entry };
  }
  let found: KeyEntry | null = null;
  let n = 0;
  for (const k of keys) {
    if (keyFitsAlg(k.jwk, alg)) { found = k; n++; }
  }
  if (n === 1) return { kind: 'found', entry: found! };
  return { kind: 'fail', failure: fail('unknown_kid', n === 0 ? 'no key for the token alg' : 'token has no kid and several keys match') };
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Claims rules at `now` (seconds); skew widens exp/nbf/iat, never the lifetime limit. */
export function checkClaims(p: Record<string, unknown>, policy: IssuerPolicy, now: number): RuleFailure | null {
  if (p.iss !== policy.issuer) return fail('wrong_issuer', 'token issuer does not match');
  if (notAnAccessToken(p)) return fail('bad_typ', 'token carries ID token or event claims (at_hash, c_hash, s_hash, events, typ or token_use)');
  if (identityClaimsMalformed(p)) return fail('malformed', 'token sub, jti, client_id, azp, cid, appid or sid is not a string, has whitespace at an end or a control character, its client claims name two different clients, or portcullis_src is malformed');
  const aud = p.aud;
  if (typeof aud === 'string') {
    if (!policy.audiences.includes(aud)) return fail('wrong_audience', 'token audience does not match');
  } else if (Array.isArray(aud)) {
    let hit = false;
    for (const a of aud) {
      if (typeof a !== 'string') return fail('malformed', 'token aud is not a string or string array');
      if (policy.audiences.includes(a)) hit = true;
    }
    if (!hit) return fail('wrong_audience', 'token audience does not match');
  } else if (aud === undefined) {
    return fail('wrong_audience', 'token has no audience');
  } else {
    return fail('malformed', 'token aud is not a string or string array');
  }
  const skew = policy.clockSkewS;
  const exp = p.exp;
  if (exp === undefined) return fail('missing_exp', 'token has no exp');
  if (!isNumericDate(exp)) return fail('malformed', 'token exp is not a number');
  if (exp <= now - skew) return fail('expired', 'token expired');
  const nbf = p.nbf;
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) return fail('malformed', 'token nbf is not a number');
    if (nbf > now + skew) return fail('not_yet_valid', 'token not yet valid');
  }
  const iat = p.iat;
  if (iat !== undefined) {
    if (!isNumericDate(iat)) return fail('malformed', 'token iat is not a number');
    if (iat > now + skew) return fail('iat_in_future', 'token issued in the future');
  }
  if (policy.maxLifetimeS !== null) {
    // without iat, bound what is left of the token's life instead
    const life = iat !== undefined ? exp - iat : exp - now;
    if (life > policy.maxLifetimeS) return fail('lifetime_exceeded', 'token lifetime exceeds the issuer maximum');
  }
  return null;
}
