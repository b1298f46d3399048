// HTTP/1.1 on the HTTP/2 listener's TLS port (ALPN http/1.1) with `content-type: application/grpc`:
// gRPC needs HTTP/2, so such a request is a plain HTTP/1.1 one and is refused as the main listener
// refuses it — its real status (401, not a gRPC trailers-only 200) and, with its body still
// arriving, `Connection: close` and the connection closed (before: 200 kept alive, the rest read).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import tls from 'node:tls';
import net from 'node:net';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch } from '../../helpers/h2-client.js';
import { bearer } from '../auth/tokens-helpers.js';
import { startOrdersDoor, type OrdersDoor } from './h2-orders-door.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let port: number;
let door: OrdersDoor;

beforeAll(async () => {
  door = await startOrdersDoor({ tls: true });
  ({ as, echo, proxy, port } = door);
});

afterAll(() => door?.stop());

/** Raw bytes to a port (TLS with ALPN http/1.1, or the main listener in clear); the body trickles 10 bytes a second. */
function trickle(head: string, viaTls: boolean, ms: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const s = viaTls
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(head))
      : net.connect({ host: '127.0.0.1', port: Number(new URL(proxy.url).port) }, () => s.write(head));
    const iv = setInterval(() => { if (!s.destroyed) s.write('0123456789'); }, 1_000);
    const t = setTimeout(() => { clearInterval(iv); s.destroy(); resolve({ text, closed: false }); }, ms);
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => { clearInterval(iv); clearTimeout(t); resolve({ text, closed: true }); });
    s.on('error', () => { /* a reset is a close too */ });
  });
}

describe('HTTP/1.1 with content-type application/grpc on the TLS port of server.http2', () => {
  it('is refused with its HTTP status, as on the main listener, not as a gRPC trailers-only 200', async () => {
    const before = echo.requests;
    const req = 'GET /orders/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nConnection: close\r\n\r\n';
    const main = await trickle(req, false, 5_000);
    expect(main.text, 'main listener').toMatch(/^HTTP\/1\.1 401 /);
    const onTls = await trickle(req, true, 5_000);
    expect(onTls.text, 'HTTP/1.1 on the http2 TLS port').toMatch(/^HTTP\/1\.1 401 /);
    expect(onTls.text.toLowerCase()).toContain('www-authenticate: bearer realm="portcullis"');
    expect(onTls.text.toLowerCase()).not.toContain('grpc-status');
    expect(echo.requests).toBe(before);
  });

  it('a refusal while its body is still arriving says Connection: close and closes (before: 200, kept alive, the body read without bound)', async () => {
    const before = echo.requests;
    for (const framing of ['Content-Length: 1000000', 'Transfer-Encoding: chunked']) {
      const r = await trickle(`POST /orders/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\n${framing}\r\n\r\n${framing.startsWith('Transfer') ? 'a\r\n' : ''}`, true, 8_000);
      expect(r.text, framing).toMatch(/^HTTP\/1\.1 401 [^\r]*\r\n[\s\S]*connection: close\r\n/i);
      expect(r.closed, `${framing}: still reading the body 8 s after the refusal`).toBe(true);
    }
    expect(echo.requests).toBe(before);
  });

  it('an h2 gRPC caller still gets the trailers-only answer (grpc-status 16), and a valid token is forwarded over HTTP/1.1', async () => {
    const r = await h2Fetch(`https://127.0.0.1:${port}`, { ':method': 'POST', ':path': '/orders/1', 'content-type': 'application/grpc', te: 'trailers' });
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBe('16');
    const token = await as.issueJwt({ sub: 'erin' });
    const ok = await trickle(`GET /orders/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`, true, 5_000);
    expect(ok.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(ok.text).toContain('"x-auth-subject":"erin"');
  });
});
