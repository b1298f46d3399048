// Which tokens are no access tokens by their claims (an OpenID Connect ID token, a Keycloak refresh
// token, a logout token or security event): one rule for JWTs (node/jwt/token-rules.ts) and
// introspection answers (node/introspection).

/** Keycloak's own `typ` claim values of tokens that are not access tokens (its access tokens say `Bearer`). */
const OTHER_KIND_CLAIM = new Set(['id', 'refresh', 'offline', 'logout']);

/** `token_use` values of access tokens: AWS Cognito says `access` (its ID tokens `id`), Ory Hydra `access_token`. */
const ACCESS_USE = new Set(['access', 'access_token']);

/**
 * True for an OpenID Connect ID token (or another non-access token) by its claims, whatever its header
 * says: `at_hash`, `c_hash` (OIDC Core §3.1.3.6, §3.3.2.11) and `s_hash` (FAPI) exist only in ID tokens;
 * Keycloak types its tokens in a `typ` claim, Cognito and Hydra in `token_use` (any case). Without
 * `require_typ: at+jwt` an ID token typed `JWT` whose `aud` (the client) is also an API audience would
 * otherwise pass (RFC 9068 §4, RFC 8725 §3.11); an introspection endpoint searches past the
 * `token_type_hint` (RFC 7662 §2.1) and says `active` for a refresh or ID token too. An `events` claim
 * makes a Security Event Token (RFC 8417 §2.2, §4.3) — a back-channel logout token (OIDC Back-Channel
 * Logout §2.4) is one — whose `sub`, `aud` and `exp` an access-token check would otherwise take: typed
 * `JWT` or untyped, as OPs before `logout+jwt` send them, it passed wherever its `aud` was an audience.
 */
export function notAnAccessToken(p: Readonly<Record<string, unknown>>): boolean {
  if (p.at_hash !== undefined || p.c_hash !== undefined || p.s_hash !== undefined || p.events !== undefined) return true;
  const typ = p.typ;
  if (typeof typ === 'string' && OTHER_KIND_CLAIM.has(typ.toLowerCase())) return true;
  const use = p.token_use;
  return use !== undefined && (typeof use !== 'string' || !ACCESS_USE.has(use.toLowerCase()));
}
