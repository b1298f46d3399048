// Upgrades at a decision endpoint: proxy mode upgrades only to WebSocket, only on `websocket: true` routes,
// and refuses a cookie-token handshake from a foreign page when it opens the upstream socket (node/ws); behind
// an edge the edge opens it, so the verdict itself must refuse all three — HTTP dialects and the gRPC Check.
import { pageOriginAllowed } from '../auth/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import type { RequestContext } from '../pipeline/index.js';

/** A refusal and its deny reason (logs, access log). */
export interface WsRefusal { readonly error: ProxyError; readonly reason: 'ws_cross_origin' | 'ws_route' | 'upgrade' }

const WS_CROSS_ORIGIN: WsRefusal = Object.freeze({ reason: 'ws_cross_origin', error: Object.freeze(proxyError('PORTCULLIS_ERR_WEBSOCKET_ORIGIN', 'a WebSocket authenticated by a cookie must come from a page of this origin or of the route\'s cookie_origins or websocket_origins')) });
const UPGRADE: WsRefusal = Object.freeze({ reason: 'upgrade', error: Object.freeze(proxyError('PORTCULLIS_ERR_DECISION_UPGRADE', 'an Upgrade to another protocol than WebSocket (h2c…): the edge would hand the app a connection whose later requests no verdict judges')) });
const WS_ROUTE: WsRefusal = Object.freeze({ reason: 'ws_route', error: Object.freeze(proxyError('PORTCULLIS_ERR_DECISION_WEBSOCKET_ROUTE', 'a WebSocket handshake on a route without websocket: true (proxy mode never upgrades there)')) });

/**
 * Is the original request a WebSocket handshake? By `Sec-WebSocket-Key`/`-Version` as well as
 * `Upgrade: websocket`: nginx's auth_request and Traefik's ForwardAuth drop the hop-by-hop
 * `Upgrade` from the call but pass the rest. HTTP/2's extended CONNECT (RFC 8441, `:protocol`)
 * never arrives as such: Envoy's codec turns it into `GET` + `Upgrade: websocket` before any filter,
 * and the Check's reader skips pseudo-headers (its browser still sends `Sec-WebSocket-Version`).
 */
function handshake(h: readonly string[]): boolean {
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    if (k === 'sec-websocket-key' || k === 'sec-websocket-version') return true;
    if (k === 'upgrade' && /websocket/i.test(h[i + 1]!)) return true;
  }
  return false;
}

/**
 * Does the original request ask to switch to anything but WebSocket (`Upgrade: h2c`, `foo/1`, a list
 * naming another token)? An edge that forwards it (HAProxy, Caddy, any Go ReverseProxy) tunnels the
 * connection once the app answers 101, and an h2c-capable app then serves every later request on it
 * (`GET /admin/…`) without the edge asking again — the h2c smuggling of an open route's verdict.
 */
function foreignUpgrade(h: readonly string[]): boolean {
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== 'upgrade') continue;
    for (const token of h[i + 1]!.split(',')) {
      const t = token.trim();
      if (t !== '' && t.toLowerCase() !== 'websocket') return true;
    }
  }
  return false;
}

/**
 * The refusal (and deny reason) of an allowed verdict on an upgrade, else null: 403
 * PORTCULLIS_ERR_DECISION_UPGRADE for an `Upgrade` to another protocol than WebSocket, on every route; 403
 * PORTCULLIS_ERR_DECISION_WEBSOCKET_ROUTE on a route without `websocket: true`; 403
 * PORTCULLIS_ERR_WEBSOCKET_ORIGIN when the token came from a cookie and the page (`Origin`) is neither
 * the addressed origin (the original scheme and host) nor in the route's `cookie_origins` /
 * `websocket_origins` (without `Origin` it passes: not a browser page), as in proxy mode.
 */
export function wsRefusal(ctx: RequestContext): WsRefusal | null {
  if (foreignUpgrade(ctx.headers)) return UPGRADE;
  if (!handshake(ctx.headers)) return null;
  const route = ctx.route.config;
  if (route.websocket !== true) return WS_ROUTE;
  if (ctx.tokenSource !== 'cookie') return null;
  return pageOriginAllowed(ctx.headers, ctx.origin ?? null, route.cookie_origins, route.websocket_origins) ? null : WS_CROSS_ORIGIN;
}
