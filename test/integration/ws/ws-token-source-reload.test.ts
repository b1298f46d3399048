// A reload that stops accepting a token where a WebSocket's came from — `token_sources.query`
// turned off, the token header renamed — ends that socket (1008 "access changed by configuration"),
// as the same handshake is now refused; sockets whose token the new config still reads keep relaying.
// Before, the re-judgement looked only at the route's rules for the principal, never at where its
// token was read, so such a socket kept relaying. The bearer subprotocol (`websocket_protocol`) is
// such a source too: the proxy turns it into Authorization at the handshake, and the re-judgement
// read that header back — a socket opened with its token in Sec-WebSocket-Protocol outlived the
// reload that turned `websocket_protocol` off.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { bearerProtocol } from '../../../node/ws/ws-protocol.js';
import { admin, bearer, handshake, open, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';

function config(as: AuthServer, up: string, sources: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { ws: { targets: [up] } },
    routes: [{ name: 'room', match: { path: '/room/*' }, upstream: 'ws', websocket: true, auth: { token_sources: sources } }],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  };
}

describe('reload that stops reading a token where a WebSocket had it', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    proxy = await startProxy(config(as, up.url, { query: true, header: 'X-Api-Token' }), { env: ADMIN_ENV });
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
  };

  it('closes the sockets whose token source the new config no longer reads; keeps the others', async () => {
    const token = await as.issueJwt({ sub: 'quinn' });
    const [byQuery, byHeader, byBearer] = await Promise.all([
      open(wsUrl(proxy, `/room/1?access_token=${token}`)),
      open(wsUrl(proxy, '/room/2'), [], { 'x-api-token': token }),
      open(wsUrl(proxy, '/room/3'), [], bearer(token)),
    ]);
    for (const c of [byQuery, byHeader, byBearer]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');

    // the query source goes: that socket ends, as a new handshake like it is refused
    await reload(config(as, up.url, { header: 'X-Api-Token' }));
    expect(await handshake(wsUrl(proxy, `/room/4?access_token=${token}`))).toMatchObject({ kind: 'refused', status: 401 });
    expect(await byQuery.waitClosed(3_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await byHeader.roundTrip('header')).data.toString()).toBe('header');

    // the token header is renamed: the socket that sent the old one ends
    await reload(config(as, up.url, { header: 'X-Other-Token' }));
    expect(await handshake(wsUrl(proxy, '/room/5'), [], { 'x-api-token': token })).toMatchObject({ kind: 'refused', status: 401 });
    expect(await byHeader.waitClosed(3_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await byBearer.roundTrip('bearer')).data.toString()).toBe('bearer');
    expect(await wsMetric(proxy, 'ended_policy_changed_total')).toBe(2);
    byBearer.ws.close();
    await byBearer.waitClosed();
  });
});

describe('reload that turns the bearer subprotocol off', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    proxy = await startProxy(config(as, up.url, { websocket_protocol: true }), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('closes the socket whose token came in Sec-WebSocket-Protocol (1008), as a new such handshake is refused; an Authorization socket keeps relaying', async () => {
    const token = await as.issueJwt({ sub: 'rory' });
    const [bySubprotocol, byBearer] = await Promise.all([
      open(wsUrl(proxy, '/room/1'), [bearerProtocol(token), 'chat.v1']),
      open(wsUrl(proxy, '/room/2'), [], bearer(token)),
    ]);
    for (const c of [bySubprotocol, byBearer]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');

    writeFileSync(proxy.configPath, stringify(config(as, up.url, { websocket_protocol: false })));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await handshake(wsUrl(proxy, '/room/3'), [bearerProtocol(token), 'chat.v1'])).toMatchObject({ kind: 'refused' });
    expect(await bySubprotocol.waitClosed(3_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await byBearer.roundTrip('still')).data.toString()).toBe('still');
    expect(await wsMetric(proxy, 'ended_policy_changed_total')).toBe(1);
    byBearer.ws.close();
    await byBearer.waitClosed();
  });
});
