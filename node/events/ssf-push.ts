// One SET pushed by a Shared Signals transmitter (RFC 8935): the transmitter's Authorization
// (constant-time against the configured secret), the SET's signature (jws-check, `typ:
// secevent+jwt`) and claims (ssf-set), its event mapped to a revocation (ssf-mapping) and published
// through the member's one revocation publisher. 202 on accept, RFC 8935 §2.3 errors otherwise.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { EventSourceConfig } from '../config/index.js';
import type { RevocationPublisher } from '../contracts/index.js';
import type { JwksActor } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { eventRevocationId, fingerprint, type EventAnswer } from './backchannel-logout.js';
import { checkJws } from './jws-check.js';
import { checkSetClaims, type SetErrorCode } from './ssf-set.js';
import { eventName, mapEvent } from './ssf-mapping.js';

/** `typ` values a SET must carry (RFC 8417 §2.3; SSF 1.0 requires it). */
const SET_TYPS: ReadonlySet<string> = new Set(['secevent+jwt', 'application/secevent+jwt']);
const SET_MEDIA = 'application/secevent+jwt';

export interface PushDeps {
  readonly publisher: RevocationPublisher | null;
  readonly logger: Logger;
  readonly keyWaitMs: number;
  /** The expected Authorization header value (from `push.authorization_env`); null = unset → every push refused. */
  readonly authorization: string | null;
}

/** An answer plus the event's short type name (metrics label). */
export interface PushAnswer extends EventAnswer { readonly type: string }

const err = (status: number, code: SetErrorCode, result: string, description: string, type = 'unknown'): PushAnswer =>
  ({ status, result, type, body: JSON.stringify({ err: code, description }) });

/** Equal-time comparison of the presented and expected Authorization values (hashed: equal lengths). */
function authorized(presented: string, expected: string | null): boolean {
  if (expected === null || expected === '') return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Handle one push. Never rejects. */
export async function handlePush(name: string, src: EventSourceConfig, actor: JwksActor, authorization: string, contentType: string, body: Buffer, deps: PushDeps): Promise<PushAnswer> {
  // before anything is parsed: an unauthenticated flood costs one hash
  if (!authorized(authorization, deps.authorization)) {
    return { ...err(401, 'authentication_failed', 'authentication_failed', 'the transmitter did not authenticate'), wwwAuthenticate: 'Bearer' };
  }
  if (contentType.split(';')[0]!.trim().toLowerCase() !== SET_MEDIA) return err(400, 'invalid_request', 'malformed', `Content-Type must be ${SET_MEDIA}`);
  const checked = await checkJws(body.toString('latin1').trim(), actor, SET_TYPS, deps.keyWaitMs);
  if (!checked.ok) {
    if (checked.code === 'keys_unavailable') return { status: 503, result: checked.code, type: 'unknown', retryAfter: 5, body: JSON.stringify({ err: 'temporarily_unavailable', description: checked.message }) };
    const code: SetErrorCode = checked.code === 'unknown_kid' || checked.code === 'bad_signature' || checked.code === 'alg_not_allowed' ? 'invalid_key' : 'invalid_request';
    return err(400, code, checked.code, checked.message);
  }
  const nowS = Math.floor(Date.now() / 1000);
  const claims = checkSetClaims(checked.payload, { issuer: src.issuer, audiences: src.audiences, maxAgeS: src.max_age_s, clockSkewS: src.clock_skew_s }, nowS);
  if (!claims.ok) return err(400, claims.err, claims.result, claims.message);
  const ev = claims.event;
  const type = eventName(ev.type);
  const action = mapEvent(name, ev, src, nowS);
  if (action.kind === 'accept') {
    deps.logger.info({ audit: 'idp_event', source: name, event: type, result: action.result }, 'identity-provider event accepted, nothing to revoke');
    return { status: 202, result: action.result, type, body: '' };
  }
  const id = eventRevocationId('ssf', src.issuer, ev.jti);
  if (deps.publisher === null) return { status: 503, result: 'no_publisher', type, retryAfter: 5, body: JSON.stringify({ err: 'temporarily_unavailable', description: 'revocations cannot be published by this instance' }) };
  // RFC 8935 §2.2: a transmitter resends what it saw no 202 for; a SET already applied is acknowledged again, not re-applied
  if (deps.publisher.known(id)) return { status: 202, result: 'duplicate', type, body: '' };
  const out = await deps.publisher.publish(action.input, id);
  if (!out.ok) {
    deps.logger.error({ source: name, event: type, errors: out.errors }, 'identity-provider event not applied');
    return out.full === true
      ? { status: 503, result: 'store_full', type, retryAfter: 5, body: JSON.stringify({ err: 'temporarily_unavailable', description: 'the revocation store is full' }) }
      : err(400, 'invalid_request', 'invalid_revocation', out.errors.join('; '), type);
  }
  deps.logger.info({
    audit: 'idp_event', source: name, event: type, kind: action.input.kind, subject_fp: fingerprint(action.input.value), revocation: out.id, persisted: out.persisted,
  }, 'identity-provider event applied');
  return { status: 202, result: 'accepted', type, body: '' };
}
