// An outbound token (token exchange, or client-credentials egress) that is a JWT whose claims name two
// different clients (client_id one, azp another) was cached under its first client only: after
// `revoke --client` of the other name the proxy kept attaching it. It is refused as the inbound
// path refuses such a token: exchange → 502 EXCHANGE_TOKEN_UNUSABLE, egress → 503, nothing forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixtureIssuer } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { bearer, call, expectUnavailable, startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const key = makeKey('RS256', 'k1');
let as: Recorder;
let jwks: Recorder;
let upstream: Server;
let proxy: ProxyProcess;
const received: string[] = [];
let issued = 0;
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: Record<string, unknown>): string => `${b64({ alg: 'ES256', typ: 'at+jwt' })}.${b64(claims)}.c2ln`;

beforeAll(async () => {
  jwks = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([key]))); });
  // `*-two` audiences get a JWT whose client_id and azp name different clients; `*-one` a JWT naming one
  as = await startRecorder((_req, body, res) => {
    const audience = new URLSearchParams(body).get('audience') ?? '';
    const nowS = Math.floor(Date.now() / 1000);
    const clients = audience.endsWith('-two') ? { client_id: 'svc-a', azp: 'svc-b' } : { client_id: 'svc-a', azp: 'svc-a' };
    const token = jwt({ sub: 'alice', aud: audience, exp: nowS + 300, jti: `j${++issued}`, ...clients });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      access_token: token, token_type: 'Bearer', expires_in: 300, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    }));
  });
  upstream = createServer((req, res) => {
    received.push(String(req.headers.authorization ?? ''));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const cc = { issuer: 'https://as.test', token_endpoint: `${as.url}/token`, client_id: 'portcullis', client_secret_env: 'PT_EX_SECRET' };
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: {
      mine: fixtureIssuer(jwks.url, { token_exchange: { token_endpoint: `${as.url}/token`, client_id: 'portcullis', client_secret_env: 'PT_EX_SECRET', auth_method: 'client_secret_post' } }),
    },
    upstreams: {
      xtwo: { targets: [target], audience: 'x-two' }, xone: { targets: [target], audience: 'x-one' },
      ctwo: { targets: [target], audience: 'c-two', client_credentials: cc }, cone: { targets: [target], audience: 'c-one', client_credentials: cc },
    },
    routes: [
      { name: 'xtwo', match: { path: '/xtwo/*' }, upstream: 'xtwo', auth: {}, forward: { token: 'exchange' } },
      { name: 'xone', match: { path: '/xone/*' }, upstream: 'xone', auth: {}, forward: { token: 'exchange' } },
      { name: 'ctwo', match: { path: '/ctwo/*' }, upstream: 'ctwo', auth: 'none' },
      { name: 'cone', match: { path: '/cone/*' }, upstream: 'cone', auth: 'none' },
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_EX_SECRET: 'ex-secret-3d9f1a7c55e04b28' } });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), jwks?.close()]);
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('an outbound JWT whose claims name two clients', () => {
  it('token exchange: → 502 EXCHANGE_TOKEN_UNUSABLE, nothing forwarded, the token never logged; one naming one client (twice) is forwarded', async () => {
    received.length = 0;
    const r = await call(`${proxy.url}/xtwo/1`, { headers: bearer(makeToken(key)) });
    expect(r.status, r.text).toBe(502);
    expect(JSON.parse(r.text)).toMatchObject({ code: 'PORTCULLIS_ERR_EXCHANGE_TOKEN_UNUSABLE' });
    expect(received).toEqual([]);
    await waitFor('the refusal logged', () => proxy.logs().some((l) => l.reason === 'exchange_token_malformed'));
    expect(JSON.stringify(proxy.logs())).not.toContain('c2ln');
    expect((await call(`${proxy.url}/xone/1`, { headers: bearer(makeToken(key)) })).status).toBe(200);
    expect(received).toHaveLength(1);
  });

  it('client-credentials egress: → 503, nothing forwarded; one naming one client is forwarded', async () => {
    received.length = 0;
    expectUnavailable(await call(`${proxy.url}/ctwo/1`));
    expect(received).toEqual([]);
    expect((await call(`${proxy.url}/cone/1`)).status).toBe(200);
    expect(received).toHaveLength(1);
  });
});
