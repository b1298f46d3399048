// An opaque token's live WebSocket is verified again about once a second (ws-opaque-recheck); the
// authorization server may also narrow what a still-active token grants (its `scope` answer). HTTP
// then answers 403 on the route; the socket must not keep relaying under the old grant. Before the
// fix the recheck only asked "still active?" and the socket stayed open for the token's lifetime.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { bearer, open, startOpaqueWsProxy, wsUrl } from './ws-fixtures.js';
import { call } from '../s2s/s2s-fixtures.js';


describe('opaque tokens: a live WebSocket follows the scope the authorization server grants now', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let introspection: Server;
  let proxy: ProxyProcess;
  /** token → the scope the introspection endpoint answers for it now */
  const scopes = new Map<string, string>();

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    introspection = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => { body += d; });
      req.on('end', () => {
        const token = new URLSearchParams(body).get('token') ?? '';
        const scope = scopes.get(token);
        const now = Math.floor(Date.now() / 1000);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(scope === undefined ? { active: false }
          : { active: true, iss: as.issuer, sub: `sub-${token.slice(0, 4)}`, aud: 'portcullis-demo', scope, iat: now, exp: now + 600, client_id: 'demo-client' }));
      });
    });
    await new Promise<void>((r) => introspection.listen(0, '127.0.0.1', r));
    proxy = await startOpaqueWsProxy(as.issuer, up.url, { name: 'chat', match: { path: '/chat/*' }, auth: { scopes: { all: ['chat'] } } }, {
      endpoint: `http://127.0.0.1:${(introspection.address() as AddressInfo).port}/introspect`, cache_ttl_s: 1, timeout_ms: 1_000,
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((r) => (introspection ? introspection.close(() => r()) : r()));
    await Promise.all([as?.close(), up?.close()]);
  });

  it('the scope taken away: HTTP 403 and the socket closes with 1008; a token that keeps it stays', async () => {
    const narrowed = 'tokA' + 'x'.repeat(28);
    const kept = 'tokB' + 'y'.repeat(28);
    scopes.set(narrowed, 'chat other');
    scopes.set(kept, 'chat');
    const [a, b] = await Promise.all([open(wsUrl(proxy, '/chat/a'), [], bearer(narrowed)), open(wsUrl(proxy, '/chat/b'), [], bearer(kept))]);
    for (const c of [a, b]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');
    scopes.set(narrowed, 'other'); // still active, no longer granted `chat`
    const closed = await a.waitClosed(10_000);
    expect(closed.code).toBe(1008);
    expect((await call(`${proxy.url}/chat/a`, { token: narrowed })).status).toBe(403);
    expect((await b.roundTrip('still here')).data.toString()).toBe('still here');
    b.ws.close();
    await b.waitClosed();
  });
});
