// Token-kind confusion through every door: an OpenID Connect back-channel logout token or a Security
// Event Token signed by the issuer, typed `JWT` or untyped (as OPs before `logout+jwt` send them), whose
// `aud` is one of the issuer's audiences, presented as an access token over HTTP/1.1, HTTP/2, a WebSocket
// upgrade and a decision endpoint — before, each was let through as its `sub`. The logout endpoint still takes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { handshake, wsUrl } from '../ws/ws-fixtures.js';
import { AUDIENCE, asIssuer, bearer, call, echoed, expectBearerError, notForwarded, waitReady, type Reply } from './tokens-helpers.js';

const BCL_PATH = '/oidc/backchannel-logout';
/** The client id the OP knows the proxy by, also an API audience of the issuer (its logout tokens name it). */
const CLIENT = 'portcullis-web';
const LOGOUT_EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };
const SESSION_REVOKED = { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': { event_timestamp: 1 } };

let as: AuthServer;
let echo: EchoUpstream;
let wsUp: WsEchoUpstream;
let proxy: ProxyProcess;
let h2Origin: string;

beforeAll(async () => {
  [as, echo, wsUp] = await Promise.all([startAuthServer({ algorithms: ['RS256'] }), startEchoUpstream(), startWsEchoUpstream()]);
  // no require_typ: the issuer's access tokens are typed `JWT`, as many identity providers issue them
  proxy = await startProxy(baseConfig(echo.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { endpoints: [{ path: '/_portcullis/nginx', dialect: 'nginx' }] },
    },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'], audiences: [AUDIENCE, CLIENT], backchannel_logout: { path: BCL_PATH, client_id: CLIENT } }) },
    upstreams: { app: { targets: [echo.url] }, ws: { targets: [wsUp.url] } },
    routes: [
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
      { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: {} },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  h2Origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), wsUp?.close()]);
});

const now = (): number => Math.floor(Date.now() / 1000);

/** A logout token as an OP signs it (OIDC Back-Channel Logout §2.4, with the `exp` 1.0 final asks for). */
const logoutToken = (typ: string, sid: string): Promise<string> => as.issueJwt(
  { aud: CLIENT, sub: 'alice', sid, scope: undefined, client_id: undefined, exp: now() + 120, jti: `lt-${sid}`, events: LOGOUT_EVENT },
  { typ },
);

/** An RFC 8417 SET about alice, untyped (typ is only RECOMMENDED there), with an `exp`. */
const securityEvent = (): Promise<string> => as.issueJwt(
  { aud: CLIENT, sub: 'alice', scope: undefined, client_id: undefined, exp: now() + 120, events: SESSION_REVOKED },
  { typ: '' },
);

const http1 = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => call(`${proxy.url}/api/x`, { headers: bearer(token) }));

async function upgrade(token: string): Promise<string | number> {
  const h = await handshake(wsUrl(proxy, '/chat/x'), [], { authorization: `Bearer ${token}` });
  if (h.kind === 'open') { h.client.ws.close(); return 'open'; }
  return h.kind === 'refused' ? h.status : h.message;
}

async function decision(token: string): Promise<{ status: number; subject: string | undefined }> {
  const r = await request(`${proxy.url}/_portcullis/nginx`, {
    headers: { 'x-original-method': 'GET', 'x-original-uri': '/api/x', authorization: `Bearer ${token}` },
  });
  await r.body.dump();
  return { status: r.statusCode, subject: r.headers['x-auth-subject'] as string | undefined };
}

describe('an event token is no access token (RFC 8417 §4.3, RFC 8725 §3.11), typ required or not', () => {
  it('control: an access token typed JWT for the same audience passes every door', async () => {
    const t = await as.issueJwt({ aud: CLIENT, sub: 'alice', sid: 'control-session' }, { typ: 'JWT' });
    expect(echoed(await call(`${proxy.url}/api/x`, { headers: bearer(t) })).headers['x-auth-subject']).toBe('alice');
    expect((await h2Fetch(h2Origin, { ':method': 'GET', ':path': '/api/x', authorization: `Bearer ${t}` })).status).toBe(200);
    expect(await decision(t)).toEqual({ status: 200, subject: 'alice' });
    expect(await upgrade(t)).toBe('open');
  });

  it.each<[string, () => Promise<string>]>([
    ['a back-channel logout token typed JWT', () => logoutToken('JWT', 'kinds-1')],
    ['a back-channel logout token without typ', () => logoutToken('', 'kinds-2')],
    ['an untyped security event token (SET)', securityEvent],
  ])('%s → 401 invalid_token on HTTP/1.1, HTTP/2, a WebSocket upgrade and the decision endpoint, nothing forwarded', async (_name, make) => {
    const token = await make();
    const before = echo.requests;
    const r = await call(`${proxy.url}/api/x`, { headers: bearer(token) });
    const h2 = await h2Fetch(h2Origin, { ':method': 'GET', ':path': '/api/x', authorization: `Bearer ${token}` });
    // every door judged before any assertion: a failure shows which of them let the token through
    expect({
      http1: r.status, http2: h2.status, http2Challenge: /invalid_token/.test(String(h2.headers['www-authenticate'])),
      websocket: await upgrade(token), decision: await decision(token), forwarded: echo.requests - before,
    }).toEqual({ http1: 401, http2: 401, http2Challenge: true, websocket: 401, decision: { status: 401, subject: undefined }, forwarded: 0 });
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toMatch(/not an access token/);
  });

  it('the logout endpoint still takes a logout token typed JWT, and it revokes the session', async () => {
    const session = await as.issueJwt({ aud: CLIENT, sub: 'alice', sid: 'kinds-3' }, { typ: 'JWT' });
    expect((await call(`${proxy.url}/api/x`, { headers: bearer(session) })).status).toBe(200);
    const r = await request(`${proxy.url}${BCL_PATH}`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${await logoutToken('JWT', 'kinds-3')}`,
    });
    await r.body.dump();
    expect(r.statusCode).toBe(200);
    expectBearerError(await http1(session), 401, 'invalid_token');
  });
});
