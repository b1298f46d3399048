// Cross-site WebSocket hijacking at a decision endpoint: proxy mode refuses a handshake whose token
// came from a cookie and whose page is foreign when it opens the upstream socket (node/ws); behind an
// edge the edge opens it, so the verdict itself must refuse it — for the HTTP dialects and the gRPC Check.
import { pageOriginAllowed } from '../auth/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import type { RequestContext } from '../pipeline/index.js';

const WS_CROSS_ORIGIN: ProxyError = Object.freeze(proxyError('PORTCULLIS_ERR_WEBSOCKET_ORIGIN', 'a WebSocket authenticated by a cookie must come from a page of this origin or of the route\'s cookie_origins or websocket_origins'));

/**
 * Is the original request a WebSocket handshake? By `Sec-WebSocket-Key`/`-Version` as well as
 * `Upgrade: websocket`: nginx's auth_request and Traefik's ForwardAuth drop the hop-by-hop
 * `Upgrade` from the call but pass the rest; `:protocol` is HTTP/2's extended CONNECT (RFC 8441).
 */
function handshake(h: readonly string[]): boolean {
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    if (k === 'sec-websocket-key' || k === 'sec-websocket-version') return true;
    if ((k === 'upgrade' || k === ':protocol') && /websocket/i.test(h[i + 1]!)) return true;
  }
  return false;
}

/**
 * The refusal (403 PORTCULLIS_ERR_WEBSOCKET_ORIGIN) of an allowed verdict on a WebSocket handshake
 * whose token came from a cookie, sent by a page (`Origin`) other than the addressed origin (the
 * original scheme and host) or one in the route's `cookie_origins` / `websocket_origins`; else null.
 * Without `Origin` it passes (not a browser page), as in proxy mode.
 */
export function wsOriginRefusal(ctx: RequestContext): ProxyError | null {
  if (ctx.tokenSource !== 'cookie' || !handshake(ctx.headers)) return null;
  const route = ctx.route.config;
  return pageOriginAllowed(ctx.headers, ctx.origin ?? null, route.cookie_origins, route.websocket_origins) ? null : WS_CROSS_ORIGIN;
}
