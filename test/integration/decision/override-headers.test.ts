// Method- and URL-override headers at the decision endpoints. Behind an edge the app gets the
// client's request as sent, so `POST /public/x` with `X-HTTP-Method-Override: DELETE` (Express
// method-override, Rack, Laravel) or `GET /public/x` with `X-Original-URL: /admin/x` (Symfony < 4,
// Zend, IIS) runs another handler than the one judged. Each dialect (nginx, Traefik, Envoy HTTP)
// and the gRPC Check must refuse them unless they select the judged route (and path); proxy mode
// still strips them and forwards. A real proxy process; the upstream is never called by a decision.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { DECISION, INTROSPECTION_SECRET, decisionPolicy, send, waitReady } from './decision-fixtures.js';

const ENV = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET };

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let grpcClient: grpc.Client;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  const policy = decisionPolicy(as, echo.url);
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { ...DECISION, grpc: true } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...policy,
    // /public/* answers GET and POST without a token; DELETE on the same path is another route that wants the admin scope
    routes: [
      { name: 'public', match: { path: '/public/*', methods: ['GET', 'POST'] }, upstream: 'app', auth: 'none' },
      { name: 'public-delete', match: { path: '/public/*', methods: ['DELETE'] }, upstream: 'app', auth: { scopes: { all: ['admin'] } } },
      { name: 'admin', match: { path: '/admin/*' }, upstream: 'app', auth: { scopes: { all: ['admin'] } } },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  }, { env: ENV });
  await waitReady(proxy.adminUrl, ADMIN_TOKEN);
  grpcClient = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
}, 60_000);

afterAll(async () => {
  grpcClient?.close();
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** A decision call over a raw socket (header names exactly as given, repeated names kept): status and error code. */
async function raw(method: string, target: string, headers: Array<[string, string]>): Promise<{ status: number; code: string | undefined }> {
  const r = await rawRequest(proxy.port, requestText(method, target, headers));
  let code: string | undefined;
  try { code = (JSON.parse(r.body.toString()) as { code?: string }).code; } catch { /* no JSON body */ }
  return { status: r.status, code };
}

/** nginx auth_request: the subrequest is a GET to the auth location with X-Original-URI/-Method and the client's headers. */
const nginx = (method: string, uri: string, headers: Array<[string, string]> = []) =>
  raw('GET', '/_portcullis/auth', [['X-Original-URI', uri], ['X-Original-Method', method], ...headers]);
/** Traefik forwardAuth / Caddy forward_auth: X-Forwarded-Method/-Uri/-Host/-Proto. */
const traefik = (method: string, uri: string, headers: Array<[string, string]> = []) =>
  raw('GET', '/_portcullis/auth', [['X-Forwarded-Method', method], ['X-Forwarded-Uri', uri], ['X-Forwarded-Host', 'api.example'], ['X-Forwarded-Proto', 'https'], ...headers]);
/** Envoy HTTP ext_authz: the original method and path on the call itself. */
const envoy = (method: string, uri: string, headers: Array<[string, string]> = []) =>
  raw(method, `/_portcullis/ext_authz${uri}`, headers);

interface CheckResponse { status: { code: number } | null; http_response?: string; denied_response?: { status: { code: number } | null; body: string } }
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

/** Envoy gRPC Check for `method target` with extra client headers: the HTTP status Envoy would answer (200 when allowed) and the code. */
function check(method: string, target: string, headers: Record<string, string>): Promise<{ status: number; code: string | undefined }> {
  const req = {
    attributes: {
      source: { address: { socket_address: { address: '10.1.2.3', port_value: 51234 } } },
      request: {
        http: {
          id: '1', method, path: target, host: 'api.example', scheme: 'https', protocol: 'HTTP/1.1', size: '0',
          headers: { ':authority': 'api.example', ':method': method, ':path': target, ':scheme': 'https', 'x-request-id': randomUUID(), ...headers },
        },
      },
    },
  };
  return new Promise((resolve, reject) => (grpcClient as unknown as { Check: CheckFn }).Check(req, (err, res) => {
    if (err !== null) return reject(err);
    if (res.http_response !== 'denied_response') return resolve({ status: 200, code: undefined });
    resolve({ status: res.denied_response!.status!.code, code: (JSON.parse(res.denied_response!.body) as { code: string }).code });
  }));
}

const METHOD_REFUSED = { status: 400, code: 'PORTCULLIS_ERR_METHOD_OVERRIDE' };
const URL_REFUSED = { status: 400, code: 'PORTCULLIS_ERR_URL_OVERRIDE' };
const ALLOWED = { status: 200, code: undefined };

const dialects = { nginx, traefik, envoy } as const;

describe.each(Object.keys(dialects) as Array<keyof typeof dialects>)('%s dialect', (name) => {
  const call = dialects[name];

  it('the judged request itself is allowed (baseline)', async () => {
    expect(await call('POST', '/public/x')).toEqual(ALLOWED);
    expect(await call('GET', '/public/x?y=1')).toEqual(ALLOWED);
  });

  it('a method-override header naming another route\'s method → 400 METHOD_OVERRIDE, whatever the spelling', async () => {
    for (const h of ['X-HTTP-Method-Override', 'x-http-method', 'X-METHOD-OVERRIDE', 'x-Http-Method-Override']) {
      expect(await call('POST', '/public/x', [[h, 'DELETE']]), h).toEqual(METHOD_REFUSED);
      expect(await call('POST', '/public/x', [[h, 'delete']]), `${h}: delete`).toEqual(METHOD_REFUSED);
    }
  });

  it('list values, several headers, empty and non-method values are refused', async () => {
    expect(await call('POST', '/public/x', [['X-HTTP-Method-Override', 'DELETE, POST']])).toEqual(METHOD_REFUSED);
    expect(await call('POST', '/public/x', [['X-HTTP-Method-Override', 'POST'], ['X-HTTP-Method-Override', 'DELETE']])).toEqual(METHOD_REFUSED);
    expect(await call('POST', '/public/x', [['X-HTTP-Method-Override', 'POST'], ['X-Method-Override', 'DELETE']])).toEqual(METHOD_REFUSED);
    expect(await call('POST', '/public/x', [['X-HTTP-Method-Override', '']])).toEqual(METHOD_REFUSED);
    expect(await call('POST', '/public/x', [['X-HTTP-Method-Override', 'DEL ETE']])).toEqual(METHOD_REFUSED);
  });

  it('an override that selects the judged route passes', async () => {
    expect(await call('POST', '/public/x', [['X-HTTP-Method-Override', 'GET']])).toEqual(ALLOWED);
    expect(await call('GET', '/public/x', [['X-HTTP-Method', 'post']])).toEqual(ALLOWED);
  });

  it('X-Original-URL / X-Rewrite-URL naming another path → 400 URL_OVERRIDE', async () => {
    for (const h of ['X-Original-URL', 'x-rewrite-url', 'X-ORIGINAL-URL']) {
      expect(await call('GET', '/public/x', [[h, '/admin/x']]), h).toEqual(URL_REFUSED);
      expect(await call('GET', '/public/x', [[h, '/public/../admin/x']]), `${h} dot-dot`).toEqual(URL_REFUSED);
      expect(await call('GET', '/public/x', [[h, '/public/y']]), `${h} same route, other path`).toEqual(URL_REFUSED);
      expect(await call('GET', '/public/x', [[h, 'http://evil.example/admin/x']]), `${h} absolute`).toEqual(URL_REFUSED);
      expect(await call('GET', '/public/x', [[h, '//evil.example/public/x']]), `${h} network-path`).toEqual(URL_REFUSED);
      expect(await call('GET', '/public/x', [[h, '']]), `${h} empty`).toEqual(URL_REFUSED);
    }
    expect(await call('GET', '/public/x', [['X-Original-URL', '/public/x'], ['X-Original-URL', '/admin/x']])).toEqual(URL_REFUSED);
    expect(await call('GET', '/public/x', [['X-Envoy-Original-Path', '/admin/x']])).toEqual(URL_REFUSED);
    expect(await call('GET', '/public/x', [['X-Forwarded-Path', '/admin/x']])).toEqual(URL_REFUSED);
  });

  it('a report name the dialect does not use is a client\'s override, judged like the others', async () => {
    // Envoy sets none of these; nginx sets X-Original-URI/-Method, Traefik X-Forwarded-Uri: each dialect's own report names the judged request
    if (name !== 'traefik') expect(await call('GET', '/public/x', [['X-Forwarded-Uri', '/admin/x']])).toEqual(name === 'nginx' ? { status: 400, code: 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING' } : URL_REFUSED);
    if (name !== 'nginx') {
      expect(await call('GET', '/public/x', [['X-Original-URI', '/admin/x']])).toEqual(name === 'traefik' ? { status: 400, code: 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING' } : URL_REFUSED);
      expect(await call('POST', '/public/x', [['X-Original-Method', 'DELETE']])).toEqual(METHOD_REFUSED);
    }
  });

  it('a URL override naming the judged path passes; its query is held to the _method rule', async () => {
    expect(await call('GET', '/public/x', [['X-Original-URL', '/public/x']])).toEqual(ALLOWED);
    expect(await call('GET', '/public/x?a=1', [['X-Rewrite-URL', '/public/x?a=1']])).toEqual(ALLOWED);
    expect(await call('POST', '/public/x', [['X-Original-URL', '/public/x?_method=DELETE']])).toEqual(METHOD_REFUSED);
  });
});

describe('Envoy ext_authz gRPC Check', () => {
  it('baseline: the judged request is allowed', async () => {
    expect(await check('POST', '/public/x', {})).toEqual(ALLOWED);
  });

  it('method and URL overrides selecting another route are denied with 400', async () => {
    expect(await check('POST', '/public/x', { 'x-http-method-override': 'DELETE' })).toEqual(METHOD_REFUSED);
    expect(await check('POST', '/public/x', { 'x-method-override': '' })).toEqual(METHOD_REFUSED);
    expect(await check('GET', '/public/x', { 'x-original-url': '/admin/x' })).toEqual(URL_REFUSED);
    expect(await check('GET', '/public/x', { 'x-rewrite-url': '/admin/x' })).toEqual(URL_REFUSED);
  });

  it('underscore spellings (Envoy passes them by default; Rack/WSGI/CGI read them as dashes) are held to the same rule', async () => {
    expect(await check('POST', '/public/x', { x_http_method_override: 'DELETE' })).toEqual(METHOD_REFUSED);
    expect(await check('GET', '/public/x', { x_original_url: '/admin/x' })).toEqual(URL_REFUSED);
  });

  it('the HTTP dialects\' report names are a client\'s overrides here (Envoy sets none of them)', async () => {
    expect(await check('GET', '/public/x', { 'x-original-uri': '/admin/x' })).toEqual(URL_REFUSED);
    expect(await check('GET', '/public/x', { 'x-forwarded-uri': '/admin/x' })).toEqual(URL_REFUSED);
    expect(await check('POST', '/public/x', { 'x-original-method': 'DELETE' })).toEqual(METHOD_REFUSED);
  });

  it('overrides selecting the judged route pass', async () => {
    expect(await check('POST', '/public/x', { 'x-http-method-override': 'GET', 'x-original-url': '/public/x' })).toEqual(ALLOWED);
  });
});

describe('proxy mode is unchanged', () => {
  it('the override headers are stripped and the request forwarded', async () => {
    const before = echo.requests;
    const r = await send(`${proxy.url}/public/x`, { 'x-http-method-override': 'DELETE', 'x-original-url': '/admin/x' }, 'POST', '');
    expect(r.status, r.text).toBe(200);
    expect(echo.requests).toBe(before + 1);
    expect(echo.lastRequest!.method).toBe('POST');
    expect(echo.lastRequest!.headers['x-http-method-override']).toBeUndefined();
    expect(echo.lastRequest!.headers['x-original-url']).toBeUndefined();
  });
});
