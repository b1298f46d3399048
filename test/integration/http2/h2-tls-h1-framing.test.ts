// HTTP/1.1 on the HTTP/2 listener's TLS port (ALPN http/1.1) is held to the framing rules of the
// main listener (README "Framing"): Transfer-Encoding is `chunked` alone, once, and the request line
// names HTTP/1.0 or HTTP/1.1 — anything else is 400 with nothing forwarded.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import tls from 'node:tls';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let port: number;

beforeAll(async () => {
  echo = await startEchoUpstream();
  const { cert, key } = selfSignedCert();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key } } },
  }), { env: ADMIN_ENV });
  port = http2PortOf(proxy.logs());
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** Raw bytes over TLS with ALPN http/1.1; resolves with what came back once the head is complete or the socket closed. */
function raw(text: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(text));
    const t = setTimeout(() => s.destroy(), 3_000);
    s.on('data', (d: Buffer) => { out += d.toString('latin1'); if (out.includes('\r\n\r\n')) s.destroy(); });
    s.on('close', () => { clearTimeout(t); resolve(out); });
    s.on('error', () => { /* reported by close */ });
  });
}

const BODY = '3\r\nabc\r\n0\r\n\r\n';

describe('HTTP/1.1 on the HTTP/2 listener\'s TLS port: framing as strict as the main listener', () => {
  it('controls: chunked alone (any case) and Content-Length are forwarded', async () => {
    expect(await raw(`POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${BODY}`)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await raw(`POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n${BODY}`)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await raw('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc')).toMatch(/^HTTP\/1\.1 200 /);
    expect(await raw('GET /a HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.[01] 200 /);
  });

  // before: node:http reads a coding list that ends in chunked as chunked, and the proxy forwarded
  // the decoded bytes without the other coding (the upstream read gzip bytes as the content)
  for (const te of ['gzip, chunked', 'identity, chunked', ', chunked']) {
    it(`Transfer-Encoding: ${te} → 400 PORTCULLIS_ERR_REQUEST_MALFORMED, nothing forwarded`, async () => {
      const before = echo.requests;
      const out = await raw(`POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\n\r\n${BODY}`);
      expect(out).toMatch(/^HTTP\/1\.1 400 /);
      expect(out).toContain('PORTCULLIS_ERR_REQUEST_MALFORMED');
      expect(echo.requests).toBe(before);
    });
  }

  it('an empty Transfer-Encoding line beside chunked → 400, nothing forwarded', async () => {
    const before = echo.requests;
    const out = await raw(`POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\nTransfer-Encoding: chunked\r\n\r\n${BODY}`);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(echo.requests).toBe(before);
  });

  // before: node:http accepts HTTP/2.0 and HTTP/0.9 request lines; both were forwarded, and an
  // "HTTP/2.0" one without Host too (the Host rule applied to 1.1 only)
  for (const version of ['HTTP/2.0', 'HTTP/0.9']) {
    it(`a ${version} request line → 400, nothing forwarded (with and without Host)`, async () => {
      const before = echo.requests;
      for (const host of ['Host: x\r\n', '']) {
        const out = await raw(`GET /a ${version}\r\n${host}\r\n`);
        expect(out, host).toMatch(/^HTTP\/1\.1 400 /);
        expect(out, host).toContain('PORTCULLIS_ERR_REQUEST_MALFORMED');
      }
      expect(echo.requests).toBe(before);
    });
  }
});
