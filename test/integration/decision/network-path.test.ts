// An original URI starting with `//` is a network-path reference: the edge forwards it as the
// client sent it, and an upstream that resolves it as a URL (Node's `new URL(req.url, base)`,
// Python's `urlsplit(self.path)`) reads the first segment as a host and the rest as the path —
// `//evil/admin/x` is `/admin/x` there, while the proxy's normaliser collapses `//` and judges
// `/evil/admin/x` by the open route. Proxy mode forwards the normalised path; a decision cannot.
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startFixtureJwks, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { waitReady } from '../auth/tokens-helpers.js';
import { send } from './decision-fixtures.js';

interface CheckResponse { status: { code: number; message: string } | null }
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

let jwks: ScriptedUpstream;
let proxy: ProxyProcess;
let client: grpc.Client;

beforeAll(async () => {
  jwks = await startFixtureJwks();
  proxy = await startProxy(baseConfig(jwks.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { grpc: true, endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }, { path: '/_portcullis/ext_authz', dialect: 'envoy' }] },
    },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'admin', match: { path: '/admin/*' }, upstream: 'app', auth: {} },
      { name: 'open', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  client = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
});

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await jwks?.close();
});

function check(path: string): Promise<CheckResponse> {
  return new Promise((resolve, reject) => {
    (client as unknown as { Check: CheckFn }).Check(
      { attributes: { request: { http: { method: 'GET', path, host: 'app.example', scheme: 'https', headers: {} } } } },
      (err, res) => (err !== null ? reject(err) : resolve(res)),
    );
  });
}

describe('a decision on an original URI starting with // (an upstream URL parser reads a host there)', () => {
  it('what the upstream makes of it: Node\'s URL reads //evil/admin/x as host evil, path /admin/x', () => {
    const u = new URL('//evil/admin/x', 'http://app.example');
    expect([u.host, u.pathname]).toEqual(['evil', '/admin/x']);
  });

  it.each([
    ['nginx', { 'x-original-method': 'GET', 'x-original-uri': '//evil/admin/x', host: 'app.example' }, '/_portcullis/auth'],
    ['traefik', { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '//evil/admin/x', 'x-forwarded-host': 'app.example' }, '/_portcullis/auth'],
    ['traefik, three slashes', { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '///evil/admin/x', 'x-forwarded-host': 'app.example' }, '/_portcullis/auth'],
    ['envoy', { host: 'app.example' }, '/_portcullis/ext_authz//evil/admin/x'],
  ])('%s → 400, not allowed by the open route', async (_dialect, headers, path) => {
    const r = await send(`${proxy.url}${path}`, headers);
    expect(r.status, r.text).toBe(400);
  });

  it('gRPC ext_authz Check → not OK', async () => {
    const r = await check('//evil/admin/x');
    expect(r.status?.code ?? 0, JSON.stringify(r)).not.toBe(0);
  });

  it('a single / still decides by the path: /evil/admin/x is open, /admin/x wants a token', async () => {
    const open = await send(`${proxy.url}/_portcullis/auth`, { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/evil/admin/x', 'x-forwarded-host': 'app.example' });
    expect(open.status, open.text).toBe(200);
    const guarded = await send(`${proxy.url}/_portcullis/auth`, { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/admin/x', 'x-forwarded-host': 'app.example' });
    expect(guarded.status, guarded.text).toBe(401);
    expect((await check('/evil/admin/x')).status?.code ?? 0).toBe(0);
  });
});
