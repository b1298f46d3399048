// Live mTLS connections on the HTTP/2 listener judged again when a reload changes the client-CA
// bundle: a connection whose client certificate no CA of the new bundle issued is closed at once
// (its handshake was made against a CA the operator removed), the others are left alone.
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

/** The TLS sockets that presented a verified client certificate, open now (added at the handshake, gone at close). */
export class CertifiedConnections {
  private readonly live = new Set<TLSSocket>();

  /** At 'secureConnection' of an accepted handshake: kept while open when it carries a verified certificate. */
  add(sock: TLSSocket): void {
    if (!sock.authorized) return; // none presented (optional mode): nothing to judge again
    this.live.add(sock);
    sock.once('close', () => this.live.delete(sock));
  }

  /** After a new bundle (PEM text) is in use: closes every connection whose chain no CA of it signed; returns how many. */
  cutUntrusted(bundle: string | Buffer): number {
    const cas = parseBundle(bundle);
    let cut = 0;
    for (const sock of this.live) {
      if (sock.destroyed || trusted(sock, cas)) continue;
      sock.destroy(); // an HTTP/2 session on it ends with its socket; HTTP/1.1 by ALPN too
      this.live.delete(sock);
      cut++;
    }
    return cut;
  }
}

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function parseBundle(bundle: string | Buffer): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const m of String(bundle).matchAll(PEM)) {
    try { out.push(new X509Certificate(m[0])); } catch { /* a block the TLS layer refused too: it trusts nothing */ }
  }
  return out;
}

/** True when a certificate of the peer's chain (leaf first) is a CA of `cas` or was signed by one. */
function trusted(sock: TLSSocket, cas: readonly X509Certificate[]): boolean {
  let peer: DetailedPeerCertificate | undefined = sock.getPeerCertificate(true);
  for (let depth = 0; peer !== undefined && peer.raw !== undefined && depth < 10; depth++) {
    const x = new X509Certificate(peer.raw);
    for (const ca of cas) {
      if (ca.fingerprint256 === x.fingerprint256) return true;
      if (x.checkIssued(ca) && x.verify(ca.publicKey)) return true;
    }
    if (peer.issuerCertificate === undefined || peer.issuerCertificate === peer) break; // a self-signed top
    peer = peer.issuerCertificate;
  }
  return false;
}
