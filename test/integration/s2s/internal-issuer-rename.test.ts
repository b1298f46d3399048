// A reload that renames internal_tokens.issuer while an issuer entry still names the old string is refused at that
// entry: the keys that signed the tokens minted under the old name stay in the JWKS, and the entry — here reaching the
// proxy's JWKS through another host, which the static check cannot see — took them as an ordinary issuer's on every
// route naming no issuers. Before, the reload applied and a token minted for `orders` opened /billing (401 → 200).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitReady } from '../ws/ws-fixtures.js';
import { freePort } from '../../helpers/ports.js';
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { stringify } from 'yaml';

const OLD = 'https://portcullis.internal';
const NEW = 'https://gateway.internal';

describe('renaming internal_tokens.issuer in a reload', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let relay: ScriptedUpstream;
  let proxy: ProxyProcess;
  let port: number;
  const auths: string[] = [];

  const config = (internalIssuer: string): Record<string, unknown> => ({
    server: { listen: { host: '127.0.0.1', port } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: {
      demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0 },
      // the proxy's JWKS through another address (a load balancer, a service name): not recognisable as the proxy's
      from_orders: { issuer: OLD, jwks_uri: `${relay.url}/.well-known/jwks.json`, audiences: ['orders'], algorithms: ['ES256'], clock_skew_s: 0 },
    },
    internal_tokens: { issuer: internalIssuer, signing: 'inline' },
    upstreams: { orders: { targets: [up.url] }, billing: { targets: [up.url] } },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'internal' } },
      { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: {}, forward: { token: 'internal' } },
      { name: 'billing-for-orders', match: { path: '/from-orders/billing/*' }, upstream: 'billing', auth: { issuers: ['from_orders'] }, forward: { token: 'internal' } },
    ],
    log: { level: 'warn' },
    verifier: { pool_size: 1 },
  });

  beforeAll(async () => {
    as = await startAuthServer();
    up = await startScriptedUpstream((req, res) => { auths.push(String(req.headers.authorization ?? '')); res.end('ok'); });
    port = await freePort();
    relay = await startScriptedUpstream((_req, res) => {
      fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`).then(async (r) => { res.setHeader('content-type', 'application/json'); res.end(await r.text()); }, () => { res.statusCode = 502; res.end(); });
    });
    proxy = await startProxy(config(OLD), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close(), relay?.close()]);
  });

  const call = async (path: string, tok: string): Promise<number> => (await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${tok}` } })).status;

  it('is refused at the entry left on the old name; the tokens minted under it stay refused on routes naming no issuers', async () => {
    const user = await as.issueJwt({ sub: 'alice', scope: 'read' });
    expect(await call('/orders/x', user)).toBe(200);
    const forOrders = auths.at(-1)!.replace(/^Bearer /, '');
    expect(await call('/from-orders/billing/x', forOrders)).toBe(200);
    expect(await call('/billing/x', forOrders)).toBe(401);

    writeFileSync(proxy.configPath, stringify(config(NEW)));
    const r = await request(`${proxy.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = await r.body.json() as { reloaded: boolean; errors?: Array<{ path: string; message: string }> };
    expect({ status: r.statusCode, body }).toEqual({ status: 422, body: { reloaded: false, errors: [{ path: 'issuers.from_orders.issuer', message: expect.stringMatching(/^names https:\/\/portcullis\.internal, the internal_tokens\.issuer this reload renames to https:\/\/gateway\.internal: .*rename this entry in the same reload, or remove it$/) }] } });
    // before: the reload applied and this was 200 — the old name an ordinary issuer on every route naming none
    expect(await call('/billing/x', forOrders)).toBe(401);
  });
});
