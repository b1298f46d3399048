// Revocation by OpenID Connect session (kind `sid`): two `portcullis serve` processes on a
// real nats-server. A sid revoked at B's admin API refuses every token carrying that sid at A
// (whenever it was issued, even after the revocation) and closes A's WebSocket of that session;
// a token of another session of the same user keeps working. Restarted members get it by replay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { busSection, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, chatMemberConfig, open, waitReady, wsUrl } from '../ws/ws-fixtures.js';
import { revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

async function get(p: ProxyProcess, path: string, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${p.url}${path}`, { headers: bearer(token) });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}

describe('revocation by session (sid) across members', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let A: ProxyProcess;
  let B: ProxyProcess;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    [nats, as, up, echo] = await Promise.all([startNatsServer(), startAuthServer(), startWsEchoUpstream(), startEchoUpstream()]);
    config = chatMemberConfig(as.issuer, up.url, echo.url, busSection(nats.url, subjectPrefix('ptsid')), 'api');
    [A, B] = await startMembers(2, config);
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), up?.close(), echo?.close()]);
  });

  it('a sid revoked at B refuses that session\'s tokens at A and closes its WebSocket; the user\'s other session keeps working', async () => {
    const s1 = await as.issueJwt({ sub: 'carol', sid: 'sess-one' });
    const s2 = await as.issueJwt({ sub: 'carol', sid: 'sess-two' });
    expect((await get(A, '/api/x', s1)).status).toBe(200);
    const ws = await open(wsUrl(A, '/chat/one'), [], bearer(s1));
    const other = await open(wsUrl(A, '/chat/two'), [], bearer(s2));
    expect((await ws.roundTrip('hi')).data.toString()).toBe('hi');

    const posted = await admin(B, 'POST', '/revocations', { kind: 'sid', value: 'sess-one', issuer: as.issuer, reason: 'logout' });
    expect(posted.status).toBe(201);
    expect(posted.body).toMatchObject({ revocation: { kind: 'sid', value: 'sess-one', before: null }, persisted: true });
    expect(await ws.waitClosed(5_000)).toMatchObject({ code: 1008, reason: 'token revoked' });
    await waitFor('sid revocation at A', async () => revoked(await get(A, '/api/x', s1)), 5_000);
    expect(revoked(await get(B, '/api/x', s1))).toBe(true);
    // a session is over for good: a token of it issued after the revocation is refused too
    const late = await as.issueJwt({ sub: 'carol', sid: 'sess-one' });
    expect(revoked(await get(A, '/api/x', late))).toBe(true);
    expect((await get(A, '/api/x', s2)).status).toBe(200);
    expect((await other.roundTrip('still')).data.toString()).toBe('still');
    other.ws.close();
    await other.waitClosed();

    const listed = await admin(A, 'GET', '/revocations?kind=sid');
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).toContain('sess-one');
  });

  it('a member started afterwards replays the sid revocation from the stream', async () => {
    const C = await startProxy(config, { env: { ...ADMIN_ENV, ...BUS_ENV } });
    try {
      await waitReady(C);
      const t = await as.issueJwt({ sub: 'carol', sid: 'sess-one' });
      expect(revoked(await get(C, '/api/x', t))).toBe(true);
      expect((await get(C, '/api/x', await as.issueJwt({ sub: 'carol', sid: 'sess-three' }))).status).toBe(200);
    } finally {
      await C.stop();
    }
  });
});
