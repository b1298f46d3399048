// A hot reload re-judges open WebSockets: a socket whose route the new config no longer
// allows for its token (a scope taken away, the route removed) is closed with 1008
// "access changed by configuration" at both hops; sockets still allowed keep relaying.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, open, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

function config(as: AuthServer, up: string, roomScope: string, withLobby: boolean): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { ws: { targets: [up] } },
    routes: [
      { name: 'room', match: { path: '/room/*' }, upstream: 'ws', websocket: true, auth: { scopes: { all: [roomScope] } } },
      ...(withLobby ? [{ name: 'lobby', match: { path: '/lobby/*' }, upstream: 'ws', websocket: true, auth: {} }] : []),
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  };
}

describe('reload and open WebSockets', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    proxy = await startProxy(config(as, up.url, 'chat:read', true), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  const reload = async (cfg: Record<string, unknown>): Promise<void> => {
    writeFileSync(proxy.configPath, stringify(cfg));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.reloaded).toBe(true);
  };

  it('closes (1008) the sockets the new policy refuses, keeps the others', async () => {
    const [reader, admin_] = await Promise.all([as.issueJwt({ sub: 'rita', scope: 'chat:read' }), as.issueJwt({ sub: 'adam', scope: 'chat:read chat:admin' })]);
    const [r1, a1, lobby] = await Promise.all([
      open(wsUrl(proxy, '/room/1'), [], bearer(reader)),
      open(wsUrl(proxy, '/room/2'), [], bearer(admin_)),
      open(wsUrl(proxy, '/lobby/1'), [], bearer(reader)),
    ]);
    for (const c of [r1, a1, lobby]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');

    // the room now needs chat:admin: the reader's socket goes, the admin's and the lobby stay
    await reload(config(as, up.url, 'chat:admin', true));
    expect(await r1.waitClosed()).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await a1.roundTrip('still here')).data.toString()).toBe('still here');
    expect((await lobby.roundTrip('lobby too')).data.toString()).toBe('lobby too');
    await waitFor("up.closes.some((c) => c.url === '/room/1')", () => up.closes.some((c) => c.url === '/room/1'), 10_000); // the upstream process hears the close after the client does
    expect(up.closes.filter((c) => c.url === '/room/1').map((c) => c.code)).toEqual([1008]);

    // the lobby route is removed: its socket goes too
    await reload(config(as, up.url, 'chat:admin', false));
    expect(await lobby.waitClosed()).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await a1.roundTrip('and now')).data.toString()).toBe('and now');
    expect(await wsMetric(proxy, 'ended_policy_changed_total')).toBe(2);
    a1.ws.close();
    await a1.waitClosed();
  });
});
