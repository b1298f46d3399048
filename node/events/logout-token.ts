// The claim rules of an OpenID Connect Back-Channel Logout 1.0 logout token (§2.4, §2.6),
// applied after its signature verified: iss, aud = our client id, iat within the window, exp if
// present, jti, the back-channel-logout member of `events`, sid and/or sub, and no `nonce`
// (so an ID token can never pass as a logout token). Pure: the caller supplies the clock.

/** The `events` member that makes a JWT a logout token (§2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** `typ` values accepted (§2.4 recommends `logout+jwt`; OPs that predate it send `JWT` or none). */
export const LOGOUT_TYPS: ReadonlySet<string> = new Set(['logout+jwt', 'application/logout+jwt', 'jwt', '']);

/** What a valid logout token asks for. */
export interface LogoutRequest {
  readonly jti: string;
  /** Epoch seconds. */
  readonly iat: number;
  readonly sid: string | null;
  readonly sub: string | null;
}

export type LogoutClaimsCheck =
  | { readonly ok: true; readonly logout: LogoutRequest }
  | { readonly ok: false; readonly code: LogoutClaimCode; readonly message: string };

/** Stable refusal codes (logs, metrics `result` label). */
export type LogoutClaimCode = 'wrong_issuer' | 'wrong_audience' | 'bad_iat' | 'expired' | 'missing_jti' | 'not_logout_event' | 'no_subject' | 'nonce_present';

/** The issuer's rules for one endpoint. */
export interface LogoutRules {
  readonly issuer: string;
  readonly clientId: string;
  /** Oldest accepted iat, s before now. */
  readonly maxAgeS: number;
  readonly clockSkewS: number;
}

const MAX_ID = 1024;
const CONTROL = /[\u0000-\u001f\u007f]/;
const id = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID && !CONTROL.test(v);
const fail = (code: LogoutClaimCode, message: string): LogoutClaimsCheck => ({ ok: false, code, message });

/** Check a verified logout token's claims at `nowS` (epoch seconds). */
export function checkLogoutClaims(p: Record<string, unknown>, rules: LogoutRules, nowS: number): LogoutClaimsCheck {
  if (p.iss !== rules.issuer) return fail('wrong_issuer', 'iss is not the configured issuer');
  const aud = p.aud;
  if (!(aud === rules.clientId || (Array.isArray(aud) && aud.includes(rules.clientId)))) return fail('wrong_audience', 'aud does not name this client');
  const iat = p.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return fail('bad_iat', 'iat is missing');
  if (iat > nowS + rules.clockSkewS) return fail('bad_iat', 'iat is in the future');
  if (iat < nowS - rules.maxAgeS - rules.clockSkewS) return fail('bad_iat', 'iat is older than max_age_s');
  if (p.exp !== undefined && (typeof p.exp !== 'number' || p.exp <= nowS - rules.clockSkewS)) return fail('expired', 'the logout token has expired');
  if (!id(p.jti)) return fail('missing_jti', 'jti is missing');
  const ev = p.events;
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) return fail('not_logout_event', 'events is not a JSON object');
  const member = (ev as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT];
  if (member === null || typeof member !== 'object' || Array.isArray(member)) return fail('not_logout_event', `events has no ${BACKCHANNEL_LOGOUT_EVENT} object`);
  if (p.nonce !== undefined) return fail('nonce_present', 'a logout token must not contain nonce');
  const sid = p.sid === undefined ? null : p.sid;
  const sub = p.sub === undefined ? null : p.sub;
  if ((sid !== null && !id(sid)) || (sub !== null && !id(sub))) return fail('no_subject', 'sid and sub must be non-empty strings');
  if (sid === null && sub === null) return fail('no_subject', 'neither sid nor sub is present');
  return { ok: true, logout: { jti: p.jti, iat, sid: sid as string | null, sub: sub as string | null } };
}
