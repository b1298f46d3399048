// The `htu` rule (RFC 9449 §4.3): the proof names the URI the client sent, without query
// and fragment. Both sides are normalised the same way before comparing: scheme and host
// by the WHATWG URL parser (case, default port, IDNA), the path by the listener's own
// normalizePath, so a path equals the htu path exactly when the proxy routes them alike.
import { normalizePath } from '../routing/path-normalize.js';

/** Longest `htu` looked at, characters (the proof size limit bounds it too). */
export const MAX_HTU_CHARS = 4096;

/** `scheme://host[:port]` per Host header value, normalised; null when unusable. Bounded. */
const origins = new Map<string, string | null>();
const MAX_ORIGINS = 1024;

/** Characters never valid in a Host header value (userinfo, path, query, whitespace). */
const BAD_HOST = /[/?#@\\\s]/;

/**
 * The request's origin as the client addressed it: `scheme` (`http`/`https`) and the Host
 * header value, normalised like a URL origin (`HTTPS://Api.Example:443` → `https://api.example`).
 * Null for an empty or invalid host.
 */
export function requestOrigin(scheme: string, host: string): string | null {
  const key = `${scheme}://${host}`;
  let o = origins.get(key);
  if (o === undefined) {
    o = null;
    if (host !== '' && !BAD_HOST.test(host) && (scheme === 'http' || scheme === 'https')) {
      try {
        o = new URL(`${key}/`).origin;
      } catch {
        o = null;
      }
    }
    if (origins.size >= MAX_ORIGINS) origins.clear();
    origins.set(key, o);
  }
  return o;
}

/**
 * Does `htu` name the request at `origin` (from requestOrigin) and `path` (the listener's
 * normalised path)? Query and fragment of `htu` are ignored; userinfo, other schemes and
 * paths the listener would refuse (ambiguous escapes, `..` above the root) never match.
 */
export function htuMatches(htu: string, origin: string | null, path: string): boolean {
  if (origin === null || htu.length > MAX_HTU_CHARS) return false;
  let u: URL;
  try {
    u = new URL(htu);
  } catch {
    return false;
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username !== '' || u.password !== '') return false;
  if (u.origin !== origin) return false;
  // The path as written, normalised the way the listener normalised the request line; then
  // the URL parser's reading (dot segments resolved before empty ones: "/;//.." is "/;/"
  // there, "/" for the listener) — a client may have built its htu either way.
  // `;` parameters are read as the listener kept them (server.paths.allow_params): only equality counts
  const raw = rawPath(htu);
  if (raw !== '' && normalizePath(raw, true) === path) return true;
  return normalizePath(u.pathname, true) === path;
}

/** The path of an absolute URI as written (from the first "/" after the authority to "?" or "#"); '' when it has none. */
function rawPath(uri: string): string {
  const sep = uri.indexOf('://');
  if (sep === -1) return '';
  let i = sep + 3;
  while (i < uri.length && uri[i] !== '/' && uri[i] !== '?' && uri[i] !== '#') i++;
  if (i === uri.length || uri[i] !== '/') return '';
  let end = i;
  while (end < uri.length && uri[end] !== '?' && uri[end] !== '#') end++;
  return uri.slice(i, end);
}

/** Last value of header `name` in a flat [name, value…] list, first comma-separated element, trimmed. */
function forwarded(headers: readonly string[], name: string): string | null {
  let v: string | null = null;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) v = headers[i + 1]!;
  if (v === null) return null;
  const comma = v.indexOf(',');
  return (comma === -1 ? v : v.slice(0, comma)).trim();
}

/**
 * The scheme and host the client used: https when the listener has TLS; behind a trusted
 * front proxy (`server.trust_forwarded`) its X-Forwarded-Proto and X-Forwarded-Host, as the
 * listener forwards them; else http and the Host header.
 */
export function clientOrigin(headers: readonly string[], tls: boolean, trustForwarded: boolean): string | null {
  let scheme = tls ? 'https' : 'http';
  let host: string | null = null;
  if (trustForwarded) {
    const proto = forwarded(headers, 'x-forwarded-proto');
    if (proto !== null && proto !== '') scheme = proto.toLowerCase();
    host = forwarded(headers, 'x-forwarded-host');
    if (host === '') host = null;
  }
  if (host === null) {
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'host') { host = headers[i + 1]!; break; }
  }
  return host === null ? null : requestOrigin(scheme, host);
}
