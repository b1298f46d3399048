// The deadline of a request waiting on its outbound token (a client-credentials call, a token
// exchange — discovery included —, an internal token's signature): the route's own request deadline.
// Past it the request is answered 503; the call goes on and its token fills the cache for later requests.
import { proxyError } from '../errors.js';
import type { OutboundResult, OutboundStep } from '../pipeline/snapshot.js';
import type { Deny } from './grant-cache.js';

const TIMED_OUT: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'outbound_token_timeout',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'the outbound token was not obtained within the route\'s deadline', { retryAfter: 1 })),
});

/**
 * `step` whose waits end at `ms`: a cached answer stays synchronous; a promise still pending `ms`
 * after the request began waiting resolves to 503 `temporarily_unavailable` (Retry-After: 1,
 * reason `outbound_token_timeout`). One timer per waiting request: only cache misses wait, and they are rare.
 */
export function withDeadline(step: OutboundStep, ms: number): OutboundStep {
  return {
    authorization(ctx) {
      const a = step.authorization(ctx);
      if (!(a instanceof Promise)) return a;
      return new Promise<OutboundResult>((resolve) => {
        const t = setTimeout(() => resolve(TIMED_OUT), ms);
        t.unref();
        void a.then((x) => { clearTimeout(t); resolve(x); });
      });
    },
    refused: (ctx, authz, retrying) => step.refused(ctx, authz, retrying),
    callerHeader: step.callerHeader,
  };
}
