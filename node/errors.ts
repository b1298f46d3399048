// The one registry of Portcullis error codes: stable code, HTTP status, source and
// retryability. Callers branch on `code`; failures cross workers and the bus as
// plain `{ code, message }`. An error becomes an HTTP response only in http/respond.ts.

/** Where a failure came from: the client, an upstream/authorization server, or us. */
export type ErrorSource = 'downstream' | 'upstream' | 'internal';

export interface ErrorSpec {
  readonly status: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  /** RFC 6750 / OAuth error string used in the JSON body and the challenge. */
  readonly oauth: string;
  /** One line for the README table. */
  readonly doc: string;
}

/** Every error Portcullis can answer with. Adding a code requires a `doc` line. */
export const ERRORS = {
  PORTCULLIS_ERR_REQUEST_MALFORMED: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'request line, headers or path could not be parsed unambiguously, or a header value or the query has a byte outside visible ASCII' },
  PORTCULLIS_ERR_PATH_AMBIGUOUS: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'path contains encoded slashes, NUL, backslashes, `;` parameters, escapes above the root, or reads as another route ignoring case, a trailing slash, trailing dots or spaces at a segment edge' },
  PORTCULLIS_ERR_BODY_TOO_LARGE: { status: 413, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'request body exceeds server.limits.max_body_bytes' },
  PORTCULLIS_ERR_URL_TOO_LONG: { status: 414, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'request target exceeds server.limits.max_url_bytes' },
  PORTCULLIS_ERR_HEADERS_TOO_LARGE: { status: 431, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'request headers exceed server.limits.max_header_bytes' },
  PORTCULLIS_ERR_REQUEST_TIMEOUT: { status: 408, source: 'downstream', retryable: true, oauth: 'invalid_request', doc: 'request body not received within server.timeouts.request_ms' },
  PORTCULLIS_ERR_WEBSOCKET_HANDSHAKE: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'WebSocket upgrade on a websocket route that is not a valid RFC 6455 handshake (method, Upgrade, Connection, Sec-WebSocket-Key)' },
  PORTCULLIS_ERR_WEBSOCKET_ORIGIN: { status: 403, source: 'downstream', retryable: false, oauth: 'access_denied', doc: "WebSocket upgrade authenticated by a cookie from a page of another origin than the route's own, its cookie_origins or its websocket_origins (cross-site WebSocket hijacking); at a decision endpoint or gRPC Check, the verdict on such a handshake (the edge opens the socket)" },
  PORTCULLIS_ERR_WEBSOCKET_VERSION: { status: 426, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'WebSocket upgrade without Sec-WebSocket-Version 13; the answer carries Sec-WebSocket-Version: 13' },
  PORTCULLIS_ERR_EXPECTATION_FAILED: { status: 417, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'an `Expect` other than `100-continue` (RFC 9110 §10.1.1), on every listener: the proxy meets no other expectation, nothing is forwarded' },
  PORTCULLIS_ERR_MAX_FORWARDS_ZERO: { status: 501, source: 'internal', retryable: false, oauth: 'not_implemented', doc: 'OPTIONS or TRACE with `Max-Forwards: 0` (RFC 9110 §7.6.2): the request ends at the proxy, which does not answer either method itself; nothing is forwarded' },
  PORTCULLIS_ERR_CONNECT_REFUSED: { status: 405, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'HTTP/2 listener: CONNECT (a tunnel; a stream without :path, or HTTP/1.1 CONNECT on its TLS port): the proxy relays HTTP requests only, nothing is forwarded' },
  PORTCULLIS_ERR_DECISION_UNTRUSTED_EDGE: { status: 403, source: 'downstream', retryable: false, oauth: 'access_denied', doc: 'a decision endpoint was called from an address outside server.decision.trusted_edges' },
  PORTCULLIS_ERR_DECISION_UPGRADE: { status: 403, source: 'downstream', retryable: false, oauth: 'access_denied', doc: 'a decision on a request asking to switch to another protocol than WebSocket (`Upgrade: h2c`…): the edge would tunnel the connection to the app once it answers 101, and the requests sent on it afterwards would reach the app unjudged' },
  PORTCULLIS_ERR_DECISION_WEBSOCKET_ROUTE: { status: 403, source: 'downstream', retryable: false, oauth: 'access_denied', doc: 'a decision on a WebSocket handshake (Sec-WebSocket-Key/-Version or Upgrade: websocket) for a route without websocket: true, where proxy mode never upgrades' },
  PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: "a decision call without the original request in its dialect's headers (X-Original-URI/-Method, X-Forwarded-Uri/-Method), sent twice, or malformed" },
  PORTCULLIS_ERR_METHOD_OVERRIDE: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'the query carries `_method` (the method override Spring, Symfony/Laravel and Express run), or at a decision endpoint a method-override header (`X-HTTP-Method-Override`…), naming a method that would select another route than the request line\'s, or that is not a method' },
  PORTCULLIS_ERR_URL_OVERRIDE: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'at a decision endpoint, a URL-override header the app behind the edge may obey (`X-Original-URL`, `X-Rewrite-URL`…) names another path than the original request\'s' },
  PORTCULLIS_ERR_FORWARDED_HOST: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'with `server.trust_forwarded`, an `X-Forwarded-Host` that is not one valid host[:port] (a list, two lines) or that selects another route than `Host` did; at a decision endpoint or gRPC Check, any host override (X-Forwarded-Host, X-Original-Host, X-Host, X-HTTP-Host-Override) that is not one host or selects another route than the judged one: the upstream would read the host the proxy did not judge' },
  PORTCULLIS_ERR_ROUTE_NOT_FOUND: { status: 404, source: 'downstream', retryable: false, oauth: 'not_found', doc: 'no route matches host, method and path' },
  PORTCULLIS_ERR_ROUTE_METHOD_NOT_ALLOWED: { status: 405, source: 'downstream', retryable: false, oauth: 'method_not_allowed', doc: 'the host and path are a route\'s with other_methods: refuse and it does not list the method (Allow names those it does)' },
  PORTCULLIS_ERR_AUTH_MISSING: { status: 401, source: 'downstream', retryable: false, oauth: '', doc: 'route requires a token and none was sent (challenge carries no error code)' },
  PORTCULLIS_ERR_AUTH_INVALID_TOKEN: { status: 401, source: 'downstream', retryable: false, oauth: 'invalid_token', doc: 'token malformed, badly signed, expired, revoked or inactive' },
  PORTCULLIS_ERR_AUTH_INVALID_REQUEST: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'more than one credential, or a malformed Bearer/DPoP Authorization, token header or cookie' },
  PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE: { status: 403, source: 'downstream', retryable: false, oauth: 'insufficient_scope', doc: 'token valid but lacks the scopes the route needs' },
  PORTCULLIS_ERR_AUTH_CROSS_ORIGIN: { status: 403, source: 'downstream', retryable: false, oauth: 'access_denied', doc: "a state-changing request (not GET, HEAD or OPTIONS) authenticated by a token from a cookie, sent by a page of another origin than the route's own or its cookie_origins (Sec-Fetch-Site or Origin; cross-site request forgery)" },
  PORTCULLIS_ERR_AUTH_FORBIDDEN: { status: 403, source: 'downstream', retryable: false, oauth: 'access_denied', doc: 'token valid but a claim, role or issuer rule of the route refused it' },
  PORTCULLIS_ERR_CLIENT_CERT_MISSING: { status: 401, source: 'downstream', retryable: false, oauth: 'unauthorized_client', doc: 'route requires a client certificate (routes[].client_cert) and the connection presented none' },
  PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN: { status: 403, source: 'downstream', retryable: false, oauth: 'access_denied', doc: "the client certificate's subject CN, SAN URI or SAN DNS does not match the route's client_cert rule" },
  PORTCULLIS_ERR_CLIENT_CERT_UNAVAILABLE: { status: 421, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'route requires a client certificate but the request came on a listener that cannot see one (the uWS listener, or HTTP/2 without tls.client_ca_file)' },
  PORTCULLIS_ERR_DPOP_INVALID_PROOF: { status: 401, source: 'downstream', retryable: false, oauth: 'invalid_dpop_proof', doc: 'DPoP proof missing, malformed, for another method or URI, stale, badly signed, not matching the token, or replayed (RFC 9449)' },
  PORTCULLIS_ERR_DPOP_NONCE_REQUIRED: { status: 401, source: 'downstream', retryable: false, oauth: 'use_dpop_nonce', doc: 'route requires a server nonce in the DPoP proof; the DPoP-Nonce header carries the current one' },
  PORTCULLIS_ERR_AUTH_UNAVAILABLE: { status: 503, source: 'upstream', retryable: true, oauth: 'temporarily_unavailable', doc: 'keys not loaded yet, or the authorization server failed, or a DPoP proof dated within the window of a replay record this build could not read; never a 200' },
  PORTCULLIS_ERR_EXCHANGE_TOKEN_UNUSABLE: { status: 502, source: 'upstream', retryable: false, oauth: 'bad_gateway', doc: 'token exchange (RFC 8693): the authorization server issued a JWT whose aud does not include the audience asked for, that has expired, or whose claims cannot be read; nothing forwarded' },
  PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE: { status: 502, source: 'upstream', retryable: true, oauth: 'bad_gateway', doc: 'upstream refused or reset the connection, or every target is ejected' },
  PORTCULLIS_ERR_UPSTREAM_TIMEOUT: { status: 504, source: 'upstream', retryable: true, oauth: 'gateway_timeout', doc: 'upstream did not answer within the upstream timeout' },
  PORTCULLIS_ERR_H2_AUTHORITY_MISMATCH: { status: 400, source: 'downstream', retryable: false, oauth: 'invalid_request', doc: 'HTTP/2 request whose Host field names another host than its :authority (RFC 9113 §8.3.1): refused, not guessed at' },
  PORTCULLIS_ERR_H2_UPSTREAM_RESET: { status: 502, source: 'upstream', retryable: true, oauth: 'bad_gateway', doc: 'an HTTP/2 upstream reset the stream (RST_STREAM), refused it again after its one retry (REFUSED_STREAM, past GOAWAY) or ended its session before the response head' },
  PORTCULLIS_ERR_H2_DEADLINE_EXCEEDED: { status: 504, source: 'upstream', retryable: false, oauth: 'gateway_timeout', doc: "a gRPC call outlived the caller's grpc-timeout: the upstream stream is reset (CANCEL) and the call ends with grpc-status 4 DEADLINE_EXCEEDED" },
  PORTCULLIS_ERR_SHUTTING_DOWN: { status: 503, source: 'internal', retryable: true, oauth: 'temporarily_unavailable', doc: 'instance is draining for shutdown' },
  PORTCULLIS_ERR_INTERNAL: { status: 500, source: 'internal', retryable: false, oauth: 'server_error', doc: 'a bug: logged with its stack, never with a token' },
  PORTCULLIS_ERR_ADMIN_UNAUTHORIZED: { status: 401, source: 'downstream', retryable: false, oauth: 'invalid_token', doc: 'admin API call without the admin bearer token' },
  PORTCULLIS_ERR_ADMIN_FORBIDDEN: { status: 403, source: 'downstream', retryable: false, oauth: 'insufficient_scope', doc: 'the metrics token (admin.metrics_token_env) on an admin call other than GET /metrics' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A failure as plain data: safe to structured-clone across a worker or the bus. */
export interface ProxyError {
  readonly code: ErrorCode;
  /** Human readable, never contains a token or secret. */
  readonly message: string;
  /** RFC 6750 `scope` attribute for insufficient_scope. */
  readonly scope?: string;
  /** Seconds, for 503/429. */
  readonly retryAfter?: number;
  /** The `Allow` header of a 405 (RFC 9110 §10.2.1): the methods the route takes. */
  readonly allow?: string;
  /**
   * DPoP challenge (RFC 9449 §7.1): WWW-Authenticate uses the DPoP scheme with `algs`, and
   * `nonce` (when set) goes out as the DPoP-Nonce header.
   */
  readonly dpop?: { readonly algs: string; readonly nonce?: string };
}

/** Build a plain error record. */
export function proxyError(code: ErrorCode, message: string, extra?: { scope?: string; retryAfter?: number; allow?: string }): ProxyError {
  return extra === undefined ? { code, message } : { code, message, ...extra };
}

/** What an upstream-client failure means: who is at fault. */
export interface UpstreamErrorSpec {
  /** upstream: counted against the upstream; proxy: our side (client body, reload, bug); request: the request cannot be sent as it is. */
  readonly blame: 'upstream' | 'proxy' | 'request';
  readonly doc: string;
}

/**
 * The upstream clients' failure codes (node/upstream, H1Error.code; H2_* only from HTTP/2 upstreams). Internal: never
 * sent to a client; node/http/upstream-failure.ts maps each to the client's answer, the
 * access-log reason and the upstream_errors_total kind (node/http2/h2-upstream-failure.ts the
 * H2_* ones on the HTTP/2 listener). A failure while connecting carries the
 * socket's own code instead (ECONNREFUSED, ETIMEDOUT for the connect timeout, TLS codes…).
 */
export const UPSTREAM_ERRORS = {
  H1_HEADERS_TIMEOUT: { blame: 'upstream', doc: 'no response head within the headers timeout after the request was sent, or no connection free within it' },
  H1_BODY_TIMEOUT: { blame: 'upstream', doc: 'no response body bytes (or no request-body progress while the upstream stops reading) within the body timeout' },
  H1_PROTOCOL: { blame: 'upstream', doc: 'malformed or ambiguous response' },
  H1_RESET: { blame: 'upstream', doc: 'connection closed before the response completed' },
  H1_REQUEST_HEAD: { blame: 'request', doc: 'a method, target, header name or value that cannot be sent as it is; reported before anything is written' },
  H1_REQUEST_BODY: { blame: 'proxy', doc: 'request body stream failed or did not match its content-length' },
  H1_HANDLER: { blame: 'proxy', doc: 'a response handler callback threw' },
  H1_CLOSED: { blame: 'proxy', doc: 'the pool was closed or destroyed (reload, shutdown)' },
  // HTTP/2 upstreams (node/upstream/h2-call.ts): failures HTTP/1.1 has no word for; the rest keep the H1_ codes above
  H2_STREAM_RESET: { blame: 'upstream', doc: 'the HTTP/2 upstream reset the stream (RST_STREAM; its error code travels as rstCode and reaches an HTTP/2 client as RST_STREAM)' },
  H2_REFUSED_STREAM: { blame: 'upstream', doc: "the stream was refused (REFUSED_STREAM, or past GOAWAY's last stream id) again after its one retry on a fresh session, or with a body that cannot be replayed" },
  H2_SESSION_CLOSED: { blame: 'upstream', doc: 'the HTTP/2 session ended (GOAWAY, connection lost) with the stream open and no reset code' },
} as const satisfies Record<string, UpstreamErrorSpec>;

export type UpstreamErrorCode = keyof typeof UPSTREAM_ERRORS;
