// TLS 1.2 renegotiation on the mTLS listener is refused: the client certificate is read once per
// connection (the first request pins it), while node:tls re-judges `authorized` after every
// handshake — a renegotiated certificate would be ignored after the first request, and one that
// does not verify would read as "no certificate" before it, where the initial handshake closes the
// connection. HTTP/2 forbids renegotiation anyway (RFC 9113 §9.2.1). The connection is closed;
// the proxy goes on serving.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type TLSSocket } from 'node:tls';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { makePki, type Pki } from '../../helpers/mtls-certs.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { waitReady } from '../auth/tokens-helpers.js';

let echo: EchoUpstream;
let pki: Pki;
let proxy: ProxyProcess;

beforeAll(async () => {
  pki = makePki();
  echo = await startEchoUpstream();
  const { cert, key } = selfSignedCert();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: pki.caFile, client_certificates: 'optional' } } },
    routes: [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** TLS 1.2 with the orders certificate and ALPN `alpn`; renegotiate; then (HTTP/1.1) one GET. What came back. */
function renegotiate(alpn: string): Promise<{ renegotiated: boolean; answer: string }> {
  return new Promise((resolve, reject) => {
    const sock: TLSSocket = connect({ host: '127.0.0.1', port: http2PortOf(proxy.logs()), rejectUnauthorized: false, ALPNProtocols: [alpn], maxVersion: 'TLSv1.2', cert: pki.good.cert, key: pki.good.key });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('the connection neither answered nor closed within 5 s')); }, 5_000);
    let answer = '';
    let renegotiated = false;
    sock.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
    sock.on('error', () => { /* the close says it */ });
    sock.on('close', () => { clearTimeout(timer); resolve({ renegotiated, answer }); });
    sock.once('secureConnect', () => {
      sock.renegotiate({ rejectUnauthorized: false }, (err) => {
        if (err !== null) { sock.destroy(); return; }
        renegotiated = true;
        if (alpn === 'http/1.1') sock.write('GET /public/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
        else sock.destroy();
      });
    });
  });
}

describe('TLS 1.2 renegotiation on the mTLS port', () => {
  it.each(['http/1.1', 'h2'])('is refused (ALPN %s): the connection closes without an answer; the proxy goes on serving', async (alpn) => {
    const r = await renegotiate(alpn);
    expect(r.renegotiated, r.answer).toBe(false);
    expect(r.answer).not.toMatch(/^HTTP\/1\.1 200/);
    const s = await h2Connect(`https://127.0.0.1:${http2PortOf(proxy.logs())}`, { cert: pki.good.cert, key: pki.good.key });
    try { expect((await h2Request(s, { ':method': 'GET', ':path': '/public/after' })).status).toBe(200); } finally { s.close(); }
  });
});
