// The checks the uWS listener makes on an HTTP/1.1 request's head before anything else reads it:
// sizes (headers, target, declared body), bytes outside visible ASCII, one Host, one valid
// Content-Length, chunked at most once and never beside a length, and an Expect it can meet.
import type { Config } from '../config/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import { visibleAscii, type HeaderCollector } from '../routing/request-bytes.js';
import { unmetExpectation } from './expectation.js';

/**
 * What one request's head said about its framing, read by `check`. One per listener module, its
 * fields overwritten by every request (read synchronously in the handler): no object per request.
 */
export class RequestFraming {
  /** The Host header's value; null without one. */
  hostHeader: string | null = null;
  /** The declared body length; -1 without Content-Length. */
  contentLength = -1;
  /** Transfer-Encoding: chunked. */
  chunked = false;
  /** The Connection header's values, joined by commas; null without one. */
  connectionNames: string | null = null;

  /**
   * Check the head in `collected` (its headers, their size, the first header with a bad byte) with
   * its target (`rawPath`, `query`) against `limits`. Null when it may go on (the fields above are then
   * this request's), else the error it is refused with (400/413/417/431/414), nothing forwarded.
   */
  check(collected: HeaderCollector, rawPath: string, query: string, limits: Config['server']['limits']): ProxyError | null {
    if (collected.bytes > limits.max_header_bytes) return proxyError('PORTCULLIS_ERR_HEADERS_TOO_LARGE', `request headers exceed ${limits.max_header_bytes} bytes`);
    if (rawPath.length + query.length > limits.max_url_bytes) return proxyError('PORTCULLIS_ERR_URL_TOO_LONG', `request target exceeds ${limits.max_url_bytes} bytes`);
    if (collected.bad !== null) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', `header ${collected.bad} has a byte outside visible ASCII, SP and HTAB`);
    if (query !== '' && !visibleAscii(query)) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'query has a byte outside visible ASCII (percent-encode it)');

    const headers = collected.headers;
    let hostHeader: string | null = null;
    let contentLength = -1;
    let chunked = false;
    let connectionNames: string | null = null;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      if (k === 'host') {
        if (hostHeader !== null) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'more than one Host header');
        hostHeader = headers[i + 1]!;
      } else if (k === 'content-length') {
        const v = headers[i + 1]!;
        if (!/^\d{1,15}$/.test(v) || (contentLength !== -1 && contentLength !== Number(v))) {
          return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'invalid Content-Length');
        }
        contentLength = Number(v);
      } else if (k === 'transfer-encoding') {
        // chunked once, at most (RFC 9112 §6.1): a second line is a framing a front proxy may read otherwise
        if (chunked || headers[i + 1]!.toLowerCase().trim() !== 'chunked') return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'unsupported Transfer-Encoding');
        chunked = true;
      } else if (k === 'connection') {
        connectionNames = connectionNames === null ? headers[i + 1]! : `${connectionNames},${headers[i + 1]!}`;
      } else if (k === 'expect' && unmetExpectation(headers[i + 1]!)) { // uWS meets 100-continue itself
        return proxyError('PORTCULLIS_ERR_EXPECTATION_FAILED', 'an expectation other than 100-continue cannot be met');
      }
    }
    if (chunked && contentLength !== -1) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'both Content-Length and Transfer-Encoding');
    if (contentLength > limits.max_body_bytes) return proxyError('PORTCULLIS_ERR_BODY_TOO_LARGE', `request body exceeds ${limits.max_body_bytes} bytes`);
    this.hostHeader = hostHeader;
    this.contentLength = contentLength;
    this.chunked = chunked;
    this.connectionNames = connectionNames;
    return null;
  }
}
