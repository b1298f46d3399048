// The access-log fields of a request the listener answers itself: the reason its error code gives and
// the path as received, bounded (it may be refused before normalisation).
import { rawPathWithoutTokens } from '../contracts/index.js';
import type { ErrorCode } from '../errors.js';

/** Access-log `reason` of the proxy's own error answer: the code without its prefix, lower-case (PORTCULLIS_ERR_ROUTE_NOT_FOUND → route_not_found). */
export function errorReason(code: ErrorCode): string {
  return code.slice(15).toLowerCase();
}

/** A request path as logged for a request refused before normalisation: a token in it by fingerprint (named whole, then cut), at most 512 characters. */
export function loggedRawPath(raw: string): string {
  const p = rawPathWithoutTokens(raw);
  return p.length > 512 ? `${p.slice(0, 512)}…` : p;
}
