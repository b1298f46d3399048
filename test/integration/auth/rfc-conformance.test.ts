// RFC conformance a strict reviewer checks from outside: an OpenID Connect ID token presented as an
// access token (RFC 9068 §4, RFC 8725 §3.11) on an issuer that does not require `typ: at+jwt`, and
// route scopes that are not RFC 6749 §3.3 scope-tokens (the RFC 6750 §3 `scope=` challenge would lie).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { AUDIENCE, asIssuer, bearer, call, echoed, expectBearerError, notForwarded, waitReady, type Reply } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer({ algorithms: ['RS256'] });
  echo = await startEchoUpstream();
  // no require_typ: tokens typed `JWT` (or untyped) are accepted, as many identity providers issue them
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const get = (token: string): Promise<Reply> => call(`${proxy.url}/orders/1`, { headers: bearer(token) });
const refused = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => get(token));

/** What an OpenID provider signs as an ID token for a client whose id is also the API's audience. */
const idToken = (extra: Record<string, unknown>): Promise<string> =>
  as.issueJwt({ aud: AUDIENCE, client_id: undefined, azp: AUDIENCE, nonce: 'n-0S6_WzA2Mj', auth_time: Math.floor(Date.now() / 1000), ...extra }, { typ: 'JWT' });

describe('an ID token is no access token (RFC 9068 §4, RFC 8725 §3.11), typ required or not', () => {
  it('control: an access token typed JWT (no at+jwt) with the route scope → 200', async () => {
    const t = await as.issueJwt({}, { typ: 'JWT' });
    expect(echoed(await get(t)).headers['x-auth-subject']).toBe('alice');
    const untyped = await as.issueJwt({}, { typ: '' });
    expect((await get(untyped)).status).toBe(200);
  });

  it.each<[string, Record<string, unknown>]>([
    ['at_hash (OIDC Core §3.1.3.6: the hash of the access token issued with it)', { at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' }],
    ['c_hash (OIDC Core §3.3.2.11: the hash of the code issued with it)', { c_hash: 'LDktKdoQak3Pk0cnXxCltA' }],
    ['s_hash (FAPI: the hash of the state)', { s_hash: 'x6bKR_xrKqYHtnyG-9Wz6w' }],
    ['a Keycloak-style typ claim "ID"', { typ: 'ID' }],
  ])('an ID token typed JWT carrying %s → 401 invalid_token, nothing forwarded', async (_name, extra) => {
    const r = await refused(await idToken({ scope: 'orders:read', ...extra }));
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toMatch(/not an access token/);
  });
});
