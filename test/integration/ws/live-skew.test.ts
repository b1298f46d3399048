// One expiry rule for HTTP and live connections: a token is refused from exp + the issuer's
// clock_skew_s on, by HTTP and by WebSockets and streamed responses alike. A token inside the
// skew gets its WebSocket (101) and its stream until that instant; a token past it is refused
// before any upstream socket is opened.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { bearer, chatEventsConfig, expOf, handshake, open, sleep, sseEvents, stream, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';

/** The tolerance under test; the token inside it has 5 s of it left (below). */
const SKEW_S = 12;

describe('clock skew: the same instant for HTTP, WebSockets and streamed responses', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up, echo] = await Promise.all([startAuthServer(), startWsEchoUpstream(), startEchoUpstream()]);
    proxy = await startProxy(chatEventsConfig(as.issuer, up.url, echo.url, { clock_skew_s: SKEW_S }), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close(), echo?.close()]);
  });

  /** A token whose exp passed `agoS` seconds ago (issued 5 minutes ago). */
  const expiredAgo = (agoS: number, sub: string): Promise<string> =>
    as.issueJwt({ sub, iat: Math.floor(Date.now() / 1000) - 300 }, { ttlSeconds: -agoS });
  const httpStatus = async (token: string): Promise<number> => {
    const r = await request(`${proxy.url}/events/plain`, { headers: bearer(token) });
    await r.body.dump();
    return r.statusCode;
  };

  it('exp passed inside the skew: HTTP 200, the WebSocket opens (101) and an SSE stream flows, both until exp + skew, then end like HTTP starts refusing', async () => {
    // exp passed 7 s ago, 5 s of the skew left: room for a loaded machine to open the socket and the
    // stream, and the file waits those 5 s for the end, not the whole 12 s skew
    const tok = await expiredAgo(SKEW_S - 5, 'inside');
    const until = (expOf(tok) + SKEW_S) * 1000;
    expect(await httpStatus(tok)).toBe(200);
    const upgrades = up.handshakes.length;
    const streamsEnded = await wsMetric(proxy, 'streams_ended_expired_total');
    const [c, s] = await Promise.all([open(wsUrl(proxy, '/chat/skew'), [], bearer(tok)), stream(`${proxy.url}/events/sse`, bearer(tok))]);
    expect(up.handshakes.length).toBe(upgrades + 1);
    expect(s.status).toBe(200);
    expect((await c.roundTrip('inside the skew')).data.toString()).toBe('inside the skew');

    const [closed, ended] = await Promise.all([
      c.waitClosed(SKEW_S * 1000 + 10_000).then((x) => ({ ...x, wall: Date.now() })),
      Promise.race([s.ended.then((e) => ({ ...e, wall: Date.now() })), sleep(SKEW_S * 1000 + 10_000).then(() => null)]),
    ]);
    expect(closed).toMatchObject({ code: 1008, reason: 'token expired' });
    expect(closed.wall, 'socket closed before HTTP would refuse the token').toBeGreaterThanOrEqual(until - 50);
    expect(ended, 'the stream outlived exp + skew').not.toBeNull();
    expect(ended!.complete).toBe(false);
    expect(ended!.wall, 'stream cut before HTTP would refuse the token').toBeGreaterThanOrEqual(until - 50);
    expect(sseEvents(s)).toBeGreaterThan(2);
    expect(await wsMetric(proxy, 'streams_ended_expired_total')).toBe(streamsEnded + 1);
    expect(await httpStatus(tok)).toBe(401);
  }, 60_000);

  it('exp + skew already passed: 401 for HTTP and for the upgrade, and the upstream never sees a connection', async () => {
    const tok = await expiredAgo(SKEW_S + 2, 'outside');
    expect(await httpStatus(tok)).toBe(401);
    const upgrades = up.handshakes.length;
    const h = await handshake(wsUrl(proxy, '/chat/late'), [], bearer(tok));
    expect(h.kind === 'refused' && h.status).toBe(401);
    await sleep(100);
    expect(up.handshakes.length).toBe(upgrades);
  });
});
