// An opaque token revoked at its authorization server ends its WebSockets too: HTTP refuses it
// once the cached introspection answer expires, and a live socket is checked again the same way
// (about once a second), so it does not outlive the token's refusal until exp. An introspection
// outage closes nothing (HTTP answers 503 meanwhile, the socket is judged again when it is back).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { bearer, open, sleep, startOpaqueWsProxy, wsUrl } from './ws-fixtures.js';
import { call } from '../s2s/s2s-fixtures.js';
import { waitFor } from '../../helpers/wait.js';


describe('opaque tokens: a live WebSocket follows the introspection answer', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    proxy = await startOpaqueWsProxy(as.issuer, up.url, { name: 'chat', match: { path: '/chat/*' }, auth: {} }, { cache_ttl_s: 1, timeout_ms: 1_000 });
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('revoked at the authorization server: HTTP 401 and the socket closes with 1008; another token\'s socket stays', async () => {
    const revoked = as.issueOpaque({ sub: 'olga', aud: 'portcullis-demo' }, 600);
    const kept = as.issueOpaque({ sub: 'oscar', aud: 'portcullis-demo' }, 600);
    const [a, b] = await Promise.all([open(wsUrl(proxy, '/chat/a'), [], bearer(revoked)), open(wsUrl(proxy, '/chat/b'), [], bearer(kept))]);
    for (const c of [a, b]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');
    expect(as.revokeOpaque(revoked)).toBe(true);
    const closed = await a.waitClosed(10_000);
    expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' });
    expect((await call(`${proxy.url}/chat/a`, { token: revoked })).status).toBe(401);
    expect((await b.roundTrip('still here')).data.toString()).toBe('still here');
    await waitFor("up.closes.some((c) => c.url === '/chat/a')", () => up.closes.some((c) => c.url === '/chat/a'), 10_000); // the upstream process hears the close after the client does
    expect(up.closes.filter((c) => c.url === '/chat/a').map((c) => c.code)).toEqual([1008]);

    // an introspection outage is not a refusal: the socket stays (HTTP answers 503 meanwhile)
    as.setIntrospection('down');
    try {
      await sleep(3_000);
      expect((await call(`${proxy.url}/chat/b`, { token: kept })).status).toBe(503);
      expect(b.closedWith).toBeNull();
    } finally {
      as.setIntrospection('normal');
    }
    expect((await b.roundTrip('after the outage')).data.toString()).toBe('after the outage');
    b.ws.close();
    await b.waitClosed();
  }, 40_000);
});
