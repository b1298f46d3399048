// A reload that makes a route DPoP-only (`auth.dpop.required: true`) re-judges the WebSockets
// already open on it: one opened with a plain Bearer token is closed 1008 "access changed by
// configuration" — a new upgrade with that token gets 401, so the open one must not outlive
// the change — while one opened with a DPoP-bound token and its proof keeps relaying.
// Real `portcullis serve`, demo authorization server, WebSocket echo upstream.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, handshake, open, waitReady, wsUrl } from '../ws/ws-fixtures.js';
import { clientKey, proof } from '../../unit/dpop/dpop-helpers.js';
import { waitFor } from '../../helpers/wait.js';

function config(as: AuthServer, up: string, dpopOnly: boolean): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { ws: { targets: [up] } },
    routes: [{ name: 'room', match: { path: '/room/*' }, upstream: 'ws', websocket: true, auth: dpopOnly ? { dpop: { required: true } } : {} }],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  };
}

describe('reload to a DPoP-only route and open WebSockets', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startWsEchoUpstream()]);
    proxy = await startProxy(config(as, up.url, false), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('closes the Bearer socket (1008) and keeps the DPoP one; a new Bearer upgrade gets 401', async () => {
    const key = await clientKey('ES256');
    const [plain, bound] = await Promise.all([as.issueJwt({ sub: 'rita' }), as.issueJwt({ sub: 'dora', cnf: { jkt: key.jkt } })]);
    const htu = `http://127.0.0.1:${proxy.port}/room/1`;
    const [b1, d1] = await Promise.all([
      open(wsUrl(proxy, '/room/1'), [], bearer(plain)),
      open(wsUrl(proxy, '/room/1'), [], { authorization: `DPoP ${bound}`, dpop: await proof(key, { htu, token: bound }) }),
    ]);
    for (const c of [b1, d1]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');

    writeFileSync(proxy.configPath, stringify(config(as, up.url, true)));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    // what a new connection with the same token gets now
    const again = await handshake(wsUrl(proxy, '/room/1'), [], bearer(plain));
    expect(again).toMatchObject({ kind: 'refused', status: 401 });

    expect(await b1.waitClosed()).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await d1.roundTrip('still here')).data.toString()).toBe('still here');
    await waitFor("up.closes.some((c) => c.url === '/room/1')", () => up.closes.some((c) => c.url === '/room/1'), 10_000); // the upstream process hears the close after the client does
    expect(up.closes.filter((c) => c.url === '/room/1').map((c) => c.code)).toEqual([1008]);
    d1.ws.close();
    await d1.waitClosed();
  });
});
