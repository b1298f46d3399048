// The header limits the HTTP/2 listener gives node:http2 and node:http, from server.http2 and
// server.limits: the SETTINGS it advertises (RFC 9113 §6.5.2) and node:http's head limit for HTTP/1.1
// on its TLS port — set at start, and again at each reload (sessions opened afterwards get them).
import type { Http2SecureServer, Http2Server, Settings } from 'node:http2';
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

/**
 * Bytes of an HTTP/1.1 head (request line and header lines) node:http reads on the TLS port before it
 * answers 431 itself, unlogged: above the proxy's own checks (`max_header_bytes`, `max_url_bytes`, 1 KiB
 * for the method, version and line ends), so the proxy's logged answer comes first. Its default, 16 KiB,
 * refused any larger head whatever `max_header_bytes` said.
 */
export function http1HeadBytes(limits: Config['server']['limits']): number {
  return limits.max_header_bytes + limits.max_url_bytes + 1024;
}

/**
 * Apply `limits` to `server` (at start and at each reload): node:http's head limit for HTTP/1.1
 * connections accepted from now on, and the header list size for HTTP/2 sessions opened from now on
 * (server.updateSettings); open sessions keep the SETTINGS they announced.
 */
export function applyLimits(server: Http2Server | Http2SecureServer, limits: Config['server']['limits'], c: Http2Config): void {
  (server as { maxHeaderSize?: number }).maxHeaderSize = http1HeadBytes(limits);
  server.updateSettings({ maxHeaderListSize: maxHeaderListSize(limits, c) });
}
