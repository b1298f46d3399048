// Cross-site WebSocket hijacking: a browser sends a site's cookies with a WebSocket handshake
// from any page and WebSockets have no CORS, so a token read from a cookie opens a socket only
// for a page of the route's own origin or one the route lists (`cookie_origins`, `websocket_origins`).
import { pageOriginAllowed } from '../auth/index.js';
import type { RouteConfig } from '../config/index.js';
import { clientOrigin } from '../dpop/index.js';

/**
 * May a handshake with these headers use a cookie token? True without an Origin header (not a
 * browser: no page can have sent it); else only when the one Origin is the origin the client
 * addressed (scheme from the listener's TLS or a trusted X-Forwarded-Proto, host from Host or a
 * trusted X-Forwarded-Host) or is in the route's `cookie_origins` or `websocket_origins`.
 * `null`, two Origins or a malformed one → false.
 */
export function cookieOriginAllowed(headers: readonly string[], secure: boolean, trustForwarded: boolean, route: RouteConfig): boolean {
  return pageOriginAllowed(headers, clientOrigin(headers, secure, trustForwarded), route.cookie_origins, route.websocket_origins);
}
