// The node:http2 server the HTTP/2 listener serves on, built from server.http2: h2c, or h2 over
// TLS with HTTP/1.1 by ALPN, node:http2's own flood and size limits, and client certificates.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http2, { type Http2SecureServer, type Http2Server } from 'node:http2';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { DEFAULT_TLS12_CIPHERS, type Config, type Http2Config } from '../config/index.js';
import { acceptableHandshake } from './client-cert.js';
import type { CertifiedConnections } from './client-ca-recheck.js';
import { listenerSettings } from './h2-settings.js';

/**
 * The server for `c`; `mtls`: client certificates are asked for (tls.client_ca_file).
 * `certRefused` is called for each TLS connection closed for its certificate; `certified` keeps the
 * open ones with a verified certificate (judged again by a new CA bundle). A certificate or key
 * that cannot be read throws (the start fails).
 */
export function createH2Server(c: Http2Config, limits: Config['server']['limits'], passphrase: string | undefined, certRefused: () => void, certified: CertifiedConnections): { server: Http2Server | Http2SecureServer; mtls: boolean; tlsDigest: string | null } {
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
  if (c.tls === undefined) return { server: http2.createServer(common), mtls: false, tlsDigest: null };
  const files = tlsFiles(c.tls, passphrase);
  const server = http2.createSecureServer({
    ...common,
    ...files,
    allowHTTP1: c.allow_http1,
    // node's default is 120 s: a connection that never finished its handshake held a max_connections slot that long
    handshakeTimeout: c.preface_timeout_ms,
    // mTLS: required → a missing or unverifiable certificate fails the handshake (TLS alert)
    ...(c.tls.client_ca_file !== undefined ? { requestCert: true, rejectUnauthorized: c.tls.client_certificates === 'required' } : {}),
  });
  // optional: none is fine, but one that does not verify (other CA, expired) closes the connection.
  // No TLS 1.2 renegotiation (node:http2 already refuses it on h2; this is for HTTP/1.1 by ALPN):
  // the certificate is read once per connection, so a second handshake could only disagree with it;
  // without mTLS it is refused too, as the uWS listener does (a client-initiated one costs the
  // server a full handshake per request: a scanner's "client renegotiation: DoS" finding)
  if (c.tls.client_ca_file !== undefined) server.on('secureConnection', (sock: TLSSocket) => { if (!acceptableHandshake(sock)) { certRefused(); sock.destroy(); } else { sock.disableRenegotiation(); certified.add(sock); } });
  else server.on('secureConnection', (sock: TLSSocket) => { sock.disableRenegotiation(); });
  return { server, mtls: c.tls.client_ca_file !== undefined, tlsDigest: contextDigest(files) };
}

type TlsSection = NonNullable<Http2Config['tls']>;

/** node's `ciphers` names TLS 1.3 suites too (a list without them turns TLS 1.3 off): node's three, then the TLS 1.2 list. */
const H2_LISTENER_CIPHERS = `TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:${DEFAULT_TLS12_CIPHERS}`;

/**
 * The secure-context part of the TLS listener read from its files now: certificate, key, client CAs,
 * minimum version, and the TLS 1.2 suites (the uWS listener's default list: ECDHE + AEAD only, in the
 * server's order — node's own default also takes static-RSA and CBC-SHA1 suites). In the context, not
 * the server, so a renewal's setSecureContext keeps them. Throws when a file cannot be read.
 */
function tlsFiles(t: TlsSection, passphrase: string | undefined): SecureContextOptions {
  return {
    cert: readFileSync(t.cert_file), key: readFileSync(t.key_file),
    ...(passphrase !== undefined ? { passphrase } : {}),
    minVersion: t.min_version === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2',
    ciphers: H2_LISTENER_CIPHERS, honorCipherOrder: true,
    ...(t.client_ca_file !== undefined ? { ca: readFileSync(t.client_ca_file) } : {}),
  };
}

/** A secure context a reload read from the listener's files, and the digest of what it was read from (contextDigest). */
export interface RenewedTls { readonly context: SecureContextOptions; readonly digest: string }

/**
 * sha256 over what a context is made of (certificate, key, passphrase, client CAs, minimum version):
 * equal digests, the same context. Buffers and strings only (tlsFiles' shape).
 */
function contextDigest(o: SecureContextOptions): string {
  const h = createHash('sha256');
  for (const part of [o.cert, o.key, o.passphrase, o.ca, o.minVersion]) h.update(part === undefined ? '' : (part as Buffer | string)).update('\0');
  return h.digest('hex');
}

/**
 * The listener's TLS files read again (a reload: a certificate renewed under the same names, as
 * cert-manager's `..data` symlink swap or certbot leave it) and proven loadable, for setSecureContext
 * at commit; null when they are the bytes of the context in use (`serving`, its digest): a reload that
 * renews nothing keeps the context, its session tickets and its open connections unjudged. Throws
 * `server.http2.tls.<field>: why` when they cannot serve (a key of another certificate mid-renewal):
 * the reload is refused and the running context kept.
 */
export function renewedTls(t: TlsSection, passphrase: string | undefined, serving: string | null): RenewedTls | null {
  let opts: SecureContextOptions;
  try { opts = tlsFiles(t, passphrase); } catch (err) { throw new Error(`server.http2.tls.cert_file: cannot read the listener's TLS files again: ${(err as Error).message}`); }
  const digest = contextDigest(opts);
  if (digest === serving) return null;
  try { createSecureContext(opts); } catch (err) { throw new Error(`server.http2.tls.key_file: the files do not load together (${(err as Error).message})`); }
  return { context: opts, digest };
}
