// What the pipeline gets back from the JWT verifier, and the one table from our
// stable failure codes to ProxyErrors (401 invalid_token vs 503 unavailable).
// Failure outcomes are preallocated and frozen: a refusal allocates nothing.
import { proxyError, type ProxyError } from '../errors.js';
import type { Principal } from '../pipeline/context.js';
import type { FailCode } from './types.js';

export interface VerifyOk { readonly ok: true; readonly principal: Principal }
/** `reason` is the stable code for logs and metrics (`verify_failed_<reason>`). */
export interface VerifyFail { readonly ok: false; readonly error: ProxyError; readonly reason: FailCode }
export type VerifyOutcome = VerifyOk | VerifyFail;

/** Seconds a client is asked to wait when keys are not loaded or the pool failed. */
export const RETRY_AFTER_KEYS_S = 5;
export const RETRY_AFTER_POOL_S = 1;

/** Client-facing messages: never contain the token or any value taken from it. */
const TABLE: Readonly<Record<FailCode, ProxyError>> = {
  oversized: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token too large'),
  malformed: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token malformed'),
  alg_not_allowed: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token algorithm not allowed'),
  unknown_kid: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token signing key unknown'),
  bad_signature: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token signature invalid'),
  crit_unsupported: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token uses an unsupported critical header'),
  bad_typ: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token is not an access token (typ)'),
  wrong_issuer: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token issuer not accepted'),
  wrong_audience: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token audience not accepted'),
  missing_exp: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token has no expiry'),
  expired: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token expired'),
  not_yet_valid: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token not yet valid'),
  iat_in_future: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token issued in the future'),
  lifetime_exceeded: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token lifetime exceeds the allowed maximum'),
  keys_unavailable: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'signing keys not loaded yet', { retryAfter: RETRY_AFTER_KEYS_S }),
  // waiting on an unknown-kid refetch past the route's deadline: the token may be good (503, not 401)
  jwks_refetch_timeout: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'signing keys not refetched within the route\'s deadline', { retryAfter: RETRY_AFTER_POOL_S }),
  // a kid missing from the last good keys while the JWKS fetch fails: it may be a fresh rotation (503, not 401)
  jwks_refetch_failed: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'signing keys could not be refetched', { retryAfter: RETRY_AFTER_KEYS_S }),
  pool_failure: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'token verification failed, retry', { retryAfter: RETRY_AFTER_POOL_S }),
  pool_overloaded: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'token verification overloaded, retry', { retryAfter: RETRY_AFTER_POOL_S }),
  pool_timeout: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'token verification timed out, retry', { retryAfter: RETRY_AFTER_POOL_S }),
  internal: proxyError('PORTCULLIS_ERR_INTERNAL', 'token verification error'),
};

export const FAIL_CODES = Object.keys(TABLE) as FailCode[];

const OUTCOMES = Object.fromEntries(
  FAIL_CODES.map((code) => [code, Object.freeze({ ok: false as const, error: Object.freeze(TABLE[code]), reason: code })]),
) as Record<FailCode, VerifyFail>;

/** The shared, frozen failure outcome for `code`. */
export function failOutcome(code: FailCode): VerifyFail {
  return OUTCOMES[code];
}
