// Cross-site request forgery with a cookie token: a page on any other site can make the user's
// browser POST/PUT/PATCH/DELETE to a route (a form POST needs no CORS preflight) and the browser
// attaches the cookie by itself. A token read from a cookie therefore authorizes an unsafe method
// only when Sec-Fetch-Site / Origin say the page is the route's own origin or one it lists in
// `cookie_origins`; else 403 PORTCULLIS_ERR_AUTH_CROSS_ORIGIN and the upstream sees nothing — on
// the HTTP/1.1 listener, the HTTP/2 listener and a decision endpoint alike.
import type { ClientHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { asIssuer, bearer, call, metrics, sample, startRecorder, waitReady, type Recorder, type Reply } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let up: Recorder;
let proxy: ProxyProcess;
let own = '';
let token = '';
let h2Origin = '';
let session: ClientHttp2Session;
let extAuthz: grpc.Client;

beforeAll(async () => {
  [as, up] = await Promise.all([
    startAuthServer(),
    startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'text/plain' }).end('reached'); }),
  ]);
  proxy = await startProxy({
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'nginx' }], grpc: true },
    },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: asIssuer(as) },
    upstreams: { app: { targets: [up.url] } },
    routes: [
      {
        name: 'account', match: { path: '/account/*' }, upstream: 'app', websocket: true,
        cookie_origins: ['https://app.example'], websocket_origins: ['https://chat.example'],
        auth: { token_sources: { cookie: 'session', websocket_protocol: true } },
      },
      // no websocket: true — proxy mode never upgrades here (a handshake is served as a plain GET)
      { name: 'plain', match: { path: '/plain/*' }, upstream: 'app', auth: {} },
    ],
    log: { level: 'info', access: true },
    verifier: { pool_size: 1 },
  }, { env: ADMIN_ENV });
  await waitReady(proxy, 10_000);
  own = `http://127.0.0.1:${proxy.port}`;
  h2Origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
  session = await h2Connect(h2Origin);
  extAuthz = extAuthzClient(new URL(h2Origin).host);
  token = await as.issueJwt({ sub: 'victim' });
}, 60_000);

afterAll(async () => {
  session?.close();
  extAuthz?.close();
  await proxy?.stop();
  await Promise.all([as?.close(), up?.close()]);
});

const cookie = (): Record<string, string> => ({ cookie: `theme=dark; session=${token}` });

/** `fn`'s answer, asserting it is the cross-origin refusal and that the upstream saw nothing. */
async function refused(fn: () => Promise<Reply>, label: string): Promise<void> {
  const before = up.hits.length;
  const r = await fn();
  expect([r.status, r.json?.code], `${label}: ${r.text}`).toEqual([403, 'PORTCULLIS_ERR_AUTH_CROSS_ORIGIN']);
  // like every access_denied refusal of a valid token: no challenge (another token would not help)
  expect([r.json?.error, r.headers['www-authenticate']], label).toEqual(['access_denied', undefined]);
  expect(up.hits.length, `${label}: reached the upstream`).toBe(before);
}

async function passed(fn: () => Promise<Reply>, label: string): Promise<void> {
  const before = up.hits.length;
  const r = await fn();
  expect(r.status, `${label}: ${r.text}`).toBe(200);
  expect(up.hits.length, label).toBe(before + 1);
}

const post = (headers: Record<string, string>, method = 'POST'): Promise<Reply> => call(`${own}/account/transfer`, { method, headers: { ...cookie(), ...headers } });

describe('HTTP/1.1: an unsafe method with a cookie token', () => {
  it('from another Origin, or Sec-Fetch-Site same-site/cross-site without a listed Origin → 403, nothing forwarded', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      await refused(() => post({ origin: 'https://evil.example' }, method), `${method} Origin evil`);
    }
    await refused(() => post({ 'sec-fetch-site': 'cross-site' }), 'Sec-Fetch-Site cross-site, no Origin');
    await refused(() => post({ 'sec-fetch-site': 'same-site' }), 'Sec-Fetch-Site same-site, no Origin');
    await refused(() => post({ 'sec-fetch-site': 'cross-site', origin: own }), 'Sec-Fetch-Site cross-site beats an Origin equal to the own one');
    await refused(() => post({ 'sec-fetch-site': 'whatever' }), 'unknown Sec-Fetch-Site value');
    for (const origin of ['null', 'not a url', `http://127.0.0.1:${proxy.port + 1}`, 'https://app.example.evil.example', 'https://app.example/path', 'https://chat.example']) {
      await refused(() => post({ origin }), `Origin ${origin}`);
    }
  });

  it('two Origin headers → 403 (raw bytes), nothing forwarded', async () => {
    const before = up.hits.length;
    const r = await rawRequest(proxy.port, requestText('POST', '/account/transfer', [['Cookie', `session=${token}`], ['Origin', own], ['Origin', 'https://evil.example'], ['Connection', 'close']], 'x=1'));
    expect([r.status, JSON.parse(r.body.toString()).code]).toEqual([403, 'PORTCULLIS_ERR_AUTH_CROSS_ORIGIN']);
    expect(up.hits.length).toBe(before);
  });

  it('the own origin, a listed one, same-origin/none fetch metadata, or no browser headers at all → forwarded', async () => {
    await passed(() => post({ origin: own }), 'own Origin');
    await passed(() => post({ origin: own.toUpperCase().replace('HTTP://', 'http://') }), 'own Origin, upper-case host');
    await passed(() => post({ origin: 'https://app.example' }), 'listed Origin');
    await passed(() => post({ origin: 'HTTPS://APP.EXAMPLE:443' }), 'listed Origin, other spelling');
    await passed(() => post({ 'sec-fetch-site': 'cross-site', origin: 'https://app.example' }), 'cross-site from a listed Origin');
    await passed(() => post({ 'sec-fetch-site': 'same-origin', origin: own }), 'Sec-Fetch-Site same-origin');
    await passed(() => post({ 'sec-fetch-site': 'none' }), 'Sec-Fetch-Site none (typed by the user)');
    await passed(() => post({}), 'no Origin, no Sec-Fetch-Site (not a browser page)');
  });

  it('safe methods from anywhere, and tokens a page must set itself, are not checked', async () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      await passed(() => post({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, method), `${method} cross-site`);
    }
    await passed(() => call(`${own}/account/transfer`, { method: 'POST', headers: { ...bearer(token), origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } }), 'Authorization header cross-site');
  });

  it('each refusal is counted as a denial with reason cross_origin and logged without the token', async () => {
    const m = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(m, 'portcullis_auth_decisions_total{decision="denied",reason="cross_origin"}')).toBeGreaterThanOrEqual(10);
    // the lines reach the test asynchronously, after the counts: waited for, then read
    const refusals = (): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.deny === 'cross_origin' && l.status === 403);
    await waitFor('a cross_origin refusal logged', () => refusals().length > 0, 5_000, { detail: () => proxy.output().slice(-2000) });
    const lines = refusals();
    expect(lines.length).toBeGreaterThan(0);
    expect(proxy.output()).not.toContain(token);
  });
});

describe('the same shape through the other front doors', () => {
  const h2 = async (headers: Record<string, string>): Promise<Reply> => {
    const r = await h2Request(session, { ':method': 'POST', ':path': '/account/transfer', ...cookie(), ...headers }, 'x=1');
    let json: Record<string, unknown> | null = null;
    try { json = JSON.parse(r.text) as Record<string, unknown>; } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers as Reply['headers'], text: r.text, json };
  };

  it('HTTP/2 listener: cross-site POST → 403, nothing forwarded; its own origin → forwarded', async () => {
    await refused(() => h2({ origin: 'https://evil.example' }), 'h2 Origin evil');
    await refused(() => h2({ 'sec-fetch-site': 'cross-site' }), 'h2 Sec-Fetch-Site cross-site');
    await refused(() => h2({ origin: own }), 'h2: the HTTP/1.1 listener\'s origin is another origin');
    await passed(() => h2({ origin: h2Origin }), 'h2 own Origin');
  });

  it('decision endpoint: the original method decides; cross-site POST → 403, GET and the original origin → 200', async () => {
    const decide = (method: string, headers: Record<string, string>): Promise<Reply> =>
      call(`${own}/_portcullis/auth`, { headers: { 'x-original-uri': '/account/transfer', 'x-original-method': method, host: 'api.example', ...cookie(), ...headers } });
    const before = up.hits.length;
    const denied = await decide('POST', { origin: 'https://evil.example' });
    expect([denied.status, denied.json?.code], denied.text).toEqual([403, 'PORTCULLIS_ERR_AUTH_CROSS_ORIGIN']);
    const denied2 = await decide('DELETE', { 'sec-fetch-site': 'cross-site' });
    expect([denied2.status, denied2.json?.code], denied2.text).toEqual([403, 'PORTCULLIS_ERR_AUTH_CROSS_ORIGIN']);
    expect((await decide('GET', { origin: 'https://evil.example' })).status).toBe(200);
    expect((await decide('POST', { origin: 'http://api.example' })).status).toBe(200);
    expect((await decide('POST', { origin: 'https://app.example', 'sec-fetch-site': 'cross-site' })).status).toBe(200);
    expect(up.hits.length, 'a decision never calls the upstream').toBe(before);
  });

  it('decision endpoint: a WebSocket handshake from a foreign page with the cookie → 403 WEBSOCKET_ORIGIN, as proxy mode; own or listed origin → 200', async () => {
    // what nginx's auth_request passes for a handshake: the client's headers but Upgrade/Connection (hop-by-hop)
    const ws = { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };
    const decide = (headers: Record<string, string>): Promise<Reply> =>
      call(`${own}/_portcullis/auth`, { headers: { 'x-original-uri': '/account/socket', 'x-original-method': 'GET', host: 'api.example', ...cookie(), ...ws, ...headers } });
    for (const h of [{ origin: 'https://evil.example' }, { origin: 'null' }] as Array<Record<string, string>>) {
      const r = await decide(h);
      expect([r.status, r.json?.code], `${JSON.stringify(h)}: ${r.text}`).toEqual([403, 'PORTCULLIS_ERR_WEBSOCKET_ORIGIN']);
    }
    for (const origin of ['http://api.example', 'https://app.example', 'https://chat.example']) {
      expect((await decide({ origin })).status, origin).toBe(200);
    }
    expect((await decide({})).status, 'no Origin: not a browser page').toBe(200);
    // a token the page must set itself is not checked (as in proxy mode)
    const bearerOnly = await call(`${own}/_portcullis/auth`, { headers: { 'x-original-uri': '/account/socket', 'x-original-method': 'GET', host: 'api.example', ...ws, origin: 'https://evil.example', ...bearer(token) } });
    expect(bearerOnly.status, bearerOnly.text).toBe(200);
    // the bearer subprotocol (token_sources.websocket_protocol) is proxy mode's: the edge would hand the app the
    // token-bearing entry, which proxy mode removes, so a decision does not read it — no token, 401 (README)
    const sub = await call(`${own}/_portcullis/auth`, { headers: { 'x-original-uri': '/account/socket', 'x-original-method': 'GET', host: 'api.example', ...ws, 'sec-websocket-protocol': `base64url.bearer.authorization.k8s.io.${Buffer.from(token).toString('base64url')}, chat` } });
    expect([sub.status, sub.json?.code], sub.text).toEqual([401, 'PORTCULLIS_ERR_AUTH_MISSING']);
    // a route without websocket: true: proxy mode never answers a handshake there with 101, and behind an edge
    // the app would open the socket — refused, whatever the token; a plain GET there is allowed
    const plain = (headers: Record<string, string>): Promise<Reply> =>
      call(`${own}/_portcullis/auth`, { headers: { 'x-original-uri': '/plain/socket', 'x-original-method': 'GET', host: 'api.example', ...bearer(token), ...headers } });
    const up = await plain(ws);
    expect([up.status, up.json?.code], up.text).toEqual([403, 'PORTCULLIS_ERR_DECISION_WEBSOCKET_ROUTE']);
    expect((await plain({})).status).toBe(200);
    // counted as the denials they are, by reason (an operator whose WebSocket app broke looks here);
    // before, each counted as decision="allowed": the token was fine, the verdict a 403
    const m = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(m, 'portcullis_auth_decisions_total{decision="denied",reason="ws_cross_origin"}'), 'ws_cross_origin').toBeGreaterThanOrEqual(2);
    expect(sample(m, 'portcullis_auth_decisions_total{decision="denied",reason="ws_route"}'), 'ws_route').toBeGreaterThanOrEqual(1);
  });

  it('Envoy ext_authz gRPC Check: the original method decides the same way', async () => {
    type Check = { status: { code: number } | null; denied_response?: { status: { code: number } | null; body: string } };
    const check = (method: string, headers: Record<string, string>): Promise<Check> => new Promise((resolve, reject) => {
      const req = { attributes: { request: { http: {
        method, path: '/account/transfer', host: 'api.example', scheme: 'https', protocol: 'HTTP/1.1',
        headers: { ':authority': 'api.example', ':method': method, ':path': '/account/transfer', ':scheme': 'https', ...cookie(), ...headers },
      } } } };
      (extAuthz as unknown as { Check(r: unknown, cb: (e: grpc.ServiceError | null, r: Check) => void): void }).Check(req, (e, r) => (e !== null ? reject(e) : resolve(r)));
    });
    const before = up.hits.length;
    for (const h of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Array<Record<string, string>>) {
      const r = await check('POST', h);
      expect([r.status?.code, r.denied_response?.status?.code], JSON.stringify(r)).toEqual([grpc.status.PERMISSION_DENIED, 403]);
      expect(JSON.parse(r.denied_response!.body)).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_CROSS_ORIGIN' });
    }
    expect((await check('GET', { origin: 'https://evil.example' })).status?.code ?? 0).toBe(0);
    expect((await check('POST', { origin: 'https://api.example' })).status?.code ?? 0).toBe(0);
    // a WebSocket handshake (GET) from a foreign page: Envoy opens the socket, so the Check must refuse it
    const counted = async (): Promise<number> => sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_auth_decisions_total{decision="denied",reason="ws_cross_origin"}') ?? 0;
    const deniedBefore = await counted();
    const ws = await check('GET', { origin: 'https://evil.example', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    expect([ws.status?.code, ws.denied_response?.status?.code], JSON.stringify(ws)).toEqual([grpc.status.PERMISSION_DENIED, 403]);
    expect(await counted(), 'counted as a denial, not as allowed').toBe(deniedBefore + 1);
    expect((await check('GET', { origin: 'https://chat.example', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' })).status?.code ?? 0).toBe(0);
    expect(up.hits.length, 'a Check never calls the upstream').toBe(before);
  });
});
