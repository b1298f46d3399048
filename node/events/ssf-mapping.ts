// From a Shared Signals event to what the revocation store can name: CAEP session-revoked → the
// session (`sid`) or, with only a user, the user's tokens up to the event time; CAEP credential-
// change and RISC account-disabled/-purged, credential-compromise, sessions-revoked → the user's
// tokens up to the event time. Subject identifiers (RFC 9493): iss_sub, email, opaque, complex
// (user/session). Everything else is accepted and counted, never an error (SSF 1.0 §8).
import type { EventSourceConfig } from '../config/index.js';
import type { RevocationInput } from '../contracts/index.js';
import type { SecurityEvent } from './ssf-set.js';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
/** SSF 1.0 §8.1.4: the transmitter checks the stream with this event; we only acknowledge it. */
export const SSF_VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

/** Short names of the event types that revoke (metrics `type` label); others are `other`. */
const REVOKING: ReadonlyMap<string, string> = new Map([
  [`${CAEP}session-revoked`, 'session_revoked'],
  [`${CAEP}credential-change`, 'credential_change'],
  [`${RISC}account-disabled`, 'account_disabled'],
  [`${RISC}account-purged`, 'account_purged'],
  [`${RISC}credential-compromise`, 'credential_compromise'],
  [`${RISC}sessions-revoked`, 'sessions_revoked'],
]);
const KNOWN: ReadonlyMap<string, string> = new Map([...REVOKING, [`${CAEP}token-claims-change`, 'token_claims_change'], [SSF_VERIFICATION, 'verification']]);

/** The event types a managed stream asks for (`events_requested`): the ones the mapping acts on. */
export function requestedEvents(): string[] {
  return [...REVOKING.keys()];
}

/** The metrics/audit name of an event type: a short known name, or `other`. */
export function eventName(type: string): string {
  return KNOWN.get(type) ?? 'other';
}

/** What to do with one event. */
export type EventAction =
  | { readonly kind: 'revoke'; readonly input: RevocationInput }
  /** Accepted without a revocation; `result` says why (metrics): verification, not_revoking, unmapped_subject. */
  | { readonly kind: 'accept'; readonly result: string };

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 && v.length <= 1024 && !/[\u0000-\u001f\u007f]/.test(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : null);

/** What a simple subject identifier names in access tokens under `src`'s mapping; null = nothing. */
function simple(id: Record<string, unknown> | null, src: EventSourceConfig): { kind: 'sub' | 'sid'; value: string; issuer: string | null } | null {
  if (id === null) return null;
  const issuer = src.token_issuer ?? null;
  switch (id.format) {
    case 'iss_sub': {
      const sub = str(id.sub);
      const iss = str(id.iss);
      return sub === null || iss === null ? null : { kind: 'sub', value: sub, issuer: iss };
    }
    case 'email': {
      const email = str(id.email);
      return email === null || src.subjects.email === 'ignore' ? null : { kind: 'sub', value: email, issuer };
    }
    case 'opaque': {
      const v = str(id.id);
      return v === null || src.subjects.opaque === 'ignore' ? null : { kind: src.subjects.opaque, value: v, issuer };
    }
    default:
      return null;
  }
}

/** The action for `ev` from source `name`; `nowS` bounds the event time (a cut never lies in the future). */
export function mapEvent(name: string, ev: SecurityEvent, src: EventSourceConfig, nowS: number): EventAction {
  if (ev.type === SSF_VERIFICATION) return { kind: 'accept', result: 'verification' };
  const short = REVOKING.get(ev.type);
  if (short === undefined) return { kind: 'accept', result: KNOWN.has(ev.type) ? 'not_revoking' : 'unknown_event' };
  const ts = typeof ev.body.event_timestamp === 'number' && Number.isFinite(ev.body.event_timestamp) ? ev.body.event_timestamp : ev.iat;
  const before = Math.min(Math.floor(ts), nowS);
  const reason = `ssf:${name}:${short}`;
  const subject = ev.subject;
  // complex subjects (RFC 9493 §3.3, SSF 1.0 §3): a session names exactly what ended, for session-revoked
  let user = subject;
  if (subject !== null && (subject.format === 'complex' || (subject.format === undefined && (obj(subject.user) !== null || obj(subject.session) !== null)))) {
    const session = obj(subject.session);
    const sid = session === null ? null : (str(session.id) ?? str(session.sid));
    if (sid !== null && short === 'session_revoked') return { kind: 'revoke', input: { kind: 'sid', value: sid, issuer: src.token_issuer ?? null, reason } };
    user = obj(subject.user);
  }
  const target = simple(user, src);
  if (target === null) return { kind: 'accept', result: 'unmapped_subject' };
  if (target.kind === 'sid') return { kind: 'revoke', input: { kind: 'sid', value: target.value, issuer: target.issuer, reason } };
  return { kind: 'revoke', input: { kind: 'sub', value: target.value, issuer: target.issuer, before, reason } };
}
