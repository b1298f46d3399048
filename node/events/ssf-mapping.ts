// From a Shared Signals event to what the proxy does, per source (`event_sources.<name>.events`
// over the defaults): `session` → the session (`sid`) the subject names, else as
// subject_before_event; `subject_before_event` → the user's tokens issued up to the event time;
// `drop_cache` → the user's cached verdicts dropped cluster-wide; `ignore` → acknowledged, counted.
// Subject identifiers (RFC 9493): iss_sub, email, opaque, complex (user/session).
import { STANDARD_EVENT_TYPES, type EventActionName, type EventSourceConfig } from '../config/index.js';
import { CUT_AHEAD_S, type RevocationInput } from '../contracts/index.js';
import type { SecurityEvent } from './ssf-set.js';
import { sessionlessCut } from './session-logout.js';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
/** SSF 1.0 §8.1.4: the transmitter checks the stream with this event; we only acknowledge it. */
export const SSF_VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

/** The defaults; a type absent here (and from the source's `events`) is ignored. */
export const DEFAULT_EVENT_ACTIONS: ReadonlyMap<string, EventActionName> = new Map([
  [`${CAEP}session-revoked`, 'session'],
  [`${CAEP}credential-change`, 'subject_before_event'],
  [`${RISC}account-disabled`, 'subject_before_event'],
  [`${RISC}account-purged`, 'subject_before_event'],
  [`${RISC}credential-compromise`, 'subject_before_event'],
  [`${RISC}sessions-revoked`, 'subject_before_event'],
  [`${CAEP}token-claims-change`, 'drop_cache'],
]);

/** Metrics/audit names: the standard types by their last path segment in snake case (`session_revoked`). */
const KNOWN: ReadonlyMap<string, string> = new Map([
  ...STANDARD_EVENT_TYPES.map((t): [string, string] => [t, t.slice(t.lastIndexOf('/') + 1).replace(/-/g, '_')]),
  [SSF_VERIFICATION, 'verification'],
]);

/** The metrics/audit name of an event type: a short known name, or `other`. */
export function eventName(type: string): string {
  return KNOWN.get(type) ?? 'other';
}

/** What `type` does for `src`: its configured action, else the default, else ignore. */
export function actionOf(src: EventSourceConfig, type: string): EventActionName {
  // own keys only: a SET's type is the transmitter's text, and `constructor` or `__proto__` read through the
  // prototype was taken for an action (the user revoked) — before, instead of an unknown event acknowledged
  return (Object.hasOwn(src.events, type) ? src.events[type] : undefined) ?? DEFAULT_EVENT_ACTIONS.get(type) ?? 'ignore';
}

/** The event types a managed stream asks for (`events_requested`): every type that is not ignored, defaults first. */
export function requestedEvents(src: EventSourceConfig): string[] {
  const all = new Set([...DEFAULT_EVENT_ACTIONS.keys(), ...Object.keys(src.events)]);
  return [...all].filter((t) => actionOf(src, t) !== 'ignore');
}

/** What to do with one event. */
export type EventAction =
  /** `companion`: published first (session-logout.ts), null for none; `also`: more users an `aliases` subject names, published before both. */
  | { readonly kind: 'revoke'; readonly input: RevocationInput; readonly companion: RevocationInput | null; readonly also?: readonly RevocationInput[] }
  /** Drop the cached verdicts of `sub`'s tokens (of token issuer `issuer`; null = any). */
  | { readonly kind: 'drop'; readonly sub: string; readonly issuer: string | null }
  /** Accepted without a revocation; `result` says why (metrics): verification, not_revoking, unknown_event, unmapped_subject. */
  | { readonly kind: 'accept'; readonly result: string };

/** At most this many identifiers of an `aliases` subject are looked at (the SET body is ≤ 20 KiB anyway). */
const MAX_ALIASES = 32;
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 && v.length <= 1024 && !/[\u0000-\u001f\u007f]/.test(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : null);

type Target = { kind: 'sub' | 'sid'; value: string; issuer: string | null };

/**
 * Every distinct target an `aliases` subject's identifiers map to (at most MAX_ALIASES looked at, nested aliases
 * skipped), first one first; empty for any other subject. RFC 9493 §3.2.4: they all name one subject, whom the
 * tokens may know by any of them (an email as `sub` in one flow, an `iss_sub` id in another).
 */
function aliasTargets(id: Record<string, unknown> | null, src: EventSourceConfig): Target[] {
  const out: Target[] = [];
  if (id === null || id.format !== 'aliases' || !Array.isArray(id.identifiers)) return out;
  const ids = id.identifiers;
  for (let i = 0; i < ids.length && i < MAX_ALIASES; i++) {
    const one = obj(ids[i]);
    if (one === null || one.format === 'aliases') continue;
    const hit = aliasOne(one, src);
    if (hit !== null && !out.some((t) => t.kind === hit.kind && t.value === hit.value && t.issuer === hit.issuer)) out.push(hit);
  }
  return out;
}

/**
 * A value the revocation publisher refuses (cluster/revocation/revocation-request.ts: a space or tab at an end, a
 * lone surrogate; controls and length are `str`'s) — no token carries it, so it names no one.
 */
const UNREVOCABLE = /^[ \t]|[ \t]$|\p{Cs}/u;

/**
 * One identifier of an `aliases` subject, as simple(), but null when its value or issuer would be refused:
 * every target is published before the event's own revocation, so one refused made the whole event 400 and
 * revoked none of the others (fail open) — before, a SET naming `heidi@example.com` and `u-heidi ` kept heidi's tokens working.
 */
function aliasOne(one: Record<string, unknown>, src: EventSourceConfig): Target | null {
  const hit = simple(one, src);
  return hit === null || UNREVOCABLE.test(hit.value) || (hit.issuer !== null && UNREVOCABLE.test(hit.issuer)) ? null : hit;
}

/** What a simple subject identifier names in access tokens under `src`'s mapping; null = nothing. */
function simple(id: Record<string, unknown> | null, src: EventSourceConfig): Target | null {
  if (id === null) return null;
  const issuer = src.token_issuer ?? null;
  switch (id.format) {
    case 'iss_sub': {
      const sub = str(id.sub);
      const iss = str(id.iss);
      // with token_issuer set, the transmitter speaks for that issuer only: another iss maps to nothing
      if (sub === null || iss === null || (issuer !== null && iss !== issuer)) return null;
      return { kind: 'sub', value: sub, issuer: iss };
    }
    case 'email': {
      const email = str(id.email);
      return email === null || src.subjects.email === 'ignore' ? null : { kind: 'sub', value: email, issuer };
    }
    case 'opaque': {
      const v = str(id.id);
      return v === null || src.subjects.opaque === 'ignore' ? null : { kind: src.subjects.opaque, value: v, issuer };
    }
    case 'aliases': {
      // RFC 9493 §3.2.4: several identifiers of one subject (never nested aliases); the first this source can
      // map names the user — before, the whole subject was unmapped: 202 and the user's tokens kept working
      const ids = id.identifiers;
      if (!Array.isArray(ids)) return null;
      for (let i = 0; i < ids.length && i < MAX_ALIASES; i++) {
        const one = obj(ids[i]);
        if (one === null || one.format === 'aliases') continue;
        const hit = aliasOne(one, src);
        if (hit !== null) return hit;
      }
      return null;
    }
    default:
      return null;
  }
}

/** The action for `ev` from source `name`; `nowS` bounds the event time (a cut lies at most CUT_AHEAD_S in the future). */
export function mapEvent(name: string, ev: SecurityEvent, src: EventSourceConfig, nowS: number): EventAction {
  if (ev.type === SSF_VERIFICATION) return { kind: 'accept', result: 'verification' };
  const action = actionOf(src, ev.type);
  if (action === 'ignore') return { kind: 'accept', result: KNOWN.has(ev.type) || Object.hasOwn(src.events, ev.type) ? 'not_revoking' : 'unknown_event' };
  // an event time below 0 is no time (the revocation publisher refuses it): read as absent, so the event still revokes
  const stamp = ev.body.event_timestamp;
  const ts = typeof stamp === 'number' && Number.isFinite(stamp) && stamp >= 0 ? stamp : ev.iat;
  // the transmitter's clock, as its tokens' iat: capped at our now, an event from a clock ahead missed the tokens issued just before it
  const before = Math.min(Math.floor(ts), nowS + CUT_AHEAD_S);
  const reason = `ssf:${name}:${eventName(ev.type)}`;
  const subject = ev.subject;
  // complex subjects (RFC 9493 §3.3, SSF 1.0 §3): a session names exactly what ended, for `session`
  let user = subject;
  if (subject !== null && (subject.format === 'complex' || (subject.format === undefined && (obj(subject.user) !== null || obj(subject.session) !== null)))) {
    const session = obj(subject.session);
    const sid = session === null ? null : (str(session.id) ?? str(session.sid));
    user = obj(subject.user);
    if (sid !== null && action === 'session') {
      const input: RevocationInput = { kind: 'sid', value: sid, issuer: src.token_issuer ?? null, reason };
      // the user named too: their tokens without a sid (as Auth0's, Okta's) go with the session
      const owner = simple(user, src);
      return { kind: 'revoke', input, companion: owner?.kind === 'sub' ? sessionlessCut({ ...input, issuer: owner.issuer }, owner.value, before) : null };
    }
  }
  const target = simple(user, src);
  if (target === null) return { kind: 'accept', result: 'unmapped_subject' };
  if (action === 'drop_cache') return target.kind === 'sub' ? { kind: 'drop', sub: target.value, issuer: target.issuer } : { kind: 'accept', result: 'unmapped_subject' };
  const revocation = (t: Target): RevocationInput => (t.kind === 'sid'
    // an opaque subject configured as a session id is that session, whatever the action
    ? { kind: 'sid', value: t.value, issuer: t.issuer, reason }
    : { kind: 'sub', value: t.value, issuer: t.issuer, before, reason });
  // an aliases subject whose identifiers map to different users revokes each (fail closed) — before, only the first
  const others = aliasTargets(user, src).slice(1);
  return others.length === 0
    ? { kind: 'revoke', input: revocation(target), companion: null }
    : { kind: 'revoke', input: revocation(target), companion: null, also: others.map(revocation) };
}
