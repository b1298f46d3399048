// `?_method=DELETE`: Spring's HiddenHttpMethodFilter, Symfony/Laravel and Express's method-override
// run the DELETE handler for such a POST. A route chosen for POST must not carry the client to a
// handler another route (methods: [DELETE], stricter policy) guards: the real CLI, raw bytes on the
// main listener, an h2c client on the HTTP/2 listener, a decision call, an upstream that records.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText, type RawResponse } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { asIssuer, waitReady } from '../auth/tokens-helpers.js';
import type { ClientHttp2Session } from 'node:http2';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let up: ScriptedUpstream;
let proxy: ProxyProcess;
let session: ClientHttp2Session;

beforeAll(async () => {
  as = await startAuthServer();
  up = await startScriptedUpstream((_req, res) => { res.end('executed'); });
  proxy = await startProxy(baseConfig(up.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_auth', dialect: 'auto' }] } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [
      // anyone may create an item; deleting one needs the admin scope
      { name: 'items-create', match: { path: '/items/*', methods: ['POST'] }, upstream: 'app', auth: 'none' },
      { name: 'items-delete', match: { path: '/items/*', methods: ['DELETE'] }, upstream: 'app', auth: { scopes: { all: ['admin'] } } },
      // one route for every method: its policy holds whatever method the upstream runs
      { name: 'notes', match: { path: '/notes/*' }, upstream: 'app', auth: 'none' },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
});

afterAll(async () => {
  session?.close();
  await proxy?.stop();
  await Promise.all([as?.close(), up?.close()]);
});

const post = (target: string): Promise<RawResponse> => rawRequest(proxy.port, requestText('POST', target, [['Content-Type', 'text/plain']], 'x'));

function expectRefused(r: { status: number; body?: Buffer; text?: string }, before: number): void {
  const text = r.text ?? r.body!.toString();
  expect(r.status, text).toBe(400);
  expect(JSON.parse(text)).toMatchObject({ code: 'PORTCULLIS_ERR_METHOD_OVERRIDE', error: 'invalid_request' });
  expect(up.seen.length, 'nothing reaches the upstream').toBe(before);
}

describe('a _method override in the query (main listener)', () => {
  it('POST ?_method=DELETE on a POST-only route, without the token the DELETE route needs → 400, nothing forwarded', async () => {
    const before = up.seen.length;
    expectRefused(await post('/items/1?_method=DELETE'), before);
    // the DELETE itself still asks for the token
    expect((await rawRequest(proxy.port, requestText('DELETE', '/items/1'))).status).toBe(401);
  });

  it('every spelling a framework reads as _method is refused the same way', async () => {
    const before = up.seen.length;
    for (const q of ['_method=delete', '%5Fmethod=DELETE', '_%6Dethod=DELETE', '_method%5B%5D=DELETE', '_method[]=DELETE', '_method[0]=DELETE',
      'a=1&_method=DELETE', 'a=1;_method=DELETE', '_method=DEL%45TE', '_method=POST&_method=DELETE', '_method=DE-LETE', '_method=', '_method']) {
      const r = await post(`/items/1?${q}`);
      expect(r.status, q).toBe(400);
      expect(JSON.parse(r.body.toString()), q).toMatchObject({ code: 'PORTCULLIS_ERR_METHOD_OVERRIDE' });
    }
    expect(up.seen.length).toBe(before);
  });

  it('an override that selects the same route passes with its query untouched; other parameters are no override', async () => {
    const before = up.seen.length;
    for (const [target, url] of [['/items/1?_method=post', '/items/1?_method=post'], ['/notes/1?_method=PUT', '/notes/1?_method=PUT'], ['/items/1?x_method=DELETE&method=DELETE&a=%25', '/items/1?x_method=DELETE&method=DELETE&a=%25']] as const) {
      const r = await post(target);
      expect(r.status, target).toBe(200);
      expect(r.body.toString()).toBe('executed');
      expect(up.seen.at(-1)).toMatchObject({ method: 'POST', url });
    }
    expect(up.seen.length).toBe(before + 3);
    const line = () => proxy.logs().find((l) => l.msg === 'request' && l.route === 'items-create' && l.status === 400);
    await waitFor('line() !== undefined', () => line() !== undefined, 10_000); // the access line comes over the proxy's stdout, after the answer
    expect(line()).toMatchObject({ deny: 'method_override' });
  });
});

describe('the same rule on the HTTP/2 listener and on decision endpoints', () => {
  it('h2c POST ?_method=DELETE → 400, nothing forwarded; ?_method=PUT on the any-method route passes', async () => {
    const before = up.seen.length;
    expectRefused(await h2Request(session, { ':method': 'POST', ':path': '/items/1?_method=DELETE' }, 'x'), before);
    const ok = await h2Request(session, { ':method': 'POST', ':path': '/notes/1?_method=PUT' }, 'x');
    expect(ok.status, ok.text).toBe(200);
    expect(up.seen.at(-1)).toMatchObject({ method: 'POST', url: '/notes/1?_method=PUT' });
  });

  it('an edge asking about POST /items/1?_method=DELETE is told 400 (its upstream would run the DELETE)', async () => {
    const before = up.seen.length;
    const ask = (uri: string): Promise<RawResponse> => rawRequest(proxy.port, requestText('GET', '/_auth', [
      ['X-Forwarded-Method', 'POST'], ['X-Forwarded-Uri', uri], ['X-Forwarded-Host', 'api.example'], ['X-Forwarded-Proto', 'https'],
    ]));
    expectRefused(await ask('/items/1?_method=DELETE'), before);
    expect((await ask('/items/1?a=1')).status).toBe(200);
    expect(up.seen.length, 'a decision never calls the upstream').toBe(before);
  });
});
