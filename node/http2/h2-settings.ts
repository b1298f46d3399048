// The SETTINGS the HTTP/2 listener advertises (RFC 9113 §6.5.2), from server.http2 and server.limits:
// built at start, and the header list size again for sessions opened after a reload changes
// server.limits.max_header_bytes (node:http2 server.updateSettings; open sessions keep theirs).
import type { Settings } from 'node:http2';
import type { Config, Http2Config } from '../config/index.js';

/**
 * SETTINGS_MAX_HEADER_LIST_SIZE, octets: `max_header_bytes` plus HPACK's 32 per field (RFC 7541
 * §4.1). node:http2 resets a stream whose header block decodes past it (ENHANCE_YOUR_CALM), which
 * bounds HPACK bombs and CONTINUATION floods; the per-request 431 check stays the exact one.
 */
export function maxHeaderListSize(limits: Config['server']['limits'], c: Http2Config): number {
  return limits.max_header_bytes + 32 * c.max_header_pairs;
}

/** The listener's SETTINGS: stream concurrency, header list size, no server push. */
export function listenerSettings(limits: Config['server']['limits'], c: Http2Config): Settings {
  return { maxConcurrentStreams: c.max_concurrent_streams, maxHeaderListSize: maxHeaderListSize(limits, c), enablePush: false };
}
