// server.http2: the node:http2 listener (node/http2) — addresses, TLS/ALPN, stream and header
// limits, and the per-session flood caps against the HTTP/2 attack classes (README "HTTP/2 and gRPC");
// and upstreams.<name>.protocol (h1 | h2c | h2, node/upstream/h2-pool.ts).
import { z } from 'zod';
import { envName, ms, port } from './schema-common.js';

/**
 * h2c with prior knowledge, or with `tls` h2 by ALPN (and HTTP/1.1 on the same port unless
 * allow_http1 is false). Same routes, auth and metrics as the main listener; server.limits apply.
 * Read at start: a reload does not change it.
 */
export const http2Schema = z.strictObject({
  listen: z.strictObject({ host: z.string().min(1).default('0.0.0.0'), port }),
  tls: z.strictObject({
    cert_file: z.string().min(1),
    key_file: z.string().min(1),
    passphrase_env: envName.optional(),
    min_version: z.enum(['TLS1.2', 'TLS1.3']).default('TLS1.2'),
    /** PEM file of the CAs client certificates must chain to; absent = no client certificates asked for. */
    client_ca_file: z.string().min(1).optional(),
    /**
     * With client_ca_file. required: a client without a valid certificate fails the TLS handshake;
     * optional (default): none is allowed, one that does not verify (other CA, expired) closes the connection.
     */
    client_certificates: z.enum(['optional', 'required']).optional(),
  }).superRefine((t, ctx) => {
    if (t.client_certificates !== undefined && t.client_ca_file === undefined) ctx.addIssue({ code: 'custom', path: ['client_certificates'], message: 'needs client_ca_file (the CAs client certificates are checked against)' });
  }).optional(),
  /** With tls: serve HTTP/1.1 clients (ALPN http/1.1 or none) on the same port. */
  allow_http1: z.boolean().default(true),
  /**
   * Open connections (TCP, before TLS) at once in this process; past it a new one is closed at
   * accept. Absent = half the process's soft open-files limit (`ulimit -n`; 512 under 1024, 32768
   * under the systemd unit's LimitNOFILE=65536), or 512 where that cannot be read. With --workers: per worker.
   */
  max_connections: z.number().int().min(1).max(1_048_576).optional(), // connections
  /** SETTINGS_MAX_CONCURRENT_STREAMS per session; further streams are refused (RST_STREAM REFUSED_STREAM). */
  max_concurrent_streams: z.number().int().min(1).max(10_000).default(100),
  /** Header fields per request (HPACK-decoded); beyond it the stream is refused. */
  max_header_pairs: z.number().int().min(16).max(4096).default(128),
  /** Memory one session may hold (nghttp2 buffers, HPACK tables), MiB; beyond it new streams are refused. */
  max_session_memory_mib: z.number().int().min(1).max(1024).default(10),
  /**
   * A connection must prove it speaks HTTP/2 within this long, ms: TLS handshake done (node's
   * handshakeTimeout) and then the client's preface and first SETTINGS; else it is closed. Without
   * it a connection that sent nothing held its max_connections slot for idle_timeout_ms (TLS: 120 s).
   */
  preface_timeout_ms: z.number().int().min(100).max(600_000).default(10_000), // 10 s
  /** A session with no frame in either direction for this long is closed (GOAWAY), ms; 0 = never. A silent stream counts as idle. */
  idle_timeout_ms: ms(120_000), // 2 min
  /**
   * A response the client's flow control (or an HTTP/1.1 client's unread socket) has held without
   * progress this long is reset (RST_STREAM CANCEL; HTTP/1.1: connection closed) and its upstream
   * request cancelled, ms: the upstream connection it holds is freed. Pings keep a session from idling, not a stalled stream.
   */
  stalled_response_ms: z.number().int().min(1_000).default(30_000), // 30 s
  /**
   * Flood caps per session and per 10 s window; crossing one closes the session with GOAWAY
   * ENHANCE_YOUR_CALM. `resets`: streams the client reset (rapid reset, CVE-2023-44487);
   * `pings`, `settings`: PING and SETTINGS frames received.
   */
  flood: z.strictObject({
    resets: z.number().int().min(1).default(200),
    pings: z.number().int().min(1).default(100),
    settings: z.number().int().min(1).default(100),
    /** Malformed or refused frames (node:http2 maxSessionInvalidFrames) before the session is closed. */
    invalid_frames: z.number().int().min(1).default(100),
  }).default({}),
});

export type Http2Config = z.infer<typeof http2Schema>;

/** `upstreams.<name>.protocol`: h1 (default) the HTTP/1.1 pool; h2c HTTP/2 with prior knowledge to http:// targets; h2 HTTP/2 over TLS (ALPN h2) to https:// targets. */
export const upstreamProtocol = z.enum(['h1', 'h2c', 'h2']).default('h1');

/** An h2c upstream needs http:// targets, an h2 one https:// targets. */
export function protocolMatchesTargets(u: { readonly protocol: 'h1' | 'h2c' | 'h2'; readonly targets: readonly string[] }, ctx: z.RefinementCtx): void {
  const want = u.protocol === 'h2c' ? 'http:' : u.protocol === 'h2' ? 'https:' : null;
  if (want === null) return;
  u.targets.forEach((t, i) => {
    if (!t.toLowerCase().startsWith(want)) ctx.addIssue({ code: 'custom', path: ['targets', i], message: `protocol ${u.protocol} needs ${want}// targets` });
  });
}
