// One OpenID Connect Back-Channel Logout 1.0 request (§2.5–2.8): the form body's logout_token is
// verified (jws-check: signature against the issuer's JWKS; logout-token: the §2.6 claims), a
// replay is refused, and the session (`sid`; with `sub` too, also the user's tokens without a `sid`
// issued up to the token's `iat`) — or, with only `sub`, the user's tokens issued up to the token's
// `iat` — is revoked through the member's one revocation publisher.
import { createHash } from 'node:crypto';
import type { IssuerConfig } from '../config/index.js';
import { CUT_AHEAD_S, type RevocationInput, type RevocationPublisher } from '../contracts/index.js';
import { parseCompact, type JwksActor } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { checkJws } from './jws-check.js';
import { checkLogoutClaims, LOGOUT_TYPS } from './logout-token.js';
import { publishWithCompanion, sessionlessCut } from './session-logout.js';

/** An answer to write: status, JSON body ('' = none); always `Cache-Control: no-store`. */
export interface EventAnswer {
  readonly status: number;
  readonly body: string;
  readonly retryAfter?: number;
  /** A `WWW-Authenticate` value (401 answers). */
  readonly wwwAuthenticate?: string;
  /** Stable result code for metrics and the access log: `accepted` or why not. */
  readonly result: string;
}

/** What the handler needs from its surroundings. */
export interface LogoutDeps {
  readonly publisher: RevocationPublisher | null;
  readonly logger: Logger;
  /** How long a request may wait for keys (first fetch, unknown-kid refetch), ms. */
  readonly keyWaitMs: number;
}

const FORM = 'application/x-www-form-urlencoded';

/** 400 with the OAuth error JSON the spec asks for (§2.8). */
const bad = (result: string, description: string): EventAnswer =>
  ({ status: 400, result, body: JSON.stringify({ error: 'invalid_request', error_description: description }) });
/** 503: the token could not be judged or the revocation not stored; the OP may send it again (idempotent). */
const unavailable = (result: string, description: string): EventAnswer =>
  ({ status: 503, result, retryAfter: 5, body: JSON.stringify({ error: 'temporarily_unavailable', error_description: description }) });

/** Short fingerprint of an identifier for logs (never the value itself). */
export function fingerprint(v: string): string {
  return createHash('sha256').update(v).digest('hex').slice(0, 12);
}

/** The revocation id of one event: the same (issuer, jti) always yields the same id, cluster-wide. */
export function eventRevocationId(prefix: string, issuer: string, jti: string): string {
  return `${prefix}-${createHash('sha256').update(`${issuer}\n${jti}`).digest('hex').slice(0, 40)}`;
}

/** Handle one POST: `contentType` as sent, `body` the complete request body. Never rejects. */
export async function handleLogout(name: string, issuer: IssuerConfig, actor: JwksActor, contentType: string, body: Buffer, deps: LogoutDeps): Promise<EventAnswer> {
  const cfg = issuer.backchannel_logout!;
  if (contentType.split(';')[0]!.trim().toLowerCase() !== FORM) return bad('malformed', `Content-Type must be ${FORM}`);
  const form = new URLSearchParams(body.toString('latin1'));
  const tokens = form.getAll('logout_token');
  if (tokens.length !== 1) return bad('malformed', tokens.length === 0 ? 'logout_token is missing' : 'logout_token given more than once');
  const rules = { issuer: issuer.issuer, clientId: cfg.client_id, maxAgeS: cfg.max_age_s, clockSkewS: issuer.clock_skew_s };
  // cheap checks on the (not yet trusted) payload first: a flood of wrong, stale or replayed tokens costs no signature check
  const pre = parseCompact(tokens[0]!);
  if (pre.ok) {
    const early = checkLogoutClaims(pre.payload, rules, Math.floor(Date.now() / 1000));
    if (!early.ok) return bad(early.code, early.message);
    if (deps.publisher?.known(eventRevocationId('bcl', issuer.issuer, early.logout.jti)) === true) return bad('replayed', 'this logout token (jti) was already received');
  }
  const checked = await checkJws(tokens[0]!, actor, LOGOUT_TYPS, deps.keyWaitMs);
  if (!checked.ok) return checked.code === 'keys_unavailable' ? unavailable(checked.code, checked.message) : bad(checked.code, checked.message);
  const nowS = Math.floor(Date.now() / 1000);
  const claims = checkLogoutClaims(checked.payload, rules, nowS);
  if (!claims.ok) return bad(claims.code, claims.message);
  const { logout } = claims;
  const id = eventRevocationId('bcl', issuer.issuer, logout.jti);
  if (deps.publisher === null) return unavailable('no_publisher', 'revocations cannot be published by this instance');
  if (deps.publisher.known(id)) return bad('replayed', 'this logout token (jti) was already received');
  // a session names exactly what was logged out; without one, every token of the user up to the logout
  const before = Math.min(Math.floor(logout.iat), nowS + CUT_AHEAD_S);
  const input: RevocationInput = logout.sid !== null
    ? { kind: 'sid', value: logout.sid, issuer: issuer.issuer, reason: 'backchannel_logout' }
    : { kind: 'sub', value: logout.sub!, issuer: issuer.issuer, before, reason: 'backchannel_logout' };
  // with both: the user's tokens that carry no sid (Auth0's, Okta's access tokens) belong to no other session either
  const companion = logout.sid !== null && logout.sub !== null ? sessionlessCut(input, logout.sub, before) : null;
  const out = await publishWithCompanion(deps.publisher, input, companion, id);
  if (!out.ok) {
    deps.logger.error({ source: name, event: 'backchannel_logout', errors: out.errors }, 'identity-provider event not applied');
    return out.full === true ? unavailable('store_full', 'the revocation store is full') : bad('invalid_revocation', out.errors.join('; '));
  }
  deps.logger.info({
    audit: 'idp_event', source: name, event: 'backchannel_logout', kind: input.kind, subject_fp: fingerprint(input.value), revocation: out.id, persisted: out.persisted,
    ...(companion === null ? {} : { sessionless_sub_fp: fingerprint(companion.value) }),
  }, 'identity-provider event applied');
  // persisted false: applied here and sent live; the member's outbox retries until the stream has it
  // (a resend by the OP could not add anything and would be refused as a replay)
  if (out.persisted === false) deps.logger.warn({ source: name, revocation: out.id }, 'identity-provider event applied and sent live, not yet stored in the revocation stream (the outbox retries)');
  return { status: 200, body: '', result: 'accepted' };
}
