// What an upstream-client failure (H1Error, node/errors.ts UPSTREAM_ERRORS) means for the
// request: the upstream_errors_total kind, the access-log reason and the answer the client gets
// when nothing was written yet; and failedBeforeHead, the one reading both listeners' relays apply to a
// failure before the response head (counted, the target charged, retried on another target or answered).
import { proxyError, type ProxyError } from '../errors.js';
import { isConnectFailure, retryOnAnotherTarget, type H1Error } from '../upstream/h1-client.js';
import type { Target, UpstreamPool } from '../upstream/upstream-pool.js';

export interface UpstreamFailure {
  /** `portcullis_upstream_errors_total{kind}`; null: not counted against the upstream. */
  readonly metric: string | null;
  /** Access log `reason`. */
  readonly reason: string;
  /** The answer when no response byte reached the client yet. */
  readonly error: ProxyError;
}

/** Failure kinds that count toward the target's passive ejection: it did not answer as an HTTP server (Envoy's gateway failures). */
const GATEWAY_KINDS: ReadonlySet<string> = new Set(['connect', 'connect_timeout', 'tls', 'reset', 'protocol']);

/** OpenSSL's certificate-verification codes as node:tls names them (X509_V_ERR_* without the prefix). */
const CERT_VERIFY_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'CERT_REVOKED',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'INVALID_PURPOSE', 'PATH_LENGTH_EXCEEDED', 'CERT_CHAIN_TOO_LONG',
  'HOSTNAME_MISMATCH', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);

/** A connect failure that is the TLS handshake's: a certificate check (node's ERR_TLS_CERT_ALTNAME_INVALID for the name) or an OpenSSL error (ERR_SSL_*: a plain-HTTP port, an alert). */
function tlsFailure(code: string): boolean {
  return CERT_VERIFY_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_');
}

/**
 * What a TLS failure's code says went wrong: an alert is the upstream refusing the proxy's handshake
 * (it asks for a client certificate, or shares no version or suite), not its certificate failing the
 * proxy's check (before, every code read "its certificate is not trusted", sending operators to the wrong side).
 */
function tlsCause(code: string): string {
  if (code.startsWith('ERR_SSL_') && code.includes('_ALERT_')) return 'it refused the handshake (it may require a client certificate, or share no TLS version or suite)';
  if (code.startsWith('ERR_SSL_')) return 'it does not speak TLS, or not a TLS the proxy accepts';
  return 'its certificate is not trusted for its name';
}

/**
 * Does `f` (beforeHeadFailure of `err`) count against the target? A refused connect, a reset before any response byte,
 * an invalid response: yes. Timeouts (a route's deadline, a slow upload), our side's failures, and a reset while the
 * request body was still on its way (err.bodyUnsent: an upstream refusing that upload early — a 413 and a close — loses
 * its answer to the reset; the body is the client's, so a client must not eject a healthy target with it): no.
 */
export function gatewayFailure(f: UpstreamFailure, err: H1Error): boolean {
  return f.metric !== null && GATEWAY_KINDS.has(f.metric) && !(f.metric === 'reset' && err.bodyUnsent === true);
}

/** How a listener reads a failure before the head: beforeHeadFailure, or h2BeforeHeadFailure (the H2_* codes first). */
export type BeforeHeadReading = (err: H1Error, upstream: string, connect: boolean, idleBodyMs: number) => UpstreamFailure;

/**
 * A failure before any response head of the request's attempt on `target`, read by `read`: counted against
 * the upstream (`host.upstreamError`, unless its metric is null), the target charged when it did not answer
 * as an HTTP server (gatewayFailure: toward ejection); then null when the request goes once more to another
 * target (retryOnAnotherTarget, README "Retries": the caller dispatches it), else the failure to answer with.
 */
export function failedBeforeHead(
  err: H1Error, up: UpstreamPool, target: Target, read: BeforeHeadReading, host: { upstreamError(upstream: string, kind: string): void },
  attempt: number, hasBody: boolean, method: string,
): UpstreamFailure | null {
  const connect = isConnectFailure(err);
  const f = read(err, up.name, connect, up.config.timeouts.idle_body_ms);
  if (f.metric !== null) host.upstreamError(up.name, f.metric);
  // a target that resets or garbles every request counts as failing as much as one that refuses connects (README "Retries")
  if (gatewayFailure(f, err)) up.targetFailed(target);
  return connect && retryOnAnotherTarget(err, attempt, hasBody, method, up.targets.length) ? null : f;
}

/** A failure after the upstream's response head arrived (mid-body, or while a head of unknown length was held). */
export function midBodyFailure(err: H1Error, upstream: string, idleBodyMs: number): UpstreamFailure {
  if (err.code === 'H1_BODY_TIMEOUT') {
    return { metric: 'body_timeout', reason: 'upstream_body_timeout', error: proxyError('PORTCULLIS_ERR_UPSTREAM_TIMEOUT', `upstream "${upstream}" sent a response head but no body within ${idleBodyMs} ms`) };
  }
  if (err.code === 'H1_PROTOCOL') {
    return { metric: 'protocol', reason: 'upstream_protocol', error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" sent an invalid response`) };
  }
  return { metric: 'reset_mid_body', reason: 'upstream_reset', error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" closed the connection`) };
}

/** A failure before any response head. `connect`: isConnectFailure(err) (h1-client.ts); `idleBodyMs`: the upstream's idle_body_ms, for the message. */
export function beforeHeadFailure(err: H1Error, upstream: string, connect: boolean, idleBodyMs = 0): UpstreamFailure {
  const code = err.code;
  if (connect && (code === 'EMFILE' || code === 'ENFILE')) {
    // the proxy had no file descriptor for the socket (its open-files limit): its own side, never charged to the
    // target (before: counted as the target refusing, toward its ejection, and logged as upstream_connect)
    return { metric: 'local_fd_limit', reason: 'local_fd_limit', error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `no file descriptor left to connect to upstream "${upstream}"`) };
  }
  if (connect && tlsFailure(code)) {
    // the TLS handshake failed (a certificate that does not verify, another name, no TLS at all): said so, not
    // "refused" — the operator looks at certificates, not at whether the service is up; the target is at fault
    return { metric: 'tls', reason: 'upstream_tls', error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" failed the TLS handshake (${code}): ${tlsCause(code)}`) };
  }
  if (connect) {
    // refused, unreachable, connect timeout: the target is at fault
    const timeout = code === 'ETIMEDOUT';
    return { metric: timeout ? 'connect_timeout' : 'connect', reason: timeout ? 'upstream_connect_timeout' : 'upstream_connect', error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" refused the connection`) };
  }
  switch (code) {
    // our side failed (client body cut or mismatched, pool closing on reload, a bug): not the target's fault
    case 'H1_REQUEST_BODY':
      return { metric: 'request_body', reason: 'request_body', error: ourSide(upstream) };
    case 'H1_CLOSED':
      return { metric: 'pool_closed', reason: 'upstream_pool_closed', error: ourSide(upstream) };
    case 'H1_HANDLER':
      return { metric: 'internal', reason: 'internal', error: ourSide(upstream) };
    case 'H1_REQUEST_HEAD':
      // nothing was written: a request the client cannot have sent in valid form (the listener
      // refuses non-ASCII bytes first); never counted against the upstream
      return { metric: null, reason: 'request_unsendable', error: proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'the request cannot be forwarded unchanged') };
    case 'H1_HEADERS_TIMEOUT':
      return { metric: 'timeout', reason: 'upstream_timeout', error: proxyError('PORTCULLIS_ERR_UPSTREAM_TIMEOUT', `upstream "${upstream}" did not answer in time`) };
    case 'H1_PROTOCOL':
      return { metric: 'protocol', reason: 'upstream_protocol', error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" sent an invalid response`) };
    case 'H1_BODY_TIMEOUT':
      // before a head, this is the upstream that stopped reading the request body for idle_body_ms
      // (it answered 502 "closed the connection" before, the client was never at fault)
      return { metric: 'request_body_timeout', reason: 'upstream_request_body_timeout', error: proxyError('PORTCULLIS_ERR_UPSTREAM_TIMEOUT', `upstream "${upstream}" did not read the request body for ${idleBodyMs} ms`) };
    default:
      // H1_RESET
      return { metric: 'reset', reason: 'upstream_reset', error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" closed the connection`) };
  }
}

/**
 * A request body not all arrived by `server.timeouts.request_ms`. `heldBack`: the proxy was holding
 * the client back because what it had was not taken yet (backpressure), so the upstream (named
 * `upstream`, null while none was picked) is late, not the client: 504. Otherwise the client did not
 * send it: 408, and `metric` null (it is the listener's request_timeouts_total, not the upstream's).
 */
export function lateRequestBody(upstream: string | null, heldBack: boolean, requestMs: number): UpstreamFailure {
  if (upstream === null || !heldBack) return { metric: null, reason: 'request_timeout', error: proxyError('PORTCULLIS_ERR_REQUEST_TIMEOUT', 'request body not received in time') };
  return { metric: 'request_body_timeout', reason: 'upstream_request_body_timeout', error: proxyError('PORTCULLIS_ERR_UPSTREAM_TIMEOUT', `upstream "${upstream}" did not take the request body within ${requestMs} ms`) };
}

function ourSide(upstream: string): ProxyError {
  return proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `request to upstream "${upstream}" failed`);
}
