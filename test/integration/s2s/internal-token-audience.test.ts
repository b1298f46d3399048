// An internal token minted for one upstream's audience, replayed by that upstream (a compromised
// service) at the proxy — HTTP/1.1, HTTP/2, WebSocket, decision endpoint: a route naming no issuers
// does not take the proxy's own tokens; only a route naming the proxy's issuer does, and that
// issuer's `audiences` decide whose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { handshake, waitReady, wsUrl } from '../ws/ws-fixtures.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { freePort } from '../../helpers/ports.js';

const SELF = 'https://portcullis.internal';

describe('an internal token replayed by the service it was minted for', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const auths: string[] = [];

  beforeAll(async () => {
    as = await startAuthServer();
    up = await startScriptedUpstream((req, res) => { auths.push(String(req.headers.authorization ?? '')); res.end('ok'); });
    const port = await freePort(); // the proxy's own JWKS is on its main port: the issuer names it
    const self = { issuer: SELF, jwks_uri: `http://127.0.0.1:${port}/.well-known/jwks.json`, algorithms: ['ES256'], clock_skew_s: 0 };
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_auth', dialect: 'traefik' }] } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: {
        demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0 },
        // orders may call on with the token it got (a chain); billing's tokens are taken nowhere
        from_orders: { ...self, audiences: ['orders'] },
      },
      internal_tokens: { issuer: SELF, signing: 'inline' },
      upstreams: { orders: { targets: [up.url] }, billing: { targets: [up.url] } },
      routes: [
        { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'internal' } },
        { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: {}, forward: { token: 'internal' }, websocket: true },
        { name: 'billing-for-orders', match: { path: '/from-orders/billing/*' }, upstream: 'billing', auth: { issuers: ['from_orders'] }, forward: { token: 'internal' } },
      ],
      log: { level: 'warn' },
      verifier: { pool_size: 1 },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  const call = async (path: string, tok: string, headers: Record<string, string> = {}): Promise<number> =>
    (await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${tok}`, ...headers } })).status;
  const verdict = (path: string, tok: string): Promise<number> =>
    call('/_auth', tok, { 'x-forwarded-method': 'GET', 'x-forwarded-uri': path, 'x-forwarded-host': 'edge', 'x-forwarded-proto': 'https' });

  it('is refused on a route naming no issuers, through the proxy and at a decision endpoint', async () => {
    const user = await as.issueJwt({ sub: 'alice', scope: 'read' });
    expect(await call('/orders/x', user)).toBe(200);
    const forOrders = auths.at(-1)!.replace(/^Bearer /, '');
    expect(forOrders).not.toBe(user);
    // before: 200 — every default route took the proxy's own tokens, minted for whichever audience
    expect(await call('/billing/x', forOrders)).toBe(401);
    expect(await verdict('/billing/x', forOrders)).toBe(401);
    expect((await h2Fetch(`http://127.0.0.1:${http2PortOf(proxy.logs())}`, { ':method': 'GET', ':path': '/billing/x', authorization: `Bearer ${forOrders}` })).status).toBe(401);
    expect(await handshake(wsUrl(proxy, '/billing/ws'), [], { authorization: `Bearer ${forOrders}` })).toMatchObject({ kind: 'refused', status: 401 });
    expect(await call('/orders/x', forOrders)).toBe(401);
    // the user's own token still opens it, and the route naming the proxy's issuer takes the chain
    expect(await call('/billing/x', user)).toBe(200);
    expect(await call('/from-orders/billing/x', forOrders)).toBe(200);
    expect(await verdict('/from-orders/billing/x', forOrders)).toBe(200);
  });

  it('a route naming the proxy\'s issuer takes only the audiences listed for it', async () => {
    const user = await as.issueJwt({ sub: 'bob', scope: 'read' });
    expect(await call('/billing/x', user)).toBe(200);
    const forBilling = auths.at(-1)!.replace(/^Bearer /, '');
    expect(await call('/from-orders/billing/x', forBilling)).toBe(401);
  });
});
