// Hostile or broken token-endpoint answers (RFC 6749 §5, RFC 8693) for client-credentials
// egress and token exchange, from a scripted endpoint: error codes that echo our client
// secret or the user's subject token (never logged), header-unsafe or non-Bearer tokens,
// redirects (never followed with our credentials), an answer dripped forever (cut at timeout_ms,
// every request coalesced on that one mint answered 503). None may reach the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureIssuer } from '../../helpers/upstreams.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { bearer, call, expectUnavailable, notForwarded, startRecorder, waitReady, type Recorder, type Reply } from '../auth/tokens-helpers.js';

const CC_SECRET = 'cc-secret-5f1d0b2e9a7c44e1';
const EX_SECRET = 'ex-secret-8c3a6e10d4b94f27';
const key = makeKey('RS256', 'k1');
let echo: EchoUpstream;
let jwks: Recorder;
let as: Recorder;
let elsewhere: Recorder;
let proxy: ProxyProcess;
let dripCalls = 0;

/** What the scripted token endpoint answers, by requested audience: [status, headers, body]. */
function answer(form: URLSearchParams): [number, Record<string, string>, string] {
  const json = { 'content-type': 'application/json' };
  const ok = (extra: Record<string, unknown>): [number, Record<string, string>, string] =>
    [200, json, JSON.stringify({ access_token: 'egress-token-1', token_type: 'Bearer', expires_in: 300, ...extra })];
  switch (form.get('audience')) {
    case 'ok': return ok({});
    case 'expires-string': return ok({ expires_in: '3600' });
    // a server that puts what it was sent into its error code (a debug build, a proxy's error page)
    case 'echo-secret': return [401, json, JSON.stringify({ error: `invalid_client: client_secret ${CC_SECRET} unknown` })];
    case 'echo-secret-400': return [400, json, JSON.stringify({ error: CC_SECRET })];
    case 'echo-subject': return [400, json, JSON.stringify({ error: `invalid_grant ${form.get('subject_token')}` })];
    case 'crlf': return ok({ access_token: 'abc\r\nX-Injected: 1' });
    case 'space': return ok({ access_token: 'abc def' });
    case 'mac': return ok({ token_type: 'mac' });
    case 'n_a': return ok({ token_type: 'N_A' });
    case 'id-token': return ok({ issued_token_type: 'urn:ietf:params:oauth:token-type:id_token' });
    case 'exchanged': return ok({ issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    case 'redirect': return [307, { location: `${elsewhere.url}/token` }, ''];
    default: return [400, json, '{"error":"invalid_target"}'];
  }
}

beforeAll(async () => {
  echo = await startEchoUpstream();
  elsewhere = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"stolen","token_type":"Bearer"}'); });
  jwks = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([key]))); });
  as = await startRecorder((_req, body, res) => {
    const form = new URLSearchParams(body);
    if (form.get('audience') === 'drip') {
      // a 200 head, then one space every 50 ms, never ending: every idle timer stays happy
      dripCalls++;
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
      return;
    }
    const [status, headers, text] = answer(form);
    res.writeHead(status, headers).end(text);
  });
  const cc = { issuer: 'https://as.test', token_endpoint: `${as.url}/token`, client_id: 'portcullis', client_secret_env: 'PT_CC_SECRET' };
  const egress = ['ok', 'expires-string', 'echo-secret', 'echo-secret-400', 'crlf', 'space', 'mac', 'n_a', 'redirect'];
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: {
      mine: fixtureIssuer(jwks.url, { token_exchange: { token_endpoint: `${as.url}/token`, client_id: 'portcullis', client_secret_env: 'PT_EX_SECRET', auth_method: 'client_secret_post' } }),
    },
    upstreams: {
      ...Object.fromEntries(egress.map((a) => [a, { targets: [echo.url], client_credentials: cc }])),
      drip: { targets: [echo.url], client_credentials: { ...cc, timeout_ms: 300 } },
      'echo-subject': { targets: [echo.url] },
      'id-token': { targets: [echo.url] },
      exchanged: { targets: [echo.url] },
    },
    routes: [
      ...[...egress, 'drip'].map((a) => ({ name: a, match: { path: `/${a}/*` }, upstream: a, auth: 'none' })),
      ...['echo-subject', 'id-token', 'exchanged'].map((a) => ({ name: `x-${a}`, match: { path: `/${a}/*` }, upstream: a, auth: {}, forward: { token: 'exchange' } })),
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_CC_SECRET: CC_SECRET, PT_EX_SECRET: EX_SECRET } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), jwks?.close(), as?.close(), elsewhere?.close()]);
});

const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> => call(`${proxy.url}${path}`, { headers });
/** The `detail`s of log lines with `msg`, once they include every one of `want` (pino writes asynchronously; bounded wait). */
async function details(msg: string, want: string[]): Promise<unknown[]> {
  for (let i = 0; ; i++) {
    const got = proxy.logs().filter((l) => l.msg === msg).map((l) => l.detail);
    if (want.every((w) => got.includes(w)) || i >= 100) return got;
    await new Promise((r) => setTimeout(r, 20));
  }
}
const refused = (path: string, headers: Record<string, string> = {}): Promise<Reply> => notForwarded(() => echo.requests, () => get(path, headers));

describe('token endpoint answers that are not a usable Bearer token → 503, nothing forwarded', () => {
  it('controls: a well-formed answer → 200 (also with expires_in as a string, read as absent)', async () => {
    expect((await get('/ok/1')).status).toBe(200);
    expect((await get('/expires-string/1')).status).toBe(200);
  });

  it.each(['crlf', 'space', 'mac', 'n_a'])('%s → 503', async (name) => {
    expectUnavailable(await refused(`/${name}/1`));
  });

  it('token exchange answering an ID token (issued_token_type) → 503; an access token → 200', async () => {
    expectUnavailable(await refused('/id-token/1', bearer(makeToken(key))));
    expect((await get('/exchanged/1', bearer(makeToken(key)))).status).toBe(200);
  });

  it('an answer dripped forever: every request waiting on the one mint gets 503 at timeout_ms (a total bound)', async () => {
    const replies = await notForwarded(() => echo.requests, () => Promise.all(Array.from({ length: 10 }, () => get('/drip/1'))));
    for (const r of replies) expectUnavailable(r);
    expect(dripCalls).toBe(1);
  });

  it('a redirect is not followed: the other server never sees our credentials', async () => {
    expectUnavailable(await refused('/redirect/1'));
    expect(elsewhere.hits).toEqual([]);
  });
});

describe('error answers that echo secrets', () => {
  it('an error code carrying our client secret → 503, and the secret appears nowhere in the output', async () => {
    expectUnavailable(await refused('/echo-secret/1'));
    expectUnavailable(await refused('/echo-secret-400/1'));
    const want = ['status 401 unregistered', 'status 400 unregistered'];
    expect(await details('client-credentials token request failed', want)).toEqual(expect.arrayContaining(want));
    expect(proxy.output()).not.toContain(CC_SECRET);
  });

  it('token exchange: an error code carrying the user\'s subject token → 503, and the token appears nowhere in the output', async () => {
    const inbound = makeToken(key);
    expectUnavailable(await refused('/echo-subject/1', bearer(inbound)));
    expect(await details('token exchange failed', ['status 400 unregistered'])).toContain('status 400 unregistered');
    const out = proxy.output();
    for (const part of inbound.split('.')) expect(out).not.toContain(part);
    expect(out).not.toContain(EX_SECRET);
  });
});
