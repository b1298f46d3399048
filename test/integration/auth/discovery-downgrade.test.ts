// An https issuer whose discovery document names plain-http endpoints (an identity provider
// behind a TLS proxy that does not know it is one writes such URLs): keys fetched over http could
// be swapped on the path, and our client secrets would travel in clear text. The proxy uses
// none of them — no JWKS, introspection or token-endpoint call leaves over http — while an
// issuer whose document stays on https works.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE } from '../../fixtures/tokens.js';
import { bearer, call, echoed, expectUnavailable, notForwarded, startRecorder, waitReady, type Recorder } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const SECRET = 'as-secret-2b7e151628aed2a6';
const goodKey = makeKey('RS256', 'good-1');
/** The key a path attacker would serve at the plain-http jwks_uri. */
const pathKey = makeKey('RS256', 'path-1');
let tls: Server;
let base = '';
let plain: Recorder;
let echo: EchoUpstream;
/** Its issuer's discovery document stays on https. */
let control: ProxyProcess;
/** Its issuer's https discovery document names plain-http endpoints. */
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  plain = await startRecorder((req, _body, res) => {
    if (req.url === '/jwks') { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([pathKey]))); return; }
    if (req.url === '/introspect') { res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":true,"sub":"mallory"}'); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"egress","token_type":"Bearer","expires_in":300}');
  });
  const files = selfSignedCert();
  tls = createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, (req, res) => {
    const json = (v: unknown): void => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v)); };
    if (req.url === '/good/.well-known/openid-configuration') return json({ issuer: `${base}/good`, jwks_uri: `${base}/good/jwks` });
    if (req.url === '/good/jwks') return json(jwksOf([goodKey]));
    if (req.url === '/bad/.well-known/openid-configuration') {
      return json({ issuer: `${base}/bad`, jwks_uri: `${plain.url}/jwks`, introspection_endpoint: `${plain.url}/introspect`, token_endpoint: `${plain.url}/token` });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  base = `https://localhost:${(tls.address() as AddressInfo).port}`;
  const env = { ...ADMIN_ENV, PT_AS_SECRET: SECRET, NODE_EXTRA_CA_CERTS: files.cert };
  const issuer = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ [name]: { issuer: `${base}/${name}`, audiences: [TEST_AUDIENCE], algorithms: ['RS256'], ...extra } });
  const config = (issuers: Record<string, unknown>, egressIssuer: string): Record<string, unknown> => ({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers,
    upstreams: { app: { targets: [echo.url] }, egress: { targets: [echo.url], client_credentials: { issuer: egressIssuer, client_id: 'portcullis', client_secret_env: 'PT_AS_SECRET' } } },
    routes: [
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
      { name: 'egress', match: { path: '/egress/*' }, upstream: 'egress', auth: 'none' },
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  });
  [control, proxy] = await Promise.all([
    startProxy(config(issuer('good'), 'good'), { env }),
    startProxy(config(issuer('bad', { introspection: { client_id: 'portcullis', client_secret_env: 'PT_AS_SECRET' } }), 'bad'), { env }),
  ]);
  await waitReady(control);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), control?.stop()]);
  await Promise.all([echo?.close(), plain?.close(), new Promise((r) => { tls?.close(r); tls?.closeAllConnections(); })]);
});

const refused = (path: string, headers: Record<string, string>) => notForwarded(() => echo.requests, () => call(`${proxy.url}${path}`, { headers }));

describe('discovery over https naming plain-http endpoints', () => {
  it('control: the issuer whose document stays on https verifies its tokens (200)', async () => {
    expect(echoed(await call(`${control.url}/api/x`, { headers: bearer(makeToken(goodKey, {}, `${base}/good`)) })).headers['x-auth-subject']).toBe('alice');
  });

  it('an http jwks_uri is not fetched: a token signed with the key served there → 503, never 200', async () => {
    // discovery tried and retried (and refused the http jwks_uri both times): a 503 before that would be
    // the start's, not the refusal's — waited for in the log, not assumed after a fixed 1.5 s
    const refusals = (): number => proxy.logs().filter((l) => l.msg === 'jwks fetch failed' && String(l.error).includes('jwks_uri is plain http in an https document')).length;
    await waitFor('two refused discoveries of the http jwks_uri', () => refusals() >= 2, 10_000, { detail: () => proxy.output().slice(-2000) });
    expectUnavailable(await refused('/api/x', bearer(makeToken(pathKey, {}, `${base}/bad`))));
  });

  it('an http introspection_endpoint is not called with our secret: an opaque token → 503', async () => {
    expectUnavailable(await refused('/api/x', bearer(randomBytes(24).toString('base64url'))));
  });

  it('an http token_endpoint is not called with our secret: egress → 503, nothing forwarded', async () => {
    expectUnavailable(await refused('/egress/x', {}));
  });

  it('the instance stays unready (fail closed at start), nothing at all went to the plain-http server, and the refusal is logged', async () => {
    expect((await call(`${proxy.adminUrl}/readyz`)).status).toBe(503);
    expect(plain.hits.map((h) => h.url)).toEqual([]);
    expect(proxy.output()).toContain('plain http in an https document');
  });
});
