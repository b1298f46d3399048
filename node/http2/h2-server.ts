// The node:http2 server the HTTP/2 listener serves on, built from server.http2: h2c, or h2 over
// TLS with HTTP/1.1 by ALPN, node:http2's own flood and size limits, and client certificates.
import { readFileSync } from 'node:fs';
import http2, { type Http2SecureServer, type Http2Server } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Config, Http2Config } from '../config/index.js';
import { acceptableHandshake } from './client-cert.js';
import { listenerSettings } from './h2-settings.js';

/**
 * The server for `c`; `mtls`: client certificates are asked for (tls.client_ca_file).
 * `certRefused` is called for each TLS connection closed for its certificate. A certificate or key
 * that cannot be read throws (the start fails).
 */
export function createH2Server(c: Http2Config, limits: Config['server']['limits'], passphrase: string | undefined, certRefused: () => void): { server: Http2Server | Http2SecureServer; mtls: boolean } {
  const common: http2.ServerOptions = {
    settings: listenerSettings(limits, c),
    maxHeaderListPairs: c.max_header_pairs,
    maxSessionMemory: c.max_session_memory_mib,
    maxSessionInvalidFrames: c.flood.invalid_frames,
    maxSessionRejectedStreams: c.flood.invalid_frames,
    maxSettings: 32,
    maxOutstandingPings: 10,
    peerMaxConcurrentStreams: c.max_concurrent_streams,
    unknownProtocolTimeout: 1_000,
  };
  if (c.tls === undefined) return { server: http2.createServer(common), mtls: false };
  const server = http2.createSecureServer({
    ...common,
    cert: readFileSync(c.tls.cert_file), key: readFileSync(c.tls.key_file),
    ...(passphrase !== undefined ? { passphrase } : {}),
    minVersion: c.tls.min_version === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2',
    allowHTTP1: c.allow_http1,
    // mTLS: required → a missing or unverifiable certificate fails the handshake (TLS alert)
    ...(c.tls.client_ca_file !== undefined ? { ca: readFileSync(c.tls.client_ca_file), requestCert: true, rejectUnauthorized: c.tls.client_certificates === 'required' } : {}),
  });
  // optional: none is fine, but one that does not verify (other CA, expired) closes the connection.
  // No TLS 1.2 renegotiation (node:http2 already refuses it on h2; this is for HTTP/1.1 by ALPN):
  // the certificate is read once per connection, so a second handshake could only disagree with it
  if (c.tls.client_ca_file !== undefined) server.on('secureConnection', (sock: TLSSocket) => { if (!acceptableHandshake(sock)) { certRefused(); sock.destroy(); } else sock.disableRenegotiation(); });
  return { server, mtls: c.tls.client_ca_file !== undefined };
}
