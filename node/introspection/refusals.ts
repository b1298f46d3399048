// The introspection client's refusals (introspection-client.ts, answer-judge.ts): the 401 outcomes of a judged answer
// and the 503 outcomes of a failed call, preallocated and frozen, so a refusal allocates nothing.
import { proxyError } from '../errors.js';
import type { VerifyFail } from '../pipeline/token-verifier.js';
import type { CallFailReason } from './introspection-caller.js';

function fail(code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' | 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', message: string, reason: string, retryAfter?: number): VerifyFail {
  const error = Object.freeze(retryAfter === undefined ? proxyError(code, message) : proxyError(code, message, { retryAfter }));
  return Object.freeze({ ok: false as const, error, reason });
}

const invalid = (message: string, reason: string): VerifyFail => fail('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', message, reason);

/** 401s: what the judge of an answer (or of the token's shape) refuses. */
export const REFUSED = Object.freeze({
  inactive: invalid('token inactive', 'inactive'),
  expired: invalid('token expired', 'expired'),
  notYetValid: invalid('token not yet valid', 'not_yet_valid'),
  issuedInFuture: invalid('token issued in the future', 'iat_in_future'),
  lifetimeExceeded: invalid('token lifetime exceeds the allowed maximum', 'lifetime_exceeded'),
  wrongAudience: invalid('token audience not accepted', 'wrong_audience'),
  malformed: invalid('token malformed', 'malformed'),
  wrongIssuer: invalid('token issuer does not match', 'wrong_issuer'),
  missingIssuer: invalid('token issuer missing', 'missing_issuer'),
  notAccessToken: invalid('token is not an access token', 'wrong_token_type'),
  badClaims: invalid('token claims malformed', 'malformed_claims'),
});

/** 503s with `Retry-After: retryAfterS`, one per reason a call can fail (plus a failed cluster coordination). */
export function unavailableOutcomes(retryAfterS: number): Readonly<Record<CallFailReason | 'introspection_failed', VerifyFail>> {
  const down = (reason: CallFailReason | 'introspection_failed', message: string): VerifyFail => fail('PORTCULLIS_ERR_AUTH_UNAVAILABLE', message, reason, retryAfterS);
  return Object.freeze({
    introspection_timeout: down('introspection_timeout', 'authorization server timed out'),
    introspection_http_error: down('introspection_http_error', 'authorization server failed'),
    introspection_bad_response: down('introspection_bad_response', 'authorization server answered badly'),
    introspection_network_error: down('introspection_network_error', 'authorization server unreachable'),
    introspection_no_endpoint: down('introspection_no_endpoint', 'introspection endpoint not known yet'),
    introspection_closed: down('introspection_closed', 'introspection client closed'),
    introspection_queue_full: down('introspection_queue_full', 'introspection queue full'),
    introspection_failed: down('introspection_failed', 'token introspection failed'),
    // this client held the most waiting calls when the queue was full (its newest made room for another
    // client's), or already holds its introspection.per_client_max places; others still get theirs
    introspection_client_limited: down('introspection_client_limited', 'too many introspections waiting for this client'),
    introspection_held: heldOutcome(retryAfterS),
  });
}

/** 503 for a lookup not sent because the server answered 429/503 and asked to wait (server-hold.ts); `retryAfterS`: what is left of that. */
export function heldOutcome(retryAfterS: number): VerifyFail {
  return fail('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'authorization server asked to wait', 'introspection_held', retryAfterS);
}
