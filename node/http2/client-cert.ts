// The client certificate of a request on the TLS listener with client_ca_file: read once per
// connection (TLS session), verified by the TLS layer against the configured CAs, reduced to what
// RFC 8705 binding and X-Forwarded-Client-Cert need (thumbprint, subject, SAN URIs and DNS names).
import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { ClientCertificate } from '../pipeline/index.js';

const cache = new WeakMap<object, ClientCertificate | null | false>();

/** Subject as one RFC 2253-like line ("CN=a,O=b"), SANs split by kind. */
export function describeCertificate(raw: Buffer): ClientCertificate {
  const x = new X509Certificate(raw);
  const uris: string[] = [];
  const dns: string[] = [];
  for (const part of (x.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('URI:')) uris.push(part.slice(4));
    else if (part.startsWith('DNS:')) dns.push(part.slice(4));
  }
  // the legacy object reads the subject's attributes unescaped: one CN is a string, several an array
  const cn = (x.toLegacyObject().subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  const commonNames = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  return { thumbprint: createHash('sha256').update(raw).digest('base64url'), subject: x.subject.split('\n').join(','), commonNames, uris, dns };
}

/**
 * The verified certificate of the connection, null when none was presented, false when the
 * request must not be served: a certificate was presented that did not verify, or the connection
 * is already closed — h2-server.ts closes one with such a certificate at 'secureConnection',
 * but node:http2 / node:http may have read a request sent in the same flight as the TLS 1.3
 * handshake and hand it over afterwards, when the closed socket no longer shows its certificate:
 * the caller refuses it, it is never "no certificate". `key`: what the answer is cached on
 * (HTTP/2: the session, whose socket is a Proxy object; HTTP/1.1: the socket).
 */
export function clientCertOf(key: object, sock: TLSSocket): ClientCertificate | null | false {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let cert: ClientCertificate | null | false;
  if (sock.destroyed) cert = false;
  else if (sock.authorized) {
    const peer = sock.getPeerCertificate();
    cert = peer !== null && peer.raw !== undefined ? describeCertificate(peer.raw) : null;
  } else cert = acceptableHandshake(sock) ? null : false;
  cache.set(key, cert);
  return cert;
}

/** At the end of the handshake: false (close it) when the client presented a certificate that did not verify. */
export function acceptableHandshake(sock: TLSSocket): boolean {
  if (sock.authorized) return true;
  const peer = sock.getPeerCertificate();
  return peer === null || Object.keys(peer).length === 0; // none presented: allowed in optional mode
}
