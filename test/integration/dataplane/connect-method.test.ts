// CONNECT turns a connection into a tunnel (RFC 9110 §9.3.6); the proxy relays HTTP messages only.
// A CONNECT the parsers let through with an origin-form target (`CONNECT /public/x` on the main
// listener, `:method connect` in lower case on HTTP/2, an edge's X-Forwarded-Method) must never be
// routed: before, it was matched to a route, authenticated, and a decision endpoint allowed it —
// an edge that tunnels CONNECT would have opened a tunnel on a policy written for HTTP requests.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { rawSession, frame, FRAME, FLAG, literal } from '../../helpers/h2-frames.js';
import { waitFor } from '../../helpers/wait.js';

let up: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  up = await startScriptedUpstream((_req, res) => { res.end('upstream'); });
  proxy = await startProxy(baseConfig(up.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_auth', dialect: 'auto' }] } },
    routes: [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }],
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await up?.close();
});

function expectNotRouted(status: number, text: string): void {
  expect(status, text).toBe(404);
  expect(JSON.parse(text)).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
}

describe('CONNECT is never routed', () => {
  it('main listener: CONNECT with an origin-form target → 404, nothing forwarded; GET on the same path still passes', async () => {
    const before = up.seen.length;
    const r = await rawRequest(proxy.port, requestText('CONNECT', '/public/x'));
    expectNotRouted(r.status, r.body.toString());
    expect(up.seen.length).toBe(before);
    expect((await rawRequest(proxy.port, requestText('GET', '/public/x'))).status).toBe(200);
  });

  it('HTTP/2: `:method connect` in lower case (a normal request to nghttp2) → 404, nothing forwarded', async () => {
    const before = up.seen.length;
    const s = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
    try {
      const r = await h2Request(s, { ':method': 'connect', ':path': '/public/x' });
      expectNotRouted(r.status, r.text);
    } finally { s.close(); }
    expect(up.seen.length).toBe(before);
  });

  it('HTTP/2: CONNECT without :path → 405; extended CONNECT (:protocol) → stream reset, not offered', async () => {
    const s = await rawSession(http2PortOf(proxy.logs()));
    const data: Buffer[] = [];
    s.socket.on('data', (d: Buffer) => data.push(d));
    s.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.concat([literal(':method', 'CONNECT'), literal(':authority', '127.0.0.1:443')])));
    s.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3, Buffer.concat([literal(':method', 'CONNECT'), literal(':protocol', 'websocket'), literal(':scheme', 'http'), literal(':path', '/public/x'), literal(':authority', 'localhost')])));
    // a bound, not a speed (was a fixed 2 s)
    await waitFor('the CONNECT answered and the extended CONNECT reset', () => s.responses.has(1) && s.resets.has(3), 10_000);
    expect(s.responses.has(1), 'CONNECT answered').toBe(true);
    expect(Buffer.concat(data).includes(Buffer.from('405')), '405 in the response head').toBe(true);
    expect(s.resets.get(3), 'extended CONNECT: RST_STREAM PROTOCOL_ERROR').toBe(1);
    s.socket.destroy();
  });

  it('HTTP/2: CONNECT to an authority (`internal:22`) → 405 with the JSON error PORTCULLIS_ERR_CONNECT_REFUSED, logged; nothing forwarded', async () => {
    const before = up.seen.length;
    const s = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
    try {
      const r = await h2Request(s, { ':method': 'CONNECT', ':authority': 'internal:22' });
      expect(r.status, r.text).toBe(405);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_CONNECT_REFUSED' });
    } finally { s.close(); }
    expect(up.seen.length).toBe(before);
    await waitFor("proxy.logs().some((l) => l.msg === 'request' && l.method === 'CONNECT' && l.status === 405 && l.reason === …", () => proxy.logs().some((l) => l.msg === 'request' && l.method === 'CONNECT' && l.status === 405 && l.reason === 'connect_refused'));
  });

  it('a decision endpoint asked about a CONNECT says 404, not 200', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/_auth', [['X-Forwarded-Method', 'CONNECT'], ['X-Forwarded-Uri', '/public/x'], ['X-Forwarded-Host', 'api.example'], ['X-Forwarded-Proto', 'https']]));
    expectNotRouted(r.status, r.body.toString());
  });

  it('a route listing CONNECT in match.methods is a config error naming its path', async () => {
    const file = writeConfig(baseConfig('http://127.0.0.1:9', { routes: [{ name: 'egress', match: { path: '/*', methods: ['GET', 'connect'] }, upstream: 'app', auth: 'none' }] }));
    const r = await runCli(['check-config', file], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/routes\[0\]\.match\.methods\[1\]/);
    expect(r.stdout + r.stderr).toMatch(/CONNECT opens a tunnel/);
  });
});
