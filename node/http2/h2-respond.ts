// The HTTP/2 listener's own answers: an error as the uWS listener writes it (status, RFC 6750
// challenge, Retry-After, DPoP-Nonce, JSON body: node/http/respond.ts decides the values), or for
// a gRPC request a trailers-only response (HTTP 200, grpc-status, grpc-message, the challenge kept).
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERRORS, type ProxyError } from '../errors.js';
import { challenge, errorBody } from '../http/respond.js';
import { grpcMessage, grpcStatusOf } from './grpc-status.js';
import type { H2StreamResponse } from './h2-stream-response.js';

/** The response of either protocol on the listener (an HTTP/2 stream, or HTTP/1.1 by ALPN). */
export type AnyResponse = H2StreamResponse | ServerResponse;

/** Headers of an error answer (without framing), as an object node:http2 and node:http both take. */
function errorHeaders(err: ProxyError, realm: string): Record<string, string> {
  const h: Record<string, string> = {};
  const ch = challenge(err, realm);
  if (ch !== null) h['www-authenticate'] = ch;
  if (err.retryAfter !== undefined) h['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfter)));
  if (err.allow !== undefined) h['allow'] = err.allow;
  if (err.dpop?.nonce !== undefined) h['dpop-nonce'] = err.dpop.nonce;
  return h;
}

/**
 * Write `err` as a complete response; returns the HTTP status written (200 for gRPC). `grpc`: the
 * request was gRPC → trailers-only answer, which grpc clients read as the call's status.
 */
export function writeH2Error(res: AnyResponse, err: ProxyError, realm: string, head: boolean, grpc: boolean, policy: string | null = null): number {
  const status = ERRORS[err.code].status;
  const h = errorHeaders(err, realm);
  if (policy !== null) h['x-portcullis-policy'] = policy; // cluster.policy.response_header
  if (grpc) {
    h['content-type'] = 'application/grpc';
    h['grpc-status'] = String(grpcStatusOf(status));
    h['grpc-message'] = grpcMessage(err.message);
    // head only, then end(): on HTTP/2 one HEADERS frame with END_STREAM (H2StreamResponse.end)
    res.statusCode = 200;
    for (const k of Object.keys(h)) res.setHeader(k, h[k]!);
    res.end();
    return 200;
  }
  h['content-type'] = 'application/json';
  h['cache-control'] = 'no-store';
  const body = errorBody(err);
  h['content-length'] = String(Buffer.byteLength(body));
  // HTTP/1.1 by ALPN with the request body not read to its end: close after the answer, as the uWS
  // listener does — to keep the connection node:http would read and drop the rest, without bound
  if (!('stream' in res) && bodyUnread(res)) h.connection = 'close';
  // the proxy's own answer: no trailers follow its body
  if ('stream' in res) res.writeHead(status, h, false); else res.writeHead(status, h);
  if (head) res.end(); else res.end(body);
  return status;
}

/** An HTTP/1.1 request with a body (Content-Length > 0 or Transfer-Encoding) that has not all arrived. */
function bodyUnread(res: ServerResponse): boolean {
  const req = res.req;
  if (req.complete) return false;
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/**
 * `err` as an HTTP/1.1 answer on a bare socket, then the connection closed: node:http hands a
 * CONNECT request over as its socket (no response object). Returns the status written.
 */
export function writeSocketError(socket: Duplex, err: ProxyError, realm: string, policy: string | null = null): number {
  const status = ERRORS[err.code].status;
  const h = errorHeaders(err, realm);
  if (policy !== null) h['x-portcullis-policy'] = policy; // cluster.policy.response_header
  const body = errorBody(err);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n`;
  for (const k of Object.keys(h)) head += `${k}: ${h[k]!}\r\n`;
  socket.end(`${head}\r\n${body}`);
  return status;
}

/** The proxy's own JWKS or discovery document (200), as the main listener writes it; returns the body bytes written. */
export function writeH2Document(res: AnyResponse, body: string, cacheControl: string, head: boolean, policy: string | null): number {
  const h: Record<string, string> = { 'content-type': 'application/json', 'cache-control': cacheControl, 'content-length': String(Buffer.byteLength(body)) };
  if (policy !== null) h['x-portcullis-policy'] = policy; // cluster.policy.response_header
  if ('stream' in res) res.writeHead(200, h, false); else res.writeHead(200, h);
  if (head) { res.end(); return 0; }
  res.end(body);
  return Buffer.byteLength(body);
}
