// Shared-cache privacy of answers to requests whose credential a shared cache cannot see: a token in a
// cookie or the route's token header. RFC 9111 §3.5 keeps a shared cache from storing an answer to a
// request with `Authorization` unless the answer allows it; the proxy extends that rule to these.
import type { RequestContext } from './context.js';

/** The line added to such an answer: a second Cache-Control line combines with the upstream's own (RFC 9111 §5.2). */
export const PRIVATE_NAME = 'cache-control';
export const PRIVATE_VALUE = 'private';

/**
 * Cache-Control directives that let a shared cache store an answer to an authenticated request
 * (RFC 9111 §3.5): the upstream said so explicitly, as it would for a request with `Authorization`.
 */
const SHARING = /(?:^|,)[ \t]*(?:public|s-maxage|must-revalidate)[ \t]*(?:[,=]|$)/i;

const NAMES_CACHE_CONTROL = /(?:^|,)[ \t]*cache-control[ \t]*(?:,|$)/i;

/**
 * True when the answer to `ctx`'s request must get `Cache-Control: private`: its token came from a
 * cookie or the route's token header (never `Authorization`, which caches see, nor the query, which
 * extract.ts marks itself) and the upstream's Cache-Control (`headers`: flat [lower-cased name,
 * value…]) has none of `public`, `s-maxage`, `must-revalidate`. No work for other requests.
 */
export function answerMadePrivate(ctx: RequestContext, headers: readonly string[]): boolean {
  const source = ctx.tokenSource;
  if (source !== 'cookie' && source !== 'custom-header') return false;
  let shared = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name === 'cache-control') { if (SHARING.test(headers[i + 1]!)) shared = true; }
    // a Cache-Control the upstream names in Connection is dropped (hop-by-hop): the client never sees its `public`
    else if (name === 'connection' && NAMES_CACHE_CONTROL.test(headers[i + 1]!)) return true;
  }
  return !shared;
}
