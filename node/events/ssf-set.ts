// The claim rules of a Security Event Token (RFC 8417 §2.2, SSF 1.0 §4) pushed by a transmitter,
// applied after its signature verified: iss, aud, iat window, jti, exactly one event in `events`,
// no `exp`-past, and the subject (top-level `sub_id`, or the event's own `subject` as CAEP/RISC
// drafts put it). Pure: the caller supplies the clock.

/** A SET's one event, as the mapping reads it. */
export interface SecurityEvent {
  readonly jti: string;
  /** Epoch seconds. */
  readonly iat: number;
  /** The event type URI. */
  readonly type: string;
  /** The event's member object. */
  readonly body: Readonly<Record<string, unknown>>;
  /** RFC 9493 subject identifier (sub_id, or the event's `subject`); null when none. */
  readonly subject: Readonly<Record<string, unknown>> | null;
}

/** RFC 8935 §2.3 error codes (`err`) a refusal maps to. */
export type SetErrorCode = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed';

export type SetClaimsCheck =
  | { readonly ok: true; readonly event: SecurityEvent }
  | { readonly ok: false; readonly err: SetErrorCode; readonly result: string; readonly message: string };

export interface SetRules {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly maxAgeS: number;
  readonly clockSkewS: number;
}

const MAX_ID = 1024;
const CONTROL = /[\u0000-\u001f\u007f]/;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const fail = (err: SetErrorCode, result: string, message: string): SetClaimsCheck => ({ ok: false, err, result, message });

/** Check a verified SET's claims at `nowS` (epoch seconds). */
export function checkSetClaims(p: Record<string, unknown>, rules: SetRules, nowS: number): SetClaimsCheck {
  if (p.iss !== rules.issuer) return fail('invalid_issuer', 'wrong_issuer', 'iss is not the configured transmitter');
  const aud = p.aud;
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!auds.some((a) => typeof a === 'string' && rules.audiences.includes(a))) return fail('invalid_audience', 'wrong_audience', 'aud names no configured audience');
  const iat = p.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return fail('invalid_request', 'bad_iat', 'iat is missing');
  if (iat > nowS + rules.clockSkewS) return fail('invalid_request', 'bad_iat', 'iat is in the future');
  if (iat < nowS - rules.maxAgeS - rules.clockSkewS) return fail('invalid_request', 'bad_iat', 'iat is older than max_age_s');
  if (p.exp !== undefined && (typeof p.exp !== 'number' || p.exp <= nowS - rules.clockSkewS)) return fail('invalid_request', 'expired', 'the SET has expired');
  const jti = p.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_ID || CONTROL.test(jti)) return fail('invalid_request', 'missing_jti', 'jti is missing');
  // RFC 8417 §2.2: a SET is not an access or ID token — no `nonce`; SSF 1.0: exactly one event per SET
  if (p.nonce !== undefined) return fail('invalid_request', 'nonce_present', 'a SET must not contain nonce');
  if (!isObj(p.events)) return fail('invalid_request', 'no_events', 'events is not a JSON object');
  const types = Object.keys(p.events);
  if (types.length !== 1) return fail('invalid_request', 'not_one_event', 'events must hold exactly one event');
  const type = types[0]!;
  const body = p.events[type];
  if (!isObj(body)) return fail('invalid_request', 'no_events', 'the event is not a JSON object');
  const subject = isObj(p.sub_id) ? p.sub_id : isObj(body.subject) ? body.subject : null;
  return { ok: true, event: { jti, iat, type, body, subject } };
}
