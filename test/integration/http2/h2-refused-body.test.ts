// A request the HTTP/2 listener refuses while its body is still arriving (401 without a token, 413):
// after the complete answer the stream is ended with RST_STREAM NO_ERROR (RFC 9113 §8.1), as the
// main listener closes the connection. Before, the stream stayed open and every DATA frame the
// client kept sending was read and dropped — past server.limits.max_body_bytes and
// server.timeouts.request_ms, without bound.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http2 from 'node:http2';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { bearer } from '../auth/tokens-helpers.js';
import { startOrdersDoor, type OrdersDoor } from './h2-orders-door.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let port: number;
let door: OrdersDoor;

beforeAll(async () => {
  door = await startOrdersDoor({ server: { limits: { max_body_bytes: 4096 }, timeouts: { request_ms: 1000 } } });
  ({ as, echo, proxy, port } = door);
});

afterAll(() => door?.stop());

interface Sent { status: number; body: string; endedByServer: boolean; rstCode: number; sentAfterAnswer: number }

/** POST `headers` on h2c and keep sending 1 KiB DATA frames every 50 ms for `ms`; how the stream ended. */
function keepSending(headers: http2.OutgoingHttpHeaders, ms: number): Promise<Sent> {
  return new Promise((resolve) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => { /* reported by the stream */ });
    const st = s.request({ ':method': 'POST', ':path': '/orders/1', ...headers }, { endStream: false });
    let status = 0;
    let body = '';
    let sentAfterAnswer = 0;
    const chunk = Buffer.alloc(1024, 0x61);
    st.on('response', (h) => { status = Number(h[':status']); });
    st.on('data', (d: Buffer) => { body += d.toString(); });
    st.on('error', () => { /* a reset is reported by close */ });
    const iv = setInterval(() => { if (!st.destroyed && !st.closed) { st.write(chunk); if (status !== 0) sentAfterAnswer += chunk.length; } }, 50);
    const done = (endedByServer: boolean): void => {
      clearInterval(iv);
      clearTimeout(t);
      const r = { status, body, endedByServer, rstCode: st.rstCode ?? -1, sentAfterAnswer };
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done(false), ms);
    st.on('close', () => done(true));
  });
}

describe('HTTP/2: a refusal while the request body is still arriving ends the stream', () => {
  it('a Content-Length past max_body_bytes is refused at the head: 413 and the stream ended', async () => {
    const r = await keepSending({ 'content-length': '1000000' }, 5_000);
    expect(r.status).toBe(413);
    expect(r.endedByServer, 'the stream still open 5 s after the 413').toBe(true);
  });

  it('401 without a token: the whole JSON answer, then RST_STREAM NO_ERROR; not read on for seconds', async () => {
    const before = echo.requests;
    const r = await keepSending({ 'content-type': 'application/octet-stream' }, 5_000);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toHaveProperty('error', 'unauthorized'); // the whole body arrived before the reset
    expect(r.endedByServer, `the stream still open 5 s after the 401 (${r.sentAfterAnswer} bytes sent after it)`).toBe(true);
    expect(r.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(echo.requests).toBe(before);
  });

  it('413 past max_body_bytes with a valid token (no Content-Length): answered and the stream ended', async () => {
    const before = echo.requests;
    const r = await keepSending(bearer(await as.issueJwt({ sub: 'frank', scope: 'orders:read' })), 5_000);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'PORTCULLIS_ERR_BODY_TOO_LARGE' });
    expect(r.endedByServer, `the stream still open 5 s after the 413 (${r.sentAfterAnswer} bytes sent after it)`).toBe(true);
    expect(echo.requests - before).toBeLessThanOrEqual(1); // the upstream may have seen the start; never a whole body
  });
});
