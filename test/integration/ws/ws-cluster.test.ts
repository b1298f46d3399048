// Cross-instance: two `portcullis serve` processes on one real nats-server. A WebSocket held
// at A (and an SSE stream at A) is closed with 1008 when the token is revoked at B's admin
// API — the revocation travels over NATS. The delay from B's POST to the close frame at the
// client is measured and printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { busSection, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, chatMemberConfig, jtiOf, open, sleep, sseEvents, stream, wsUrl } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('a revocation at instance B closes a WebSocket held at instance A', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let A: ProxyProcess;
  let B: ProxyProcess;
  const delays: number[] = [];

  beforeAll(async () => {
    [nats, as, up, echo] = await Promise.all([startNatsServer(), startAuthServer(), startWsEchoUpstream(), startEchoUpstream()]);
    const config = chatMemberConfig(as.issuer, up.url, echo.url, busSection(nats.url, subjectPrefix('ptws')), 'events');
    [A, B] = await startMembers(2, config);
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), up?.close(), echo?.close()]);
    const sorted = [...delays].sort((a, b) => a - b);
    // eslint-disable-next-line no-console
    console.log(`revocation at B (POST /revocations) → 1008 close frame at the client of A: ${delays.map((d) => d.toFixed(1)).join(', ')} ms (median ${sorted[sorted.length >> 1]?.toFixed(1)} ms, max ${sorted[sorted.length - 1]?.toFixed(1)} ms)`);
  });

  it('closes with 1008 "token revoked", every time (delays printed)', async () => {
    for (let i = 0; i < 8; i++) {
      const tok = await as.issueJwt({ sub: `user-${i}` });
      const bystander = await as.issueJwt({ sub: `user-${i}` });
      const c = await open(wsUrl(A, `/chat/${i}`), [], bearer(tok));
      const d = await open(wsUrl(A, `/chat/${i}b`), [], bearer(bystander));
      expect((await c.roundTrip(`m${i}`)).data.toString()).toBe(`m${i}`);
      const t0 = performance.now();
      const posted = await admin(B, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) });
      expect(posted.status).toBe(201);
      const closed = await c.waitClosed();
      expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' });
      delays.push(closed.at - t0);
      expect((await d.roundTrip('alive')).data.toString()).toBe('alive');
      d.ws.close();
      await d.waitClosed();
    }
  });

  it('an SSE stream at A is cut when the token is revoked at B', async () => {
    const tok = await as.issueJwt({ sub: 'sse-user' });
    const s = await stream(`${A.url}/events/sse`, bearer(tok));
    expect(s.status).toBe(200);
    await waitFor('sseEvents(s) >= 1', () => sseEvents(s) >= 1, 10_000, { detail: () => 'the stream\'s first event reaches the client' });
    const t0 = performance.now();
    expect((await admin(B, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
    const ended = await Promise.race([s.ended, sleep(10_000).then(() => null)]);
    expect(ended, 'the stream at A is still open 10 s after the revocation at B').not.toBeNull();
    expect(ended!.complete).toBe(false);
    // eslint-disable-next-line no-console
    console.log(`revocation at B → SSE stream at A cut after ${(ended!.at - t0).toFixed(1)} ms`);
  });
});
