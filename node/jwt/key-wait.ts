// The deadline of a request waiting on an unknown-kid JWKS refetch: the route's own deadline, not
// the fetch's `jwks.timeout_ms`. Past it that request is answered 503; the refetch and the
// verification behind it go on, so the keys and the verified token serve the requests after it.
import type { VerifyOutcome } from './verify-outcome.js';

/**
 * `waiting`, or — when `ms` is given — its answer if it comes within `ms`, else `late()`. One timer
 * per waiting request: only tokens whose kid is unknown wait on a refetch, rationed per issuer.
 */
export function withKeyDeadline(waiting: Promise<VerifyOutcome>, ms: number | undefined, late: () => VerifyOutcome): Promise<VerifyOutcome> {
  if (ms === undefined) return waiting;
  return new Promise<VerifyOutcome>((resolve) => {
    const t = setTimeout(() => resolve(late()), ms);
    t.unref();
    void waiting.then((x) => { clearTimeout(t); resolve(x); });
  });
}
