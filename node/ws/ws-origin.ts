// Cross-site WebSocket hijacking: a browser sends a site's cookies with a WebSocket handshake
// from any page and WebSockets have no CORS, so a token read from a cookie opens a socket only
// for a page of the route's own origin or one the route lists (`websocket_origins`).
import { clientOrigin } from '../dpop/index.js';

/** Normalised `websocket_origins` entries (case, default port) per route's list, built once per list. */
const normalised = new WeakMap<readonly string[], ReadonlySet<string>>();

function originOf(value: string): string | null {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

/**
 * May a handshake with these headers use a cookie token? True without an Origin header (not a
 * browser: no page can have sent it); else only when the one Origin is the origin the client
 * addressed (scheme from the listener's TLS or a trusted X-Forwarded-Proto, host from Host or a
 * trusted X-Forwarded-Host) or is in `allowed`. `null`, two Origins or a malformed one → false.
 */
export function cookieOriginAllowed(headers: readonly string[], secure: boolean, trustForwarded: boolean, allowed: readonly string[]): boolean {
  let origin: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'origin') continue;
    if (origin !== null) return false;
    origin = headers[i + 1]!;
  }
  if (origin === null) return true;
  const o = originOf(origin.trim());
  if (o === null) return false;
  if (o === clientOrigin(headers, secure, trustForwarded)) return true;
  let set = normalised.get(allowed);
  if (set === undefined) {
    set = new Set(allowed.map(originOf).filter((x): x is string => x !== null));
    normalised.set(allowed, set);
  }
  return set.has(o);
}
