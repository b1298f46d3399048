// A reload that stops trusting an issuer — removes it, or points its name at another
// authorization server — ends the WebSockets its tokens opened (1008 "access changed by
// configuration"), as a new handshake with such a token is refused. Before, a route without
// `auth.issuers` ("every configured issuer") kept them relaying: the re-judgement compared only
// the route's policy, and an empty issuer restriction passed any principal.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { admin, bearer, handshake, open, waitReady, wsMetric, wsUrl, type Client } from './ws-fixtures.js';

function config(issuers: Record<string, AuthServer>, up: string): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: Object.fromEntries(Object.entries(issuers).map(([name, as]) => [name, { issuer: as.issuer, audiences: ['portcullis-demo'] }])),
    upstreams: { ws: { targets: [up] } },
    // no auth.issuers: every configured issuer
    routes: [{ name: 'room', match: { path: '/room/*' }, upstream: 'ws', websocket: true, auth: {} }],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  };
}

describe('reload that stops trusting an issuer, and open WebSockets', () => {
  let main: AuthServer;
  let partner: AuthServer;
  let other: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [main, partner, other, up] = await Promise.all([
      startAuthServer({ issuerPath: '/realms/main' }), startAuthServer({ issuerPath: '/realms/partner' }),
      startAuthServer({ issuerPath: '/realms/other' }), startWsEchoUpstream(),
    ]);
    proxy = await startProxy(config({ main, partner }, up.url), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([main?.close(), partner?.close(), other?.close(), up?.close()]);
  });

  /** Open once the issuer a reload added has its keys (its tokens get 503 until then). */
  const openWhenKeys = async (path: string, token: string): Promise<Client> => {
    let last = '';
    let client: Client | null = null;
    await waitFor(`a 101 at ${path}`, async () => {
      const h = await handshake(wsUrl(proxy, path), [], bearer(token));
      if (h.kind === 'open') { client = h.client; return true; }
      last = JSON.stringify(h).slice(0, 300);
      return false;
    }, 8_000, { detail: () => `last answer: ${last}` });
    return client!;
  };

  const reload = async (cfg: Record<string, unknown>): Promise<void> => {
    writeFileSync(proxy.configPath, stringify(cfg));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  it('closes the sockets of an issuer the new config no longer has; keeps the others', async () => {
    const [mainTok, partnerTok] = await Promise.all([main.issueJwt({ sub: 'mia' }), partner.issueJwt({ sub: 'pat' })]);
    const [m, p] = await Promise.all([open(wsUrl(proxy, '/room/1'), [], bearer(mainTok)), open(wsUrl(proxy, '/room/2'), [], bearer(partnerTok))]);
    for (const c of [m, p]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');

    await reload(config({ main }, up.url));
    expect(await handshake(wsUrl(proxy, '/room/3'), [], bearer(partnerTok))).toMatchObject({ kind: 'refused', status: 401 });
    expect(await p.waitClosed(3_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await m.roundTrip('still here')).data.toString()).toBe('still here');
    m.ws.close();
    await m.waitClosed();
  });

  it('closes the sockets of an issuer whose name now stands for another authorization server', async () => {
    await reload(config({ main, partner }, up.url));
    const partnerTok = await partner.issueJwt({ sub: 'pat' });
    const p = await openWhenKeys('/room/4', partnerTok);
    expect((await p.roundTrip('hi')).data.toString()).toBe('hi');

    // `partner` now names another server: the old partner's tokens are no longer accepted
    await reload(config({ main, partner: other }, up.url));
    expect(await handshake(wsUrl(proxy, '/room/5'), [], bearer(partnerTok))).toMatchObject({ kind: 'refused', status: 401 });
    expect(await p.waitClosed(3_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    // the new server's tokens are served, and stay open over a reload that keeps it
    const o = await openWhenKeys('/room/6', await other.issueJwt({ sub: 'olga' }));
    await reload(config({ main, partner: other }, up.url));
    expect((await o.roundTrip('hello')).data.toString()).toBe('hello');
    expect(await wsMetric(proxy, 'ended_policy_changed_total')).toBe(2);
    o.ws.close();
    await o.waitClosed();
  });
});
