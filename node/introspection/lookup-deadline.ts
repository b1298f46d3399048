// A request's wait on an introspection call (its own, or one it joined), ended at the request's route
// deadline: past it that request is answered 503; the call goes on, and its answer is cached as usual.
import { proxyError } from '../errors.js';
import type { VerifyFail, VerifyOutcome } from '../pipeline/token-verifier.js';

/** 503 `temporarily_unavailable`, Retry-After 1 s (the answer is on its way), reason `introspection_deadline`. Never cached. */
export const PAST_DEADLINE: VerifyFail = Object.freeze({
  ok: false as const, reason: 'introspection_deadline',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'the token was not introspected within the route\'s deadline', { retryAfter: 1 })),
});

/**
 * `waiting`'s answer if it comes within `ms`, else PAST_DEADLINE (`onPast` is called then, once).
 * One timer per waiting request: only lookups that miss the cache wait. Never rejects.
 */
export function withinDeadline(waiting: Promise<VerifyOutcome>, ms: number, onPast: () => void): Promise<VerifyOutcome> {
  return new Promise<VerifyOutcome>((resolve) => {
    const t = setTimeout(() => { onPast(); resolve(PAST_DEADLINE); }, ms);
    t.unref();
    void waiting.then((x) => { clearTimeout(t); resolve(x); });
  });
}
