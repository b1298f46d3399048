// A token is refused the moment exp + clock_skew_s passes, whatever cached it: a JWT warmed
// into the verification cache (HTTP/1.1, one live HTTP/2 session, the decision endpoint) and an opaque token
// whose introspection answer (from an AS that keeps saying active) is cached. Requests are
// sent across the boundary; every 200 for a request sent at or after exp + skew is a hole.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { fixtureKeys, jwksOf } from '../../fixtures/keys.js';
import { makeToken, nowS, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { asIssuer, bearer, call, introspection, SECRET_ENV, startRecorder, type Recorder, waitReady } from './tokens-helpers.js';

const SKEW_S = 1;
let as: AuthServer;
let echo: EchoUpstream;
let jwks: Recorder;
let sloppyAs: Recorder;
let proxy: ProxyProcess;
const keys = fixtureKeys();
/** opaque token → the exp the fake AS keeps answering `active: true` with, even after it passed. */
const opaque = new Map<string, number>();

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  jwks = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([keys.RS256])));
  });
  sloppyAs = await startRecorder((_req, body, res) => {
    const exp = opaque.get(new URLSearchParams(body).get('token') ?? '');
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(exp === undefined ? { active: false } : { active: true, sub: 'bob', scope: 'orders:read', exp }));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }] } },
    issuers: {
      fixture: { issuer: TEST_ISSUER, jwks_uri: `${jwks.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['RS256'], clock_skew_s: SKEW_S },
      demo: asIssuer(as, { clock_skew_s: SKEW_S, introspection: introspection({ endpoint: `${sloppyAs.url}/introspect`, cache_ttl_s: 60, negative_ttl_s: 5 }) }),
    },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), jwks?.close(), sloppyAs?.close()]);
});

interface Sample { sentAt: number; status: number }

/** Requests with `send` every 100 ms from now until 1.5 s past exp + skew. */
async function across(expS: number, send: () => Promise<number>): Promise<Sample[]> {
  const out: Sample[] = [];
  const until = (expS + SKEW_S) * 1000 + 1500;
  while (Date.now() < until) {
    const sentAt = Date.now();
    out.push({ sentAt, status: await send() });
    await new Promise((r) => setTimeout(r, 100));
  }
  return out;
}

function judge(samples: Sample[], expS: number): void {
  const limit = (expS + SKEW_S) * 1000;
  const late = samples.filter((s) => s.sentAt >= limit && s.status === 200);
  expect(late, `accepted after exp + skew: ${JSON.stringify(late)}`).toEqual([]);
  // the control: it was accepted while valid, and refused with 401 once past the limit
  expect(samples.filter((s) => s.sentAt < expS * 1000 - 300).every((s) => s.status === 200), JSON.stringify(samples)).toBe(true);
  expect(samples.filter((s) => s.sentAt >= limit).every((s) => s.status === 401), JSON.stringify(samples)).toBe(true);
}

// each case waits ~5 s for its own token's exp and shares nothing with the others but the proxy: side by side
describe.concurrent('exp + clock_skew_s is enforced exactly, from every cache', () => {
  it('a JWT warmed into the verification cache: plain HTTP/1.1 requests', async () => {
    const exp = nowS() + 3;
    const token = makeToken(keys.RS256, { claims: { exp } });
    judge(await across(exp, async () => (await call(`${proxy.url}/orders/1`, { headers: bearer(token) })).status), exp);
  });

  it('a JWT warmed into the verification cache: one HTTP/2 session kept open across exp', async () => {
    const exp = nowS() + 3;
    const token = makeToken(keys.RS256, { claims: { exp } });
    const session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
    try {
      judge(await across(exp, async () => (await h2Request(session, { ':method': 'GET', ':path': '/orders/1', ...bearer(token) })).status), exp);
    } finally {
      session.close();
    }
  });

  it('a JWT warmed into the verification cache: the decision endpoint', async () => {
    const exp = nowS() + 3;
    const token = makeToken(keys.RS256, { claims: { exp } });
    const ask = async (): Promise<number> => (await call(`${proxy.url}/_portcullis/auth`, {
      headers: { ...bearer(token), 'x-original-uri': '/orders/1', 'x-original-method': 'GET', host: 'api.example' },
    })).status;
    judge(await across(exp, ask), exp);
  });

  it('an opaque token whose cached introspection answer names exp, the AS saying active after it', async () => {
    const exp = nowS() + 3;
    const token = randomBytes(32).toString('base64url');
    opaque.set(token, exp);
    judge(await across(exp, async () => (await call(`${proxy.url}/orders/1`, { headers: bearer(token) })).status), exp);
  });
});
