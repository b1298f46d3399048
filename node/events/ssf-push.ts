// One SET pushed by a Shared Signals transmitter (RFC 8935): the transmitter's Authorization
// (constant-time against the configured secret), the SET's signature (jws-check, `typ:
// secevent+jwt`) and claims (ssf-set), its event mapped to a revocation (ssf-mapping) and published
// through the member's one revocation publisher. 202 on accept, RFC 8935 §2.3 errors otherwise.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { EventSourceConfig } from '../config/index.js';
import type { RevocationInput, RevocationPublisher } from '../contracts/index.js';
import { parseCompact, type JwksActor } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { eventRevocationId, fingerprint, type EventAnswer } from './backchannel-logout.js';
import { checkJws } from './jws-check.js';
import { checkSetClaims, type SetErrorCode } from './ssf-set.js';
import { eventName, mapEvent, SSF_VERIFICATION } from './ssf-mapping.js';
import { publishWithCompanion } from './session-logout.js';

/** `typ` values a SET must carry (RFC 8417 §2.3; SSF 1.0 requires it). */
const SET_TYPS: ReadonlySet<string> = new Set(['secevent+jwt', 'application/secevent+jwt']);
const SET_MEDIA = 'application/secevent+jwt';

export interface PushDeps {
  readonly publisher: RevocationPublisher | null;
  readonly logger: Logger;
  readonly keyWaitMs: number;
  /** The expected Authorization header value (from `push.authorization_env`); null = unset → every push refused. */
  readonly authorization: string | null;
  /** A managed stream's `events_delivered` (null: not managed or not read yet). */
  readonly delivered?: ReadonlySet<string> | null;
  /** Drop `sub`'s cached verdicts here and at every member (drop_cache events); null = cannot. */
  readonly dropCached?: DropCached | null;
}

/** Drops the cached verdicts of `sub`'s tokens (of token issuer `iss`; null = any) cluster-wide; how many were dropped here. */
export type DropCached = (iss: string | null, sub: string) => number;

/** Apply a drop_cache judgement: one audit line; false when this instance cannot drop. */
export function applyDrop(log: Logger, name: string, j: { readonly sub: string; readonly issuer: string | null; readonly type: string }, drop: DropCached | null | undefined): boolean {
  if (drop === null || drop === undefined) return false;
  const dropped = drop(j.issuer, j.sub);
  log.info({ audit: 'idp_event', source: name, event: j.type, action: 'drop_cache', subject_fp: fingerprint(j.sub), dropped_here: dropped }, 'identity-provider event applied');
  return true;
}

/** An answer plus the event's short type name (metrics label). */
export interface PushAnswer extends EventAnswer { readonly type: string }

const err = (status: number, code: SetErrorCode, result: string, description: string, type = 'unknown'): PushAnswer =>
  ({ status, result, type, body: JSON.stringify({ err: code, description }) });

/** Equal-time comparison of the presented and expected Authorization values (hashed: equal lengths). */
export function authorized(presented: string, expected: string | null): boolean {
  if (expected === null || expected === '') return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** What one SET amounts to, however it arrived (push or poll). */
export type SetJudgement =
  | { readonly kind: 'refuse'; readonly status: number; readonly err: SetErrorCode | 'temporarily_unavailable'; readonly result: string; readonly message: string; readonly type: string }
  | { readonly kind: 'accept'; readonly result: string; readonly type: string }
  | { readonly kind: 'drop'; readonly sub: string; readonly issuer: string | null; readonly type: string }
  | { readonly kind: 'revoke'; readonly input: RevocationInput; readonly companion: RevocationInput | null; readonly also: readonly RevocationInput[]; readonly id: string; readonly type: string };

/** Verify `token` as a SET of source `name` and map its event. Never rejects. */
export async function judgeSet(name: string, src: EventSourceConfig, actor: JwksActor, token: string, keyWaitMs: number, delivered: ReadonlySet<string> | null = null): Promise<SetJudgement> {
  const rules = { issuer: src.issuer, audiences: src.audiences, maxAgeS: src.max_age_s, clockSkewS: src.clock_skew_s };
  // cheap checks on the (not yet trusted) payload first: a flood of wrong or stale SETs costs no signature check
  const pre = parseCompact(token);
  if (pre.ok) {
    const early = checkSetClaims(pre.payload, rules, Math.floor(Date.now() / 1000));
    if (!early.ok) return { kind: 'refuse', status: 400, err: early.err, result: early.result, message: early.message, type: 'unknown' };
  }
  const checked = await checkJws(token, actor, SET_TYPS, keyWaitMs);
  if (!checked.ok) {
    if (checked.code === 'keys_unavailable') return { kind: 'refuse', status: 503, err: 'temporarily_unavailable', result: checked.code, message: checked.message, type: 'unknown' };
    const err: SetErrorCode = checked.code === 'unknown_kid' || checked.code === 'bad_signature' || checked.code === 'alg_not_allowed' ? 'invalid_key' : 'invalid_request';
    return { kind: 'refuse', status: 400, err, result: checked.code, message: checked.message, type: 'unknown' };
  }
  const nowS = Math.floor(Date.now() / 1000);
  const claims = checkSetClaims(checked.payload, rules, nowS);
  if (!claims.ok) return { kind: 'refuse', status: 400, err: claims.err, result: claims.result, message: claims.message, type: 'unknown' };
  const ev = claims.event;
  const type = eventName(ev.type);
  // a managed stream's events_delivered is what the transmitter agreed to send: anything else is not this stream's (verification always is)
  if (delivered !== null && ev.type !== SSF_VERIFICATION && !delivered.has(ev.type)) {
    return { kind: 'refuse', status: 400, err: 'invalid_request', result: 'not_delivered', message: 'the event type is not in the stream\'s events_delivered', type };
  }
  const action = mapEvent(name, ev, src, nowS);
  if (action.kind === 'accept') return { kind: 'accept', result: action.result, type };
  if (action.kind === 'drop') return { kind: 'drop', sub: action.sub, issuer: action.issuer, type };
  return { kind: 'revoke', input: action.input, companion: action.companion, also: action.also ?? [], id: eventRevocationId('ssf', src.issuer, ev.jti), type };
}

/** One audit line for an applied event (never the subject itself); `also`: an aliases subject's further users, by fingerprint. */
export function auditApplied(log: Logger, name: string, type: string, input: RevocationInput, id: string, persisted: boolean | null, also: readonly RevocationInput[] = []): void {
  log.info({
    audit: 'idp_event', source: name, event: type, kind: input.kind, subject_fp: fingerprint(input.value), revocation: id, persisted,
    ...(also.length === 0 ? {} : { alias_subject_fps: also.map((a) => fingerprint(a.value)) }),
  }, 'identity-provider event applied');
}

/** Handle one push. Never rejects. */
export async function handlePush(name: string, src: EventSourceConfig, actor: JwksActor, authorization: string, contentType: string, body: Buffer, deps: PushDeps): Promise<PushAnswer> {
  // before anything is parsed: an unauthenticated flood costs one hash
  if (!authorized(authorization, deps.authorization)) {
    return { ...err(401, 'authentication_failed', 'authentication_failed', 'the transmitter did not authenticate'), wwwAuthenticate: 'Bearer' };
  }
  if (contentType.split(';')[0]!.trim().toLowerCase() !== SET_MEDIA) return err(400, 'invalid_request', 'malformed', `Content-Type must be ${SET_MEDIA}`);
  const j = await judgeSet(name, src, actor, body.toString('latin1').trim(), deps.keyWaitMs, deps.delivered ?? null);
  if (j.kind === 'refuse') {
    return j.status === 503
      ? { status: 503, result: j.result, type: j.type, retryAfter: 5, body: JSON.stringify({ err: j.err, description: j.message }) }
      : err(j.status, j.err as SetErrorCode, j.result, j.message, j.type);
  }
  if (j.kind === 'accept') {
    deps.logger.info({ audit: 'idp_event', source: name, event: j.type, result: j.result }, 'identity-provider event accepted, nothing to revoke');
    return { status: 202, result: j.result, type: j.type, body: '' };
  }
  if (j.kind === 'drop') {
    return applyDrop(deps.logger, name, j, deps.dropCached)
      ? { status: 202, result: 'cache_dropped', type: j.type, body: '' }
      : { status: 503, result: 'no_cache_link', type: j.type, retryAfter: 5, body: JSON.stringify({ err: 'temporarily_unavailable', description: 'cached verdicts cannot be dropped by this instance' }) };
  }
  const { type, id, input, companion, also } = j;
  if (deps.publisher === null) return { status: 503, result: 'no_publisher', type, retryAfter: 5, body: JSON.stringify({ err: 'temporarily_unavailable', description: 'revocations cannot be published by this instance' }) };
  // RFC 8935 §2.2: a transmitter resends what it saw no 202 for; a SET already applied is acknowledged again, not re-applied
  if (deps.publisher.known(id)) return { status: 202, result: 'duplicate', type, body: '' };
  const out = await publishWithCompanion(deps.publisher, input, companion, id, also);
  if (!out.ok) {
    deps.logger.error({ source: name, event: type, errors: out.errors }, 'identity-provider event not applied');
    return out.full === true
      ? { status: 503, result: 'store_full', type, retryAfter: 5, body: JSON.stringify({ err: 'temporarily_unavailable', description: 'the revocation store is full' }) }
      : err(400, 'invalid_request', 'invalid_revocation', out.errors.join('; '), type);
  }
  auditApplied(deps.logger, name, type, input, out.id, out.persisted, also);
  return { status: 202, result: 'accepted', type, body: '' };
}
