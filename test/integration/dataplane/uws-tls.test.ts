// What the pinned uWebSockets.js build (20.30, BoringSSL inside) does with TLS on its own,
// without the proxy — the reasons behind server.tls and its documented limits (README:
// Limitations). These assert the build's current behaviour, so an upgrade that changes it
// fails here and the README can be updated: left alone it serves static-RSA and CBC-SHA1
// suites; it always follows the client's order among the suites it allows (no server
// preference can be set); TLS 1.0/1.1 are refused by uSockets itself.
import { describe, it, expect, beforeAll } from 'vitest';
import uWS from 'uWebSockets.js';
import { handshakeWith, selfSignedCert } from '../../helpers/tls-probe.js';
import { DEFAULT_TLS12_CIPHERS } from '../../../node/config/tls-ciphers.js';

let cert: { cert: string; key: string };

/** A bare uWS SSLApp on a free port (the test process exits with it; the build cannot close an app). */
function sslApp(ciphers?: string): Promise<number> {
  const app = uWS.SSLApp({ cert_file_name: cert.cert, key_file_name: cert.key, ...(ciphers !== undefined ? { ssl_ciphers: ciphers } : {}) });
  app.any('/*', (res) => { res.end('ok'); });
  return new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (t) => (t ? resolve(uWS.us_socket_local_port(t)) : reject(new Error('listen failed')))));
}

beforeAll(() => { cert = selfSignedCert(); });

describe('uWebSockets.js 20.30 TLS, alone', () => {
  it('without ssl_ciphers it serves static-RSA key exchange and CBC-SHA1 suites over TLS 1.2', async () => {
    const port = await sslApp();
    expect((await handshakeWith(port, ['-tls1_2', '-cipher', 'AES128-SHA'])).cipher).toBe('AES128-SHA');
    expect((await handshakeWith(port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA'])).cipher).toBe('ECDHE-RSA-AES128-SHA');
    // … and picks the client's first choice, weak or not
    expect((await handshakeWith(port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384'])).cipher).toBe('ECDHE-RSA-AES128-SHA');
  });

  it('follows the client\'s order among the suites it allows: no server preference (no option sets SSL_OP_CIPHER_SERVER_PREFERENCE)', async () => {
    const port = await sslApp('ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256');
    expect((await handshakeWith(port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384'])).cipher).toBe('ECDHE-RSA-AES128-GCM-SHA256');
    expect((await handshakeWith(port, ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384'])).cipher).toBe('ECDHE-RSA-CHACHA20-POLY1305');
    // the proxy's default list: whatever the client prefers, the result is ECDHE + AEAD
    const def = await sslApp(DEFAULT_TLS12_CIPHERS);
    expect((await handshakeWith(def, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384'])).cipher).toBe('ECDHE-RSA-AES128-GCM-SHA256');
  });

  it('refuses TLS 1.0 and 1.1 on its own (uSockets sets the minimum to TLS 1.2; no option raises it)', async () => {
    const port = await sslApp();
    expect((await handshakeWith(port, ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0'])).cipher).toBeNull();
    expect((await handshakeWith(port, ['-tls1', '-cipher', 'ALL:@SECLEVEL=0'])).cipher).toBeNull();
    expect((await handshakeWith(port, ['-tls1_3'])).protocol).toBe('TLSv1.3');
  });

  it('an SSLApp whose cipher string the library refuses throws at construction ("App construction failed")', () => {
    expect(() => uWS.SSLApp({ ssl_ciphers: 'DHE-RSA-AES128-GCM-SHA256' })).toThrow(/App construction failed/);
    expect(() => uWS.SSLApp({ ssl_ciphers: 'ECDHE+AESGCM' })).not.toThrow();
  });
});
