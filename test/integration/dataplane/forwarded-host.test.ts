// With server.trust_forwarded the upstream gets the front proxy's X-Forwarded-Host as sent, while
// routes match on Host. An X-Forwarded-Host naming another route's host (or a list, or two lines)
// must be refused: judged by the public host's route, an upstream that reads X-Forwarded-Host
// (Express `trust proxy`, Django USE_X_FORWARDED_HOST, Rails, Spring) would serve the protected one.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startFixtureJwks, startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { waitReady } from '../auth/tokens-helpers.js';

let upstream: ScriptedUpstream;
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;
let h2: ClientHttp2Session;

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => { req.resume(); req.on('end', () => res.end('reached')); });
  jwks = await startFixtureJwks();
  proxy = await startProxy(baseConfig(upstream.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, trust_forwarded: true },
    issuers: { fx: fixtureIssuer(jwks.url) },
    upstreams: { app: { targets: [upstream.url], host: 'preserve' } },
    routes: [
      { name: 'admin', match: { path: '/*', host: 'admin.example' }, upstream: 'app', auth: {} },
      { name: 'public', match: { path: '/*', host: 'public.example' }, upstream: 'app', auth: 'none' },
      // any host: a front proxy that sends its own Host (nginx's default $proxy_host) still works here
      { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  h2 = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
});

afterAll(async () => {
  h2?.close();
  await proxy?.stop();
  await upstream?.close();
  await jwks?.close();
});

/** GET `path` with these header lines, raw (a client library would merge or refuse some). */
async function get(path: string, lines: string[]): Promise<{ status: number; body: string; forwarded: number }> {
  const before = upstream.seen.length;
  const r = await rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`);
  return { status: r.status, body: r.body.toString(), forwarded: upstream.seen.length - before };
}

describe('trusted X-Forwarded-Host must select the route Host selected', () => {
  it.each([
    [['Host: public.example', 'X-Forwarded-Host: admin.example'], 'another route\'s host'],
    [['Host: public.example', 'X-Forwarded-Host: ADMIN.Example.:8443'], 'another route\'s host, spelled otherwise'],
    [['Host: public.example', 'X-Forwarded-Host: public.example, admin.example'], 'a list (Express takes the first, Rails the last)'],
    [['Host: public.example', 'X-Forwarded-Host: public.example', 'X-Forwarded-Host: admin.example'], 'two lines'],
    [['Host: public.example', 'X-Forwarded-Host: admin.example/x'], 'not a host'],
    [['Host: portcullis.internal', 'X-Forwarded-Host: admin.example'], 'a host route\'s host while Host selected an any-host route'],
  ])('%j → 400, nothing forwarded (%s)', async (lines) => {
    const r = await get('/open/x', lines);
    expect(r.status, r.body).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'PORTCULLIS_ERR_FORWARDED_HOST' });
    expect(r.forwarded).toBe(0);
  });

  it('the same on the HTTP/2 listener: :authority public.example, x-forwarded-host admin.example → 400', async () => {
    const before = upstream.seen.length;
    const r = await h2Request(h2, { ':method': 'GET', ':path': '/x', ':scheme': 'http', ':authority': 'public.example', 'x-forwarded-host': 'admin.example' });
    expect(r.status, r.text).toBe(400);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_FORWARDED_HOST' });
    expect(upstream.seen.length).toBe(before);
  });

  it.each([
    [['Host: public.example', 'X-Forwarded-Host: public.example'], 'public.example'],
    [['Host: public.example', 'X-Forwarded-Host: PUBLIC.example.:8443'], 'PUBLIC.example.:8443'],
    [['Host: portcullis.internal:8080', 'X-Forwarded-Host: shop.example'], 'shop.example'],
  ])('%j selects the same route → forwarded, X-Forwarded-Host as the front proxy sent it', async (lines, xfh) => {
    const r = await get('/open/x', lines);
    expect(r.status, r.body).toBe(200);
    expect(r.forwarded).toBe(1);
    expect(upstream.seen.at(-1)!.headers['x-forwarded-host']).toBe(xfh);
  });

  it('the protected host through X-Forwarded-Host and Host alike is judged by its route (401 without a token)', async () => {
    const r = await get('/x', ['Host: admin.example', 'X-Forwarded-Host: admin.example']);
    expect(r.status, r.body).toBe(401);
    expect(r.forwarded).toBe(0);
  });

  it('host-override headers other upstreams read (X-Original-Host, X-Host, X-HTTP-Host-Override) never reach the upstream', async () => {
    const r = await get('/x', ['Host: public.example', 'X-Original-Host: admin.example', 'X-Host: admin.example', 'X-HTTP-Host-Override: admin.example']);
    expect(r.status, r.body).toBe(200);
    const seen = upstream.seen.at(-1)!.headers;
    expect([seen['x-original-host'], seen['x-host'], seen['x-http-host-override']]).toEqual([undefined, undefined, undefined]);
    expect(seen.host).toBe('public.example');
  });
});
