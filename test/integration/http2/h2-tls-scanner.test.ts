// The HTTP/2 listener's TLS as a scanner sees it, probed with `openssl s_client` and node:tls: TLS 1.2
// offers the uWS listener's forward-secret AEAD suites only, in the server's order (static RSA and
// CBC suites refused, before and after a certificate renewal), TLS 1.3 served, TLS 1.1 refused, and a
// client-initiated renegotiation over HTTP/1.1 closes the connection without mTLS too.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync } from 'node:fs';
import tls from 'node:tls';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { handshakeWith, selfSignedCert } from '../../helpers/tls-probe.js';
import { bearer, call } from '../auth/tokens-helpers.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let port: number;
let files: { cert: string; key: string };

beforeAll(async () => {
  echo = await startEchoUpstream();
  files = selfSignedCert();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: files.cert, key_file: files.key } } },
  }), { env: ADMIN_ENV });
  port = http2PortOf(proxy.logs());
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const WEAK = [
  ['static RSA key exchange, CBC-SHA1', 'AES128-SHA'],
  ['static RSA key exchange, even with GCM', 'AES256-GCM-SHA384'],
  ['ECDHE with CBC-SHA1', 'ECDHE-RSA-AES128-SHA'],
  ['ECDHE with CBC-SHA256', 'ECDHE-RSA-AES128-SHA256'],
] as const;

async function expectScannerClean(): Promise<void> {
  for (const [name, suite] of WEAK) {
    const r = await handshakeWith(port, ['-tls1_2', '-cipher', suite]);
    expect(r.cipher, `${name} (${suite}) was negotiated`).toBeNull();
  }
  for (const suite of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']) {
    expect(await handshakeWith(port, ['-tls1_2', '-cipher', suite])).toMatchObject({ protocol: 'TLSv1.2', cipher: suite });
  }
  expect((await handshakeWith(port, ['-tls1_3'])).protocol).toBe('TLSv1.3');
  expect((await handshakeWith(port, ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0'])).cipher).toBeNull();
}

describe('HTTP/2 TLS listener suites (Mozilla "intermediate")', () => {
  it('TLS 1.2 takes ECDHE + AEAD suites only; TLS 1.3 served, TLS 1.1 refused', async () => {
    await expectScannerClean();
  });

  it("the server's order wins: a client offering a weak suite, then ChaCha20, then AES128-GCM gets AES128-GCM (a pin: node's default did too)", async () => {
    const r = await handshakeWith(port, ['-tls1_2', '-cipher', 'AES128-SHA:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256']);
    expect(r.cipher, r.output).toBe('ECDHE-RSA-AES128-GCM-SHA256');
  });

  it('a certificate renewed by a reload keeps the suites', async () => {
    const renewed = selfSignedCert();
    copyFileSync(renewed.cert, files.cert);
    copyFileSync(renewed.key, files.key);
    const r = await call(`${proxy.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });
    expect(r.status, r.text).toBe(200);
    await expectScannerClean();
  });
});

describe('client-initiated renegotiation (no client certificates configured)', () => {
  it('closes the HTTP/1.1 connection: the request sent after it is not served or forwarded', async () => {
    const before = echo.requests;
    const outcome = await new Promise<{ renegotiated: string; answer: string }>((resolve) => {
      let answer = '';
      let renegotiated = 'pending';
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], maxVersion: 'TLSv1.2' }, () => {
        s.renegotiate({ rejectUnauthorized: false }, (err) => {
          renegotiated = err === null ? 'done' : `refused: ${err.message}`;
          if (!s.destroyed) s.write('GET /after-renegotiation HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        // the server's answer (an alert or a close) may come before the callback does
        s.write('');
      });
      s.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
      s.on('error', () => { /* the close is what is asserted */ });
      s.on('close', () => resolve({ renegotiated, answer }));
      setTimeout(() => s.destroy(), 5_000).unref();
    });
    // node:http answers the socket's renegotiation error with its bare 400 and closes; nothing else
    expect(outcome.answer).toMatch(/^(|HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n)$/);
    expect(outcome.renegotiated).not.toBe('done');
    expect(echo.requests).toBe(before);
  });
});
