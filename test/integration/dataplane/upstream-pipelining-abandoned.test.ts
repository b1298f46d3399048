// Upstream pipelining: a connection on which every request in flight was abandoned (its client
// left, or it timed out behind a slow response) carries nothing anyone waits for. Before, it kept
// reading a streamed response (SSE) for nobody, for ever, holding its pool slot: every later
// request to that upstream waited for it and got 504.
import { it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';

let proxy: ProxyProcess;
let upstream: http.Server;
/** Streams the upstream is still writing (their connection open). */
let streaming = 0;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    if (req.url!.startsWith('/stream')) {
      // an event stream that never ends by itself: a chunk every 50 ms while the connection lasts
      streaming++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const t = setInterval(() => res.write('data: tick\n\n'), 50);
      res.on('close', () => { clearInterval(t); streaming--; });
      res.write('data: first\n\n');
    } else {
      res.end('fast');
    }
  });
  upstream.keepAliveTimeout = 30_000;
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const port = (upstream.address() as net.AddressInfo).port;
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${port}`, {
    // one connection, two in flight on it: the second request is written behind the stream
    upstreams: { app: { targets: [`http://127.0.0.1:${port}`], pipelining: 2, pool: { connections: 1 }, timeouts: { response_ms: 400 } } },
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

it('once the stream\'s client left and the request behind it timed out, the connection goes: the next request is answered', async () => {
  // the stream's client: reads the head and first event, then leaves
  const streamClient = net.connect(proxy.port, '127.0.0.1');
  streamClient.on('error', () => { /* closed by the test */ });
  streamClient.write(requestText('GET', '/stream'));
  await once(streamClient, 'data');
  expect(streaming).toBe(1);
  // written behind the stream on the one connection: waits for it, gets its 504 (head-of-line blocking, README)
  const behind = await rawRequest(proxy.port, requestText('GET', '/fast/behind'), { timeoutMs: 5_000 });
  expect(behind.status).toBe(504);
  streamClient.destroy();
  // nobody waits for anything on that connection now: the proxy lets it go (the upstream sees the stream end)
  await waitFor('streaming === 0', () => streaming === 0, 10_000, { detail: () => 'the abandoned stream\'s connection closed' });
  // and the next request gets its answer
  const next = await rawRequest(proxy.port, requestText('GET', '/fast/next'), { timeoutMs: 5_000 });
  expect(`${next.status} ${next.body.toString()}`).toBe('200 fast');
  expect(streaming).toBe(0);
});
