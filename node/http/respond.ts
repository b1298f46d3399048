// The one place where an error becomes an HTTP response: status line, RFC 6750
// challenge, Retry-After and a JSON body carrying the same code. Callers must hold
// the uWS cork (or be inside the request handler's synchronous part).
import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from 'uWebSockets.js';
import { ERRORS, type ProxyError } from '../errors.js';
import { POLICY_HEADER } from '../pipeline/index.js';
import { answerAfterParse, handlerScope, inlineAnswer } from '../handler-scope.js';

const STATUS_LINES: string[] = [];
/** "404 Not Found" for a status code, cached. */
export function statusLine(code: number): string {
  let s = STATUS_LINES[code];
  if (s === undefined) {
    s = `${code} ${STATUS_CODES[code] ?? 'Unknown'}`;
    STATUS_LINES[code] = s;
  }
  return s;
}

function quote(s: string): string {
  // RFC 6750 §3: attribute values are quoted-strings of %x20-21 / %x23-5B / %x5D-7E
  return s.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/**
 * WWW-Authenticate value for an auth error, or null when none applies. Errors carrying `dpop`
 * (requests of DPoP-bound tokens or DPoP routes) and DPoP proof errors use the DPoP scheme
 * with `algs` (RFC 9449 §7.1); all others the Bearer scheme (RFC 6750 §3).
 */
export function challenge(err: ProxyError, realm: string): string | null {
  const dpop = err.dpop;
  if (dpop === undefined && err.code !== 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' && err.code !== 'PORTCULLIS_ERR_DPOP_NONCE_REQUIRED') {
    return challengeParams(err, `Bearer realm="${quote(realm)}"`);
  }
  const c = challengeParams(err, `DPoP realm="${quote(realm)}"`);
  return c === null || dpop === undefined || dpop.algs === '' ? c : `${c}, algs="${quote(dpop.algs)}"`;
}

function challengeParams(err: ProxyError, base: string): string | null {
  switch (err.code) {
    case 'PORTCULLIS_ERR_AUTH_MISSING':
      return base;
    case 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN':
      return `${base}, error="invalid_token", error_description="${quote(err.message)}"`;
    case 'PORTCULLIS_ERR_AUTH_INVALID_REQUEST':
      return `${base}, error="invalid_request", error_description="${quote(err.message)}"`;
    case 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE':
      return `${base}, error="insufficient_scope", error_description="${quote(err.message)}"${err.scope !== undefined ? `, scope="${quote(err.scope)}"` : ''}`;
    case 'PORTCULLIS_ERR_DPOP_INVALID_PROOF':
      return `${base}, error="invalid_dpop_proof", error_description="${quote(err.message)}"`;
    case 'PORTCULLIS_ERR_DPOP_NONCE_REQUIRED':
      return `${base}, error="use_dpop_nonce", error_description="${quote(err.message)}"`;
    default:
      return null;
  }
}

/** JSON body of an error response. */
export function errorBody(err: ProxyError): string {
  const spec = ERRORS[err.code];
  const o: Record<string, unknown> = { error: spec.oauth === '' ? 'unauthorized' : spec.oauth, code: err.code, message: err.message };
  if (err.scope !== undefined) o.scope = err.scope;
  return JSON.stringify(o);
}

/**
 * Write a complete error response. `closeConnection` when the request body was
 * not consumed (the connection cannot be reused). `policy`: the snapshot's
 * `X-Portcullis-Policy` value, or null (off). `nameCode`: a decision endpoint's answer also
 * names the code in `X-Portcullis-Error` (an edge that keeps no body — nginx's auth_request —
 * answers from it). Returns the status written.
 */
export function writeError(res: HttpResponse, err: ProxyError, realm: string, closeConnection: boolean, head = false, policy: string | null = null, nameCode = false): number {
  const spec = ERRORS[err.code];
  res.writeStatus(statusLine(spec.status));
  const ch = challenge(err, realm);
  if (ch !== null) res.writeHeader('www-authenticate', ch);
  if (err.retryAfter !== undefined) res.writeHeader('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  if (err.allow !== undefined) res.writeHeader('allow', err.allow);
  if (err.dpop?.nonce !== undefined) res.writeHeader('dpop-nonce', err.dpop.nonce);
  // RFC 6455 §4.4: name the versions we speak; RFC 9110 §15.5.22: a 426 names the protocol to upgrade to
  if (err.code === 'PORTCULLIS_ERR_WEBSOCKET_VERSION') { res.writeHeader('sec-websocket-version', '13'); res.writeHeader('upgrade', 'websocket'); }
  res.writeHeader('content-type', 'application/json');
  res.writeHeader('cache-control', 'no-store');
  if (policy !== null) res.writeHeader(POLICY_HEADER, policy);
  if (nameCode) res.writeHeader('x-portcullis-error', err.code);
  const body = errorBody(err);
  if (head) {
    // Bare endWithoutBody(): this uWS build writes "Content-Length: 2^63" for
    // endWithoutBody(undefined, close) and aborts the process on endWithoutBody(n > 0)
    // inside the handler. The connection stays open; uWS discards any unread body.
    res.writeHeader('content-length', String(Buffer.byteLength(body)));
    res.endWithoutBody();
  } else if (closeConnection) {
    res.end(body, true);
  } else if (!res.tryEnd(body, Buffer.byteLength(body))[1]) {
    // answers to this client are still unsent (it does not read while it sends requests): close
    // rather than queue one more in the process (pipelined floods, README "Limitations")
    res.close();
  }
  return spec.status;
}

/**
 * writeError, held past uWS's parse loop when it closes the connection and runs inside the
 * handler — also a keep-alive answer past the turn's INLINE_ANSWERS_PER_TURN, which then closes —
 * handler (node/handler-scope.ts answerAfterParse: it registers the response's onAborted, so only
 * for a response whose owner keeps its own state). Returns the status the answer has or will have.
 */
export function writeClosingError(res: HttpResponse, err: ProxyError, realm: string, closeConnection: boolean, head: boolean, policy: string | null, nameCode = false): number {
  if (!handlerScope.inside || (!closeConnection && inlineAnswer())) return writeError(res, err, realm, closeConnection, head, policy, nameCode);
  answerAfterParse(res, () => writeError(res, err, realm, true, head, policy, nameCode));
  return ERRORS[err.code].status;
}
