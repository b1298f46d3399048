// Malformed request lines and headers over a raw socket. This uWS build answers none
// of these with a 400: it ignores the bytes and closes the connection at its ~10 s
// idle timeout (documented limit). What we assert is what a user relies on: never a
// 2xx/5xx, the connection is closed (or a 4xx written), nothing reaches the upstream,
// and the proxy keeps serving. The same timeout closes idle keep-alive connections.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { connect } from 'node:net';
import { rawRequest, requestText } from '../../helpers/raw-http.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const CASES: Array<[string, string]> = [
  ['garbage request line', 'GARBAGE\r\n\r\n'],
  ['HTTP/0.9 request line', 'GET /\r\n\r\n'],
  ['HTTP/1.0 request', 'GET /x HTTP/1.0\r\nHost: x\r\n\r\n'],
  ['absolute-form target', 'GET http://evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['CONNECT tunnel', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n'],
  ['asterisk-form target', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['space in the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['NUL in the target', 'GET /a\u0000b HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['control byte in the method', 'G\u0001T /x HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['header line without a colon', 'GET /x HTTP/1.1\r\nHost: x\r\nBadHeader\r\n\r\n'],
  ['space in a header name', 'GET /x HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n'],
  ['NUL in a header value', 'GET /x HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n'],
  ['bare LF line endings', 'GET /x HTTP/1.1\nHost: x\n\n'],
  ['HTTP/1.1 without Host', 'GET /x HTTP/1.1\r\n\r\n'],
  ['200 header lines', requestText('GET', '/x', Array.from({ length: 200 }, (_, i) => [`X-H${i}`, 'v'] as [string, string]))],
  ['binary noise', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003'],
];

/** Make one complete request on a keep-alive connection, then idle; resolves with ms until it closed and who closed it. */
function idleClose(): Promise<{ status: string; ms: number; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = connect(proxy.port, '127.0.0.1');
    let status = '';
    let answeredAt = 0;
    let gaveUp = false;
    s.on('data', (d: Buffer) => { if (status === '') { status = d.toString('latin1').slice(9, 12); answeredAt = Date.now(); } });
    s.on('close', () => resolve({ status, ms: answeredAt === 0 ? -1 : Date.now() - answeredAt, closedByServer: !gaveUp }));
    s.on('error', () => {});
    s.write(requestText('GET', '/keep-alive'));
    setTimeout(() => { gaveUp = true; s.destroy(); }, 20_000);
  });
}

describe('malformed requests', () => {
  it('are closed (or answered 4xx), never forwarded, and the proxy survives; idle keep-alive connections are closed too', async () => {
    const idle = idleClose();
    const before = echo.requests;
    // All at once: each waits for uWS to close the connection (~10 s idle timeout).
    const results = await Promise.all(CASES.map(async ([name, data]) => ({ name, r: await rawRequest(proxy.port, data, { waitClose: true, timeoutMs: 20_000 }) })));
    for (const { name, r } of results) {
      if (r.status !== 0) {
        expect(r.status, name).toBeGreaterThanOrEqual(400);
        expect(r.status, name).toBeLessThan(500);
      }
      expect(r.closed, `${name}: connection closed`).toBe(true);
      expect(r.raw, name).not.toMatch(/^HTTP\/1\.1 [235]/);
    }
    expect(echo.requests).toBe(before + 1); // only the keep-alive probe
    // uWS's fixed idle timeout (~10 s) closes a keep-alive connection nobody uses.
    const i = await idle;
    expect(i.status).toBe('200');
    expect(i.closedByServer, 'the proxy never closed the idle connection').toBe(true);
    expect(i.ms).toBeGreaterThan(5_000);
    expect(proxy.proc.exitCode).toBeNull();
    const ok = await rawRequest(proxy.port, requestText('GET', '/still-here'));
    expect(ok.status).toBe(200);
  }, 30_000);
});
