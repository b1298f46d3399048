// Response trailers from an HTTP/2 upstream reach HTTP/2 clients (node/http2/h2-relay.ts), but
// the proxy's own policy field is not the upstream's to write there either: with
// `cluster.policy.response_header` an upstream's X-Portcullis-Policy trailer is dropped, as its
// header of that name is (before, the trailer passed and a client merging trailers saw a forged version).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http2, { type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startProxy, baseConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';

const FORGED = 'v999 sha256:forged000000';
let upstream: Http2Server;
let proxy: ProxyProcess;
let origin: string;

beforeAll(async () => {
  upstream = http2.createServer();
  upstream.on('stream', (stream: ServerHttp2Stream) => {
    stream.on('error', () => { /* the client may reset */ });
    stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123', 'x-portcullis-policy': FORGED }));
    stream.end('body');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${port}`, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    upstreams: { app: { targets: [`http://127.0.0.1:${port}`], protocol: 'h2c' } },
    cluster: { policy: { response_header: true } },
  }));
  origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
});

afterAll(async () => {
  await proxy?.stop();
  await new Promise((r) => upstream?.close(r));
});

describe('response trailers from an HTTP/2 upstream', () => {
  it('pass through to an HTTP/2 client, except an X-Portcullis-Policy the upstream wrote: only the proxy names its policy', async () => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/x' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('body');
    expect(r.headers['x-portcullis-policy']).toMatch(/^config-1 sha256:[0-9a-f]{12}$/);
    expect(r.trailers['x-checksum']).toBe('abc123');
    expect(r.trailers['x-portcullis-policy'], 'the upstream\'s forged policy trailer').toBeUndefined();
  });
});
