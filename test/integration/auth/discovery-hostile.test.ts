// Discovery and JWKS answers that try to move the proxy elsewhere — a document naming another issuer (RFC 8414
// §3.3), a redirect to a second server or to itself, a gzip-encoded JWKS — are neither followed nor inflated:
// no keys, tokens 503 (never 200), the second server never asked, and the log says why for each.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import type { ServerResponse } from 'node:http';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE } from '../../fixtures/tokens.js';
import { bearer, call, expectUnavailable, notForwarded, startRecorder, type Recorder } from './tokens-helpers.js';

const key = makeKey('RS256', 'k1');
let as: Recorder;
let elsewhere: Recorder;
let echo: EchoUpstream;
let proxy: ProxyProcess;
const CASES = ['other-issuer', 'doc-redirect', 'doc-loop', 'jwks-redirect', 'jwks-gzip'] as const;

beforeAll(async () => {
  echo = await startEchoUpstream();
  // what a redirect would reach: a valid document for any of our issuers, and keys
  elsewhere = await startRecorder((req, _body, res) => {
    const name = /^\/doc\/(.+)$/.exec(req.url ?? '')?.[1];
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(name !== undefined ? { issuer: `${as.url}/${name}`, jwks_uri: `${elsewhere.url}/jwks` } : jwksOf([key])));
  });
  as = await startRecorder((req, _body, res) => {
    const url = req.url ?? '';
    const name = url.split('/')[1] ?? '';
    const json = (r: ServerResponse, v: unknown): void => { r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v)); };
    if (url === `/${name}/.well-known/openid-configuration`) {
      if (name === 'other-issuer') return json(res, { issuer: `${as.url}/someone-else`, jwks_uri: `${as.url}/keys` });
      if (name === 'doc-redirect') { res.writeHead(302, { location: `${elsewhere.url}/doc/${name}` }).end(); return; }
      if (name === 'doc-loop') { res.writeHead(302, { location: url }).end(); return; }
      return json(res, { issuer: `${as.url}/${name}`, jwks_uri: `${as.url}/${name}/jwks` });
    }
    if (url === '/jwks-redirect/jwks') { res.writeHead(302, { location: `${elsewhere.url}/jwks` }).end(); return; }
    if (url === '/jwks-gzip/jwks') { res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(JSON.stringify(jwksOf([key])))); return; }
    if (url === '/keys') return json(res, jwksOf([key]));
    res.writeHead(404).end();
  });
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: Object.fromEntries(CASES.map((c) => [c, { issuer: `${as.url}/${c}`, audiences: [TEST_AUDIENCE], algorithms: ['RS256'], jwks: { timeout_ms: 1_000 } }])),
    upstreams: { app: { targets: [echo.url] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), as?.close(), elsewhere?.close()]);
});

/** The last `jwks fetch failed` error of issuer `name`, '' before there is one. */
const failure = (name: string): string => String(proxy.logs().filter((l) => l.msg === 'jwks fetch failed' && l.issuer === name).at(-1)?.error ?? '');

describe('hostile discovery and JWKS answers are not followed', () => {
  it('each issuer fails for its own reason, in the log', async () => {
    const want: Record<(typeof CASES)[number], string> = {
      'other-issuer': 'issuer does not match',
      'doc-redirect': 'HTTP 302',
      'doc-loop': 'HTTP 302',
      'jwks-redirect': 'HTTP 302',
      'jwks-gzip': 'response is not JSON',
    };
    for (const c of CASES) await waitFor(`${c}: ${want[c]}`, () => failure(c).includes(want[c]), 10_000, { detail: () => failure(c) });
  });

  it('tokens signed with the key a redirect would have reached → 503, nothing forwarded; the instance is unready', async () => {
    for (const c of CASES) expectUnavailable(await notForwarded(() => echo.requests, () => call(`${proxy.url}/api/x`, { headers: bearer(makeToken(key, {}, `${as.url}/${c}`)) })));
    expect((await call(`${proxy.adminUrl}/readyz`)).status).toBe(503);
  });

  it('the second server was never asked', () => {
    expect(elsewhere.hits).toEqual([]);
  });
});
