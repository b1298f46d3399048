// A session logout that names the user too reaches the user's access tokens that carry no `sid`
// (as Auth0's and Okta's do): two `portcullis serve` members on a real nats-server, the demo
// authorization server signing the logout token. The logout at A refuses such a token at A and B and closes
// B's WebSocket of it; the user's token of another session, and a sid-less one issued after the logout, pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { busSection, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_ENV, runCli, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, chatMemberConfig, open, sleep, waitReady, wsUrl } from '../ws/ws-fixtures.js';
import { revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/oidc/backchannel-logout';
const CLIENT = 'portcullis-web';
const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };

async function get(p: ProxyProcess, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${p.url}/api/x`, { headers: bearer(token) });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}

async function logout(p: ProxyProcess, token: string): Promise<number> {
  const r = await request(`${p.url}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` });
  await r.body.dump();
  return r.statusCode;
}

describe('a session logout naming the user reaches their tokens without a sid', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let A: ProxyProcess;
  let B: ProxyProcess;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    [nats, as, up, echo] = await Promise.all([startNatsServer(), startAuthServer(), startWsEchoUpstream(), startEchoUpstream()]);
    config = chatMemberConfig(as.issuer, up.url, echo.url, busSection(nats.url, subjectPrefix('ptnosid')), 'api', { backchannel_logout: { path: PATH, client_id: CLIENT } });
    [A, B] = await startMembers(2, config);
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), up?.close(), echo?.close()]);
  });

  it('a back-channel logout (sid + sub) at A refuses the user\'s sid-less token at A and B; another session\'s token and a later sid-less one pass', async () => {
    const sidless = await as.issueJwt({ sub: 'ivan' });
    const session = await as.issueJwt({ sub: 'ivan', sid: 'okta-sess-1' });
    const otherSession = await as.issueJwt({ sub: 'ivan', sid: 'okta-sess-2' });
    const otherUser = await as.issueJwt({ sub: 'judy' });
    for (const p of [A, B]) expect((await get(p, sidless)).status).toBe(200);
    const ws = await open(wsUrl(B, '/chat/ivan'), [], bearer(sidless));
    const kept = await open(wsUrl(B, '/chat/ivan-2'), [], bearer(otherSession));
    expect((await ws.roundTrip('hi')).data.toString()).toBe('hi');

    const lt = await as.issueJwt({ aud: CLIENT, scope: undefined, client_id: undefined, exp: undefined, events: EVENT, sub: 'ivan', sid: 'okta-sess-1' }, { typ: 'logout+jwt' });
    expect(await logout(A, lt)).toBe(200);
    expect(await ws.waitClosed(5_000)).toMatchObject({ code: 1008, reason: 'token revoked' });
    await waitFor('the sid-less token refused at B', async () => revoked(await get(B, sidless)), 5_000);
    expect(revoked(await get(A, sidless))).toBe(true);
    for (const p of [A, B]) expect(revoked(await get(p, session))).toBe(true);
    // a token of the user's other session names where it belongs: it stays valid, as does another user's
    for (const p of [A, B]) {
      expect((await get(p, otherSession)).status).toBe(200);
      expect((await get(p, otherUser)).status).toBe(200);
    }
    expect((await kept.roundTrip('still')).data.toString()).toBe('still');
    kept.ws.close();
    await kept.waitClosed();
    await sleep(1_100); // the cut covers the logout's whole second (inclusive, like a sub cut)
    const later = await as.issueJwt({ sub: 'ivan' });
    for (const p of [A, B]) expect((await get(p, later)).status).toBe(200);

    const listed = await admin(B, 'GET', '/revocations?kind=sub_without_sid');
    expect(listed.status).toBe(200);
    expect(listed.body.entries).toEqual([expect.objectContaining({ kind: 'sub_without_sid', value: 'ivan', issuer: as.issuer, reason: 'backchannel_logout' })]);
    expect(listed.body.entries[0].before).toBeGreaterThan(0);
  });

  it('a member started afterwards replays it from the stream; `revoke --sub S --without-sid` makes one', async () => {
    const C = await startProxy(config, { env: { ...ADMIN_ENV, ...BUS_ENV } });
    try {
      await waitReady(C);
      const old = await as.issueJwt({ sub: 'ivan', iat: Math.floor(Date.now() / 1000) - 30 });
      expect(revoked(await get(C, old))).toBe(true);
      expect((await get(C, await as.issueJwt({ sub: 'ivan', sid: 'okta-sess-3', iat: Math.floor(Date.now() / 1000) - 30 }))).status).toBe(200);
    } finally {
      await C.stop();
    }
    const mine = await as.issueJwt({ sub: 'kim' });
    const kept = await as.issueJwt({ sub: 'kim', sid: 'kim-sess' });
    // an operator does the same with the CLI (through A's admin API)
    const cli = await runCli(['revoke', '--sub', 'kim', '--without-sid', '--issuer', as.issuer, '--admin', A.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN'], ADMIN_ENV);
    expect(cli.code, cli.stderr).toBe(0);
    await waitFor('kim\'s sid-less token refused at B', async () => revoked(await get(B, mine)), 5_000);
    expect((await get(B, kept)).status).toBe(200);
    const listed = await admin(B, 'GET', '/revocations?kind=sub_without_sid');
    expect(listed.body.entries).toContainEqual(expect.objectContaining({ kind: 'sub_without_sid', value: 'kim', issuer: as.issuer }));
  });
});
