// Cross-site WebSocket hijacking: a browser sends the site's cookies with a WebSocket handshake
// from any page, and WebSockets have no CORS. A token taken from a cookie therefore opens a
// socket only for a page of the route's own origin or one listed in `cookie_origins` (which also
// admits the route's state-changing requests) or `websocket_origins` (handshakes only); a
// handshake from another Origin gets 403 and the upstream never sees it. Tokens a page must
// set itself (Authorization, the bearer subprotocol) and clients without Origin are unaffected.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, handshake, waitReady, wsUrl } from './ws-fixtures.js';

describe('WebSocket handshakes authenticated by a cookie', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;
  let own = '';
  const config = (origins: string[]): Record<string, unknown> => ({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { ws: { targets: [up.url] } },
    routes: [
      { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, websocket_origins: origins, cookie_origins: ['https://shop.example'], auth: { token_sources: { cookie: 'session' } } },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  });

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    proxy = await startProxy(config(['https://app.example']), { env: ADMIN_ENV });
    await waitReady(proxy);
    own = `http://127.0.0.1:${proxy.port}`;
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('another Origin → 403 and nothing reaches the upstream; the own origin, a listed one and no Origin → 101', async () => {
    const tok = await as.issueJwt({ sub: 'mallory-victim' });
    const cookie = { cookie: `theme=dark; session=${tok}` };
    const before = up.handshakes.length;
    for (const origin of ['https://evil.example', 'null', 'https://app.example.evil.example', `http://127.0.0.1:${proxy.port + 1}`, 'not a url', 'https://app.example/path']) {
      const h = await handshake(wsUrl(proxy, '/chat/x'), ['chat'], { ...cookie, origin });
      expect(h.kind === 'refused' ? [h.status, JSON.parse(h.body).code] : h.kind, origin).toEqual([403, 'PORTCULLIS_ERR_WEBSOCKET_ORIGIN']);
    }
    expect(up.handshakes.length).toBe(before);

    for (const origin of [own, 'https://app.example', 'HTTPS://APP.EXAMPLE:443', 'https://shop.example', null]) {
      const h = await handshake(wsUrl(proxy, '/chat/x'), ['chat'], origin === null ? cookie : { ...cookie, origin });
      expect(h.kind, String(origin)).toBe('open');
      if (h.kind === 'open') h.client.ws.close();
    }
    // a token the page had to set itself cannot be sent by a foreign page without its knowledge
    const h = await handshake(wsUrl(proxy, '/chat/x'), ['chat'], { ...bearer(tok), origin: 'https://evil.example' });
    expect(h.kind).toBe('open');
    if (h.kind === 'open') h.client.ws.close();
  });

  it('a reload that no longer lists an origin closes its cookie sockets (1008); the own origin\'s stay', async () => {
    const cookie = { cookie: `session=${await as.issueJwt({ sub: 'rita' })}` };
    const [listed, same] = await Promise.all([
      handshake(wsUrl(proxy, '/chat/r1'), ['chat'], { ...cookie, origin: 'https://app.example' }),
      handshake(wsUrl(proxy, '/chat/r2'), ['chat'], { ...cookie, origin: own }),
    ]);
    if (listed.kind !== 'open' || same.kind !== 'open') throw new Error(`expected two 101s, got ${listed.kind} and ${same.kind}`);
    writeFileSync(proxy.configPath, stringify(config([])));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await listed.client.waitClosed(5_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await same.client.roundTrip('still here')).data.toString()).toBe('still here');
    same.client.ws.close();
  });
});
