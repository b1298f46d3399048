// A request on the HTTP/2 listener read into a RequestContext, with the uWS listener's checks in
// the same order and with the same answers: header bytes, URL length, visible ASCII, no `_` in names, Expect, one Host
// (HTTP/2: :authority), Content-Length, body size, path normalisation, Host reading, the proxy's own
// /.well-known/ documents, identity-provider event paths (the main listener's: refused), routing.
import { proxyError, type ProxyError } from '../errors.js';
import { unmetExpectation } from '../http/expectation.js';
import { visibleAscii } from '../routing/request-bytes.js';
import { forwardedClient, type ClientCertificate, type RequestContext } from '../pipeline/index.js';
import type { Snapshot, WellKnownDoc } from '../pipeline/snapshot.js';
import type { Config } from '../config/index.js';
import { routingHost } from '../routing/host-normalize.js';
import { normalizePath } from '../routing/path-normalize.js';
import { AMBIGUOUS } from '../routing/route-table.js';
import { routeMiss } from '../routing/route-miss.js';

export type ReadRequest =
  | { readonly kind: 'refused'; readonly error: ProxyError }
  /** The proxy's own JWKS or discovery document (internal tokens), answered before routing as on the main listener. */
  | { readonly kind: 'well-known'; readonly doc: WellKnownDoc }
  | { readonly kind: 'ok'; readonly ctx: RequestContext; readonly hasBody: boolean; readonly contentLength: number };

const refused = (code: Parameters<typeof proxyError>[0], message: string): ReadRequest => ({ kind: 'refused', error: proxyError(code, message) });

/** What the listener reads of a request head: an HTTP/2 stream's HEADERS, or an HTTP/1.1 request (TLS port, by ALPN). */
export interface RequestHead {
  /** HTTP/2 (false: HTTP/1.1). */
  readonly h2: boolean;
  readonly method: string | undefined;
  /** :path (HTTP/1.1: the request target). */
  readonly url: string | undefined;
  /** Flat [name, value…] as received, pseudo-headers included. */
  readonly rawHeaders: readonly string[];
  readonly remoteAddress: string;
  /** HTTP/2: HEADERS carried END_STREAM (no body follows). */
  readonly endAfterHeaders: boolean;
  readonly contentType: string | undefined;
  /** HTTP/1.1 (not 1.0) on the TLS port: a request without Host is refused (RFC 9112 §3.2). */
  readonly hostRequired?: boolean;
  /** HTTP/1.x on the TLS port: the request line's version (`1.0`, `1.1`); any other is refused. */
  readonly httpVersion?: string;
}

/** Read and route `req`. `secure`: the listener is TLS; `clientCert`: undefined when it asks for no client certificates. */
export function readRequest(req: RequestHead, snap: Snapshot, secure: boolean, clientCert: ClientCertificate | null | undefined): ReadRequest {
  const limits = snap.config.server.limits;
  const h2 = req.h2;
  const method = (req.method ?? 'GET').toUpperCase();
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let bytes = 0;
  let authority: string | null = null;
  let hostHeader: string | null = null;
  let contentLength = -1;
  let chunked = false;
  let connection: string | null = null;
  let cookies: string | null = null;
  // node:http also reads `HTTP/2.0` and `HTTP/0.9` request lines as HTTP/1.x framing
  if (!h2 && req.httpVersion !== '1.0' && req.httpVersion !== '1.1') return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', 'HTTP version other than 1.0 or 1.1');
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const v = raw[i + 1]!;
    bytes += k.length + v.length + 4;
    if (k[0] === ':') { if (k === ':authority') authority = v; continue; }
    if (!visibleAscii(v)) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', `header ${k} has a byte outside visible ASCII, SP and HTAB`);
    // CGI, WSGI, Rack and PHP read `x_auth_subject` as X-Auth-Subject: a stripped identity or
    // forwarding header would pass under its underscore spelling. uWS refuses such names too.
    if (k.indexOf('_') !== -1) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', `header name ${k} has "_" (upstreams read it as "-")`);
    if (k === 'expect') {
      if (unmetExpectation(v)) return refused('PORTCULLIS_ERR_EXPECTATION_FAILED', 'an expectation other than 100-continue cannot be met');
    } else if (k === 'host') {
      if (hostHeader !== null) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', 'more than one Host header');
      hostHeader = v;
    } else if (k === 'content-length') {
      if (!/^\d{1,15}$/.test(v) || (contentLength !== -1 && contentLength !== Number(v))) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', 'invalid Content-Length');
      contentLength = Number(v);
    } else if (k === 'transfer-encoding') {
      // HTTP/1.1: `chunked` alone, once, as the main listener requires (node:http reads a coding
      // list ending in chunked as chunked, and the other coding would be dropped on the way out)
      if (!h2 && (chunked || v.trim().toLowerCase() !== 'chunked')) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', 'unsupported Transfer-Encoding');
      chunked = true;
    } else if (k === 'connection') {
      connection = connection === null ? v : `${connection},${v}`;
    } else if (k === 'cookie' && h2) {
      // RFC 9113 §8.2.3: HTTP/2 may split Cookie into fields; the HTTP/1.1 upstream gets one
      cookies = cookies === null ? v : `${cookies}; ${v}`;
      continue;
    }
    headers.push(k, v);
  }
  if (cookies !== null) headers.push('cookie', cookies);
  if (req.hostRequired === true && hostHeader === null) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', 'HTTP/1.1 request without a Host header');
  if (bytes > limits.max_header_bytes) return refused('PORTCULLIS_ERR_HEADERS_TOO_LARGE', `request headers exceed ${limits.max_header_bytes} bytes`);
  if (url.length > limits.max_url_bytes) return refused('PORTCULLIS_ERR_URL_TOO_LONG', `request target exceeds ${limits.max_url_bytes} bytes`);
  if (query !== '' && !visibleAscii(query)) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', 'query has a byte outside visible ASCII (percent-encode it)');
  if (contentLength > limits.max_body_bytes) return refused('PORTCULLIS_ERR_BODY_TOO_LARGE', `request body exceeds ${limits.max_body_bytes} bytes`);
  // HTTP/2: :authority is the Host (RFC 9113 §8.3.1); a Host field that disagrees is refused, not guessed at
  if (authority !== null) {
    if (hostHeader !== null && hostHeader.toLowerCase() !== authority.toLowerCase()) return refused('PORTCULLIS_ERR_H2_AUTHORITY_MISMATCH', ':authority and Host differ');
    if (hostHeader === null) { headers.push('host', authority); hostHeader = authority; }
  }

  const allowParams = snap.config.server.paths.allow_params;
  const path = normalizePath(rawPath, allowParams);
  if (path === null) {
    return refused('PORTCULLIS_ERR_PATH_AMBIGUOUS', !allowParams && rawPath.includes(';') ? 'path parameters (;) are not accepted (server.paths.allow_params)' : 'path is ambiguous or invalid after normalisation');
  }
  const host = hostHeader === null ? '' : routingHost(hostHeader);
  if (host === null) return refused('PORTCULLIS_ERR_REQUEST_MALFORMED', 'invalid Host header');
  // the proxy's own JWKS and discovery document, before any route (as the main listener answers them)
  if (snap.wellKnown !== null && (method === 'GET' || method === 'HEAD') && path.startsWith('/.well-known/')) {
    const doc = snap.wellKnown(path);
    if (doc !== null) return { kind: 'well-known', doc };
  }
  // identity-provider event paths are the main listener's: never routed here (before, a logout token or an SSF push — with
  // its transmitter's secret — was forwarded to whichever route matched, and the sender saw the upstream's 200)
  if (eventPaths(snap.config).has(path)) return refused('PORTCULLIS_ERR_ROUTE_NOT_FOUND', 'identity-provider event endpoints are served on the main listener (server.listen) only');
  const match = snap.table.resolve(method, host, path);
  if (match === AMBIGUOUS || match === null || !('route' in match)) return { kind: 'refused', error: routeMiss(match, method, path) };

  const ctx: RequestContext = {
    // clientCert always present (undefined: the listener asks for none; readers test the value):
    // a spread in the literal would build every context through a slow copy and a shape of its own
    method, path, query, host, headers, remoteAddress: req.remoteAddress, secure, connection, clientCert,
    // behind a trusted front proxy the log and spans name the client it appended to X-Forwarded-For
    client: snap.config.server.trust_forwarded ? forwardedClient(headers, req.remoteAddress, snap.config.server.trusted_hops) : undefined,
    route: match.route, params: match.params, token: null, tokenSource: null, tokenScheme: 'bearer', principal: null, denyReason: null, responseHeaders: null,
    // the same trace start as the uWS listener (gRPC included): the client's traceparent, else a new trace
    trace: snap.tracer === null ? null : snap.tracer.start(headers),
  };
  // HTTP/2: a body follows unless HEADERS carried END_STREAM; HTTP/1.1: Content-Length or chunked
  const hasBody = h2 ? !req.endAfterHeaders : contentLength > 0 || chunked;
  return { kind: 'ok', ctx, hasBody, contentLength };
}

const EVENT_PATHS = new WeakMap<Config, ReadonlySet<string>>();

/** The back-channel logout and SSF push paths of `config` (once per config version). */
function eventPaths(config: Config): ReadonlySet<string> {
  let paths = EVENT_PATHS.get(config);
  if (paths === undefined) {
    const all = new Set<string>();
    for (const iss of Object.values(config.issuers)) if (iss.backchannel_logout !== undefined) all.add(iss.backchannel_logout.path);
    for (const src of Object.values(config.event_sources)) if (src.push !== undefined) all.add(src.push.path);
    EVENT_PATHS.set(config, (paths = all));
  }
  return paths;
}
