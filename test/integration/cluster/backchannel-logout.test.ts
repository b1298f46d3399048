// OpenID Connect Back-Channel Logout 1.0 against real processes: the demo authorization server
// signs logout tokens with its JWKS keys, two `portcullis serve` members share a real nats-server.
// A logout POSTed at A revokes the session at B (its WebSocket closed, its requests 401); every
// hostile logout token is answered 400 with the spec's error JSON and revokes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { busSection, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, chatMemberConfig, open, sleep, wsUrl } from '../ws/ws-fixtures.js';
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

async function logout(p: ProxyProcess, body: string, contentType = 'application/x-www-form-urlencoded', method: 'POST' | 'GET' = 'POST'): Promise<{ status: number; cache: string; body: any }> {
  const r = await request(`${p.url}${PATH}`, { method, headers: { 'content-type': contentType }, ...(method === 'POST' ? { body } : {}) });
  const text = await r.body.text();
  return { status: r.statusCode, cache: String(r.headers['cache-control'] ?? ''), body: text === '' ? null : JSON.parse(text) };
}

describe('OpenID Connect back-channel logout across members', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let A: ProxyProcess;
  let B: ProxyProcess;
  /** A logout token as the OP signs it; `claims` override, `undefined` removes one. */
  let logoutToken: (claims: Record<string, unknown>, opts?: { typ?: string; alg?: string }) => Promise<string>;

  beforeAll(async () => {
    [nats, as, up, echo] = await Promise.all([startNatsServer(), startAuthServer(), startWsEchoUpstream(), startEchoUpstream()]);
    const config = chatMemberConfig(as.issuer, up.url, echo.url, busSection(nats.url, subjectPrefix('ptbcl')), 'api', { backchannel_logout: { path: PATH, client_id: CLIENT } });
    [A, B] = await startMembers(2, config);
    logoutToken = (claims, opts = {}) => as.issueJwt(
      { aud: CLIENT, scope: undefined, client_id: undefined, exp: undefined, events: EVENT, ...claims },
      { typ: opts.typ ?? 'logout+jwt', ...(opts.alg === undefined ? {} : { alg: opts.alg }) },
    );
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), up?.close(), echo?.close()]);
  });

  it('a logout at A for a sid closes that session\'s WebSocket at B and refuses its tokens everywhere; a replay is refused', async () => {
    const tok = await as.issueJwt({ sub: 'dave', sid: 'kc-session-1' });
    const otherSession = await as.issueJwt({ sub: 'dave', sid: 'kc-session-2' });
    const ws = await open(wsUrl(B, '/chat/1'), [], bearer(tok));
    expect((await ws.roundTrip('hi')).data.toString()).toBe('hi');

    const lt = await logoutToken({ sub: 'dave', sid: 'kc-session-1' });
    const t0 = performance.now();
    const res = await logout(A, `logout_token=${lt}`);
    expect(res).toMatchObject({ status: 200, cache: 'no-store', body: null });
    expect(await ws.waitClosed(5_000)).toMatchObject({ code: 1008, reason: 'token revoked' });
    // eslint-disable-next-line no-console
    console.log(`back-channel logout POST at A → WebSocket at B closed after ${(performance.now() - t0).toFixed(1)} ms`);
    await waitFor('sid revoked at B', async () => revoked(await get(B, tok)), 5_000);
    expect(revoked(await get(A, tok))).toBe(true);
    expect((await get(B, otherSession)).status).toBe(200);

    for (const p of [A, B]) {
      const again = await logout(p, `logout_token=${lt}`);
      expect(again).toMatchObject({ status: 400, cache: 'no-store', body: { error: 'invalid_request' } });
      expect(again.body.error_description).toMatch(/already received/);
    }
    const listed = await admin(B, 'GET', '/revocations?kind=sid');
    expect(listed.body.entries).toEqual([expect.objectContaining({ kind: 'sid', value: 'kc-session-1', issuer: as.issuer, reason: 'backchannel_logout' })]);
  });

  it('a logout token under a key the OP\'s JWKS cannot deliver (endpoint down) is 503 for the OP to retry, not 400; nothing revoked', async () => {
    const tok = await as.issueJwt({ sub: 'erin', sid: 'kc-session-9' });
    as.setJwks('down');
    try {
      // the OP rotated its keys: the logout token names a kid the members have not seen, and the refetch fails
      const lt = await as.issueJwt({ aud: CLIENT, scope: undefined, client_id: undefined, exp: undefined, events: EVENT, sub: 'erin', sid: 'kc-session-9' }, { typ: 'logout+jwt', kid: 'rotated-in' });
      const res = await logout(A, `logout_token=${lt}`);
      expect(res).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
    } finally {
      as.setJwks('normal');
    }
    expect((await get(B, tok)).status).toBe(200);
  });

  it('a logout with only sub refuses the user\'s tokens issued up to it, not one issued afterwards', async () => {
    const before = await as.issueJwt({ sub: 'erin' });
    expect((await get(A, before)).status).toBe(200);
    expect((await logout(B, `logout_token=${await logoutToken({ sub: 'erin', sid: undefined })}`)).status).toBe(200);
    await waitFor('sub revoked at A', async () => revoked(await get(A, before)), 5_000);
    await sleep(1_100); // the cut covers the logout's whole second (README: the cut is inclusive)
    expect((await get(A, await as.issueJwt({ sub: 'erin' }))).status).toBe(200);
  });

  it('an OP whose clock runs ahead (within clock_skew_s): a sub-only logout refuses the tokens it issued before the logout', async () => {
    // the OP stamps with its own clock, 20 s ahead of the members': its tokens are accepted (iat within the skew)
    const ahead = Math.floor(Date.now() / 1000) + 20;
    const issuedBefore = await as.issueJwt({ sub: 'grace', iat: ahead - 3, exp: ahead + 300 });
    expect((await get(A, issuedBefore)).status).toBe(200);
    expect((await logout(B, `logout_token=${await logoutToken({ sub: 'grace', sid: undefined, iat: ahead })}`)).status).toBe(200);
    // before, the cut was the member's now (20 s earlier than the OP's logout): this token passed until its exp
    await waitFor('grace revoked at A', async () => revoked(await get(A, issuedBefore)), 5_000);
    expect(revoked(await get(B, issuedBefore))).toBe(true);
    // one the OP issues after the logout (by its clock) still passes
    expect((await get(A, await as.issueJwt({ sub: 'grace', iat: ahead + 2, exp: ahead + 300 }))).status).toBe(200);
  });

  it('a sid the OP makes a signed handle (shaped like a JWS) is logged out like any other: its tokens are refused', async () => {
    // what POST /revocations refuses as a pasted raw token; here it is the claim value the session's tokens carry
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const sid = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sid: 'op-session-77' })}.${'Q'.repeat(43)}`;
    const tok = await as.issueJwt({ sub: 'frank', sid });
    expect((await get(B, tok)).status).toBe(200);
    const res = await logout(A, `logout_token=${await logoutToken({ sub: 'frank', sid })}`);
    expect(res).toMatchObject({ status: 200, body: null });
    await waitFor('the JWS-shaped sid revoked at B', async () => revoked(await get(B, tok)), 5_000);
  });

  it('refuses every hostile logout request with 400 invalid_request (or 405/413), revoking nothing', async () => {
    const count = async (): Promise<number> => (await admin(A, 'GET', '/revocations')).body.total as number;
    const n0 = await count();
    const now = Math.floor(Date.now() / 1000);
    const good = { sub: 'mallory', sid: 'sess-hostile' };
    const valid = await logoutToken(good);
    const [h, p] = valid.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sid: 'someone-else' })).toString('base64url');
    const cases: Array<[string, string, string?]> = [
      ['wrong audience', `logout_token=${await logoutToken({ ...good, aud: 'another-client' })}`],
      ['wrong issuer', `logout_token=${await logoutToken({ ...good, iss: 'https://evil.example' })}`],
      ['nonce (an ID token)', `logout_token=${await logoutToken({ ...good, nonce: 'n-0S6' })}`],
      ['no events claim', `logout_token=${await logoutToken({ ...good, events: undefined })}`],
      ['events without the logout member', `logout_token=${await logoutToken({ ...good, events: { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': {} } })}`],
      ['neither sid nor sub', `logout_token=${await logoutToken({ sub: undefined, sid: undefined })}`],
      ['iat too old', `logout_token=${await logoutToken({ ...good, iat: now - 3_600 })}`],
      ['iat in the future', `logout_token=${await logoutToken({ ...good, iat: now + 3_600 })}`],
      ['expired', `logout_token=${await logoutToken({ ...good, exp: now - 120 })}`],
      ['no jti', `logout_token=${await logoutToken({ ...good, jti: undefined })}`],
      ['typ of an access token', `logout_token=${await logoutToken(good, { typ: 'at+jwt' })}`],
      ['unsigned (alg none)', `logout_token=${await logoutToken(good, { alg: 'none' })}`],
      ['HS256 keyed with the public key', `logout_token=${await logoutToken(good, { alg: 'HS256' })}`],
      ['forged payload', `logout_token=${h}.${forgedPayload}.${valid.split('.')[2]}`],
      ['garbage', 'logout_token=not.a.jwt'],
      ['no logout_token', `token=${valid}`],
      ['two logout_tokens', `logout_token=${valid}&logout_token=${valid}`],
      ['JSON instead of a form', JSON.stringify({ logout_token: valid }), 'application/json'],
    ];
    for (const [what, body, type] of cases) {
      const r = await logout(A, body, type);
      expect({ what, status: r.status, cache: r.cache, error: r.body?.error }).toEqual({ what, status: 400, cache: 'no-store', error: 'invalid_request' });
    }
    expect((await logout(A, `logout_token=${'a'.repeat(30_000)}`)).status).toBe(413);
    expect((await logout(A, '', undefined, 'GET')).status).toBe(405);
    expect(await count()).toBe(n0);
    expect((await get(A, await as.issueJwt({ sub: 'mallory', sid: 'sess-hostile' }))).status).toBe(200);

    // the valid one still works afterwards, and every outcome was counted
    expect((await logout(A, `logout_token=${valid}`)).status).toBe(200);
    const metrics = await request(`${A.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_ENV.PORTCULLIS_TEST_ADMIN_TOKEN}` } });
    const text = await metrics.body.text();
    expect(text).toMatch(/portcullis_idp_events_total\{source="demo",type="backchannel_logout",result="accepted"\} [1-9]/);
    expect(text).toMatch(/portcullis_idp_events_total\{source="demo",type="backchannel_logout",result="wrong_audience"\} 1/);
    expect(text).toMatch(/portcullis_idp_events_total\{source="demo",type="backchannel_logout",result="bad_signature"\} [1-9]/);
    expect(text).toMatch(/# HELP portcullis_idp_events_total /);
  });
});
