// The original method's case at a decision endpoint. Methods are case-sensitive (RFC 9110 §9.1):
// Go's net/http (Traefik, Caddy) and HAProxy pass `get` on as sent, and an app routing by exact
// method (Go 1.22 ServeMux `GET /items/{id}` vs `/items/{id}`) runs its any-method handler for
// it — the one Portcullis guards with its any-method route — while the decision, reading `get` as
// GET, answered 200 by the open GET-only route. Proxy mode forwards the upper-cased method; a
// decision cannot change what the edge forwards, so it refuses a method not in upper case.
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/nats.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { startFixtureJwks, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { waitReady } from '../auth/tokens-helpers.js';
import { send } from './decision-fixtures.js';
import { startHaproxyEdge, startRawApp, type Haproxy, type RawApp } from './edge-fixtures.js';

interface CheckResponse { status: { code: number; message: string } | null; denied_response?: { status?: { code: number } } | null }
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

let jwks: ScriptedUpstream;
let proxy: ProxyProcess;
let client: grpc.Client;
let haproxy: Haproxy;
let edgePort: number;
/** The app behind the edge: a raw server (Node's parser refuses `get`); `lines()`: the request line of each request it received. */
let app: RawApp;
const lines = (): string[] => app.heads.map((h) => h.split('\r\n')[0]!);

beforeAll(async () => {
  jwks = await startFixtureJwks();
  app = await startRawApp();
  const appPort = app.port;
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${appPort}`, {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { grpc: true, endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }, { path: '/_portcullis/ext_authz', dialect: 'envoy' }] },
    },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      // reads are open; every other method on the same paths needs a token (README: guard a path for every method)
      { name: 'items-read', match: { path: '/items/*', methods: ['GET'] }, upstream: 'app', auth: 'none' },
      { name: 'items', match: { path: '/items/*' }, upstream: 'app', auth: {} },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy, 30_000); // the machine may be loaded: readiness waits for the JWKS
  edgePort = await freePort();
  haproxy = await startHaproxyEdge(edgePort, proxy.port, appPort);
  client = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
}, 60_000);

afterAll(async () => {
  client?.close();
  await haproxy?.stop();
  await proxy?.stop();
  await jwks?.close();
  await app?.close();
});

function check(method: string): Promise<CheckResponse> {
  return new Promise((resolve, reject) => {
    (client as unknown as { Check: CheckFn }).Check(
      { attributes: { request: { http: { method, path: '/items/1', host: 'app.example', scheme: 'http', headers: {} } } } },
      (err, res) => (err !== null ? reject(err) : resolve(res)),
    );
  });
}

describe('an original method not in upper case is refused at every decision door', () => {
  it('through HAProxy: `get /items/1` without a token → 400, the app never sees it (GET is open, upper case passes)', async () => {
    const before = lines().length;
    const upper = await rawRequest(edgePort, 'GET /items/1 HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n');
    expect(upper.status, `${upper.raw}\n${haproxy.errors()}`).toBe(200);
    expect(lines().slice(before)).toEqual(['GET /items/1 HTTP/1.1']);
    const lower = await rawRequest(edgePort, 'get /items/1 HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n');
    // before: 200, and the app got `get /items/1` — its any-method handler, which the `items` route guards
    expect(lines().slice(before + 1), 'request lines the app received').toEqual([]);
    expect(lower.status, lower.raw).toBe(400);
  });

  it.each([
    ['traefik/caddy get', { 'x-forwarded-method': 'get', 'x-forwarded-uri': '/items/1', 'x-forwarded-host': 'app.example' }],
    ['traefik/caddy Get', { 'x-forwarded-method': 'Get', 'x-forwarded-uri': '/items/1', 'x-forwarded-host': 'app.example' }],
    ['nginx get', { 'x-original-method': 'get', 'x-original-uri': '/items/1', host: 'app.example' }],
  ])('%s → 400 PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING', async (_shape, headers) => {
    const r = await send(`${proxy.url}/_portcullis/auth`, headers);
    expect(r.status, r.text).toBe(400);
    expect(r.json?.code).toBe('PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING');
  });

  it('envoy HTTP ext_authz (the call carries the original method): `get` is never allowed (uWS closes on it; Envoy answers status_on_error)', async () => {
    const r = await rawRequest(proxy.port, 'get /_portcullis/ext_authz/items/1 HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n');
    expect(r.status, r.raw).not.toBe(200);
    const ok = await rawRequest(proxy.port, 'GET /_portcullis/ext_authz/items/1 HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n');
    expect(ok.status, ok.raw).toBe(200);
  });

  it('gRPC ext_authz Check with method `get` → not OK (400); `GET` → OK', async () => {
    const r = await check('get');
    expect(r.status?.code ?? 0, JSON.stringify(r)).toBe(3);
    expect(r.denied_response?.status?.code, JSON.stringify(r)).toBe(400);
    expect((await check('GET')).status?.code ?? 0).toBe(0);
  });

  it('upper case still judges by method: DELETE without a token → 401', async () => {
    const r = await send(`${proxy.url}/_portcullis/auth`, { 'x-forwarded-method': 'DELETE', 'x-forwarded-uri': '/items/1', 'x-forwarded-host': 'app.example' });
    expect(r.status, r.text).toBe(401);
  });
});
