// One client's share of the budget for bodies read whole (server.limits.buffer_request_body_total_bytes): a client
// address holds at most max(buffer_request_body_bytes, total / 8). Before, one client's HTTP/2 streams announcing
// 60 KB and sending nothing held the whole budget, and every other client's bodies streamed to the upstream as
// they trickled in (holding an upstream connection each) instead of being read whole. Two loopback addresses
// (127.0.0.1, 127.0.0.2) are the two clients; both listeners.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { requestText } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';
import { sourceValue } from '../../../node/metrics/index.js';

const BODY = 60_000;
/** Room for six bodies; a client's share is then max(64 KiB, 360 000 / 8) = 64 KiB: one body. */
const TOTAL = 6 * BODY;

describe('a client\'s share of the body budget (server.limits.buffer_request_body_total_bytes)', () => {
  let app: ScriptedUpstream;
  let proxy: ProxyProcess;
  let h2Port: number;

  beforeAll(async () => {
    app = await startScriptedUpstream((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200); res.end('ok'); }); });
    proxy = await startProxy(baseConfig(app.url, {
      server: {
        listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
        limits: { buffer_request_body_total_bytes: TOTAL }, timeouts: { request_ms: 25_000 },
      },
    }), { env: ADMIN_ENV });
    h2Port = http2PortOf(proxy.logs());
  });

  afterAll(async () => {
    await proxy?.stop();
    await app?.close();
  });

  async function metrics(): Promise<string> {
    const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return r.body.text();
  }
  const held = async (): Promise<number> => Math.max(0, sourceValue(await metrics(), 'listener.request_body_buffer_bytes'));
  const seen = (path: string): number => app.seen.filter((x) => x.url === path).length;

  const session = (from: string): Promise<ClientHttp2Session> => new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${h2Port}`, { createConnection: () => connect({ port: h2Port, host: '127.0.0.1', localAddress: from }) });
    s.once('connect', () => { s.on('error', () => { /* destroyed by the test */ }); resolve(s); });
    s.once('error', reject);
  });
  /** A stream announcing BODY bytes that sends one. */
  const slowStream = (s: ClientHttp2Session, path: string): ClientHttp2Stream => {
    const st = s.request({ ':method': 'POST', ':path': path, 'content-length': String(BODY) }, { endStream: false });
    st.on('error', () => { /* reset by the test */ });
    st.write('a');
    return st;
  };

  it('HTTP/2: one client\'s six slow streams hold one share, the rest stream (counted); another client\'s body is still read whole', async () => {
    const greedy = await session('127.0.0.1');
    let other: ClientHttp2Session | null = null;
    try {
      for (let i = 0; i < 6; i++) slowStream(greedy, '/greedy');
      // one read whole, five over the client's share: streamed to the upstream as they arrive
      await waitFor('the greedy client\'s streams planned', () => seen('/greedy') === 5, 10_000, { everyMs: 50 });
      await waitFor('one share held', async () => (await held()) === BODY, 10_000, { everyMs: 100 }); // before: 360 000, the whole budget
      const m = await metrics();
      expect(sourceValue(m, 'http2.request_body_buffer_share_total')).toBe(5);
      expect(sourceValue(m, 'http2.request_body_buffer_overflow_total')).toBe(5);

      other = await session('127.0.0.2');
      const st = slowStream(other, '/other');
      await waitFor('the other client\'s body read whole', async () => (await held()) === 2 * BODY, 10_000, { everyMs: 100 });
      expect(seen('/other')).toBe(0); // before: streamed to the upstream with its first byte
      const answered = new Promise<number>((resolve) => { st.on('response', (h) => resolve(Number(h[':status']))); });
      st.end(Buffer.alloc(BODY - 1, 'b'));
      expect(await answered).toBe(200);
      expect(seen('/other')).toBe(1);
    } finally {
      greedy.destroy();
      other?.destroy();
    }
    await waitFor('the budget given back', async () => (await held()) === 0, 10_000, { everyMs: 100 });
  }, 40_000);

  it('uWS: a second slow body of the same client address streams (its share spent); another address\'s is read whole', async () => {
    const socks: Socket[] = [];
    const send = (from: string, path: string): void => {
      const s = connect({ port: proxy.port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => { /* destroyed by the test */ });
      s.write(requestText('POST', path, [['Content-Length', String(BODY)]], 'a'));
      socks.push(s);
    };
    try {
      const before = sourceValue(await metrics(), 'listener.request_body_buffer_share_total');
      send('127.0.0.1', '/uws-a');
      await waitFor('the first body read whole', async () => (await held()) === BODY, 10_000, { everyMs: 100 });
      send('127.0.0.1', '/uws-a');
      await waitFor('the second streamed', () => seen('/uws-a') === 1, 10_000, { everyMs: 50 });
      expect(Math.max(0, sourceValue(await metrics(), 'listener.request_body_buffer_share_total')) - Math.max(0, before)).toBe(1);
      send('127.0.0.2', '/uws-b');
      await waitFor('the other address\'s body read whole', async () => (await held()) === 2 * BODY, 10_000, { everyMs: 100 });
      expect(seen('/uws-b')).toBe(0);
    } finally {
      for (const s of socks) s.destroy();
    }
    await waitFor('the budget given back', async () => (await held()) === 0, 10_000, { everyMs: 100 });
  }, 40_000);
});
