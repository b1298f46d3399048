// The bytes held by request bodies being read whole (server.limits.buffer_request_body_total_bytes) are
// visible as portcullis_request_body_buffer_bytes: the full Content-Length of each body still arriving,
// on both listeners, and 0 again once every such request ended however it ended (client gone, stream
// reset, 408) — an operator can tell slow senders holding the budget from a budget that leaked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { h2Connect, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';

const REQUEST_MS = 2_000;

describe('portcullis_request_body_buffer_bytes', () => {
  let app: ScriptedUpstream;
  let proxy: ProxyProcess;
  let h2Port: number;

  beforeAll(async () => {
    app = await startScriptedUpstream((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200); res.end('ok'); }); });
    proxy = await startProxy(baseConfig(app.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, timeouts: { request_ms: REQUEST_MS } },
    }), { env: ADMIN_ENV });
    h2Port = http2PortOf(proxy.logs());
  });

  afterAll(async () => {
    await proxy?.stop();
    await app?.close();
  });

  /** The gauge's value; NaN when the family is missing. */
  async function held(): Promise<number> {
    const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const m = /^portcullis_request_body_buffer_bytes (\S+)$/m.exec(await r.body.text());
    return m === null ? Number.NaN : Number(m[1]);
  }

  it('counts the bodies still arriving on both listeners and is 0 once they left, were reset or timed out', async () => {
    expect(await held()).toBe(0);
    const socks: Socket[] = [];
    let session: ClientHttp2Session | null = null;
    try {
      for (const n of [60_000, 30_000]) {
        const s = connect(proxy.port, '127.0.0.1');
        s.on('error', () => { /* destroyed by the test */ });
        s.write(requestText('POST', '/held', [['Content-Length', String(n)]], 'a'));
        socks.push(s);
      }
      session = await h2Connect(`http://127.0.0.1:${h2Port}`);
      const stream: ClientHttp2Stream = session.request({ ':method': 'POST', ':path': '/held-h2', 'content-length': '10000' }, { endStream: false });
      stream.on('error', () => { /* reset by the test */ });
      stream.write('b');
      await waitFor('three bodies held', async () => (await held()) === 100_000, 10_000, { everyMs: 100 });

      for (const s of socks) s.destroy();
      stream.close(constants.NGHTTP2_CANCEL);
      await waitFor('the budget given back', async () => (await held()) === 0, 10_000, { everyMs: 100 });
    } finally {
      for (const s of socks) s.destroy();
      session?.destroy();
    }

    // one that never completes: 408 at request_ms, and nothing held after it
    const late = rawRequest(proxy.port, requestText('POST', '/late', [['Content-Length', '50000']], 'c'), { timeoutMs: REQUEST_MS + 8_000 });
    await waitFor('the late body held', async () => (await held()) === 50_000, 10_000, { everyMs: 100 });
    expect((await late).status).toBe(408);
    expect(await held()).toBe(0);
    expect(app.seen.filter((x) => x.url.startsWith('/held') || x.url === '/late')).toEqual([]);
  }, 30_000);
});
