// Shared Signals push (RFC 8935) against real processes: a reference transmitter (node:http on
// port 0: SSF metadata, JWKS, SETs signed with jose) pushes to one of two `portcullis serve`
// members on a real nats-server; the demo authorization server issues the access tokens. CAEP and
// RISC events revoke at every member and close live WebSockets; verification and unknown events
// are acknowledged and counted; every hostile push is refused with its RFC 8935 code, revoking nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { CAEP, RISC, SSF_VERIFY, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { makeKey } from '../../fixtures/keys.js';
import { admin, bearer, open, sleep, wsUrl } from '../ws/ws-fixtures.js';
import { revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/ssf/events';
const AUD = 'https://proxy.example/ssf';
const SECRET = 'Bearer ssf-push-secret-0123456789';

async function get(p: ProxyProcess, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${p.url}/api/x`, { headers: bearer(token) });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}

describe('SSF push receiver across members', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let other: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let A: ProxyProcess;
  let B: ProxyProcess;
  let push: (set: string, auth?: string | null, type?: string) => ReturnType<Transmitter['push']>;
  const userOf = (sub: string): Record<string, unknown> => ({ format: 'iss_sub', iss: as.issuer, sub });

  beforeAll(async () => {
    [nats, as, up, echo, tx] = await Promise.all([startNatsServer(), startAuthServer(), startWsEchoUpstream(), startEchoUpstream(), startTransmitter(AUD)]);
    other = await startAuthServer();
    const config = clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] }, other: { issuer: other.issuer, audiences: ['portcullis-demo'] } },
      event_sources: {
        idp: { issuer: tx.issuer, audiences: [AUD], push: { path: PATH, authorization_env: 'PT_SSF_PUSH' }, token_issuer: as.issuer, subjects: { email: 'sub' } },
      },
      upstreams: { ws: { targets: [up.url] }, echo: { targets: [echo.url] } },
      routes: [
        { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: {} },
        { name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} },
      ],
      cluster: busSection(nats.url, subjectPrefix('ptssf')),
      log: { level: 'info', access: false }, // the audit lines
    });
    [A, B] = await startMembers(2, config, { PT_SSF_PUSH: SECRET });
    push = (set, auth = SECRET, type) => tx.push(`${A.url}${PATH}`, set, auth, type);
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), other?.close(), up?.close(), echo?.close(), tx?.close()]);
  });

  it('CAEP session-revoked with a complex subject revokes the session at every member and closes its WebSocket; a resent SET is acknowledged, not re-applied', async () => {
    const tok = await as.issueJwt({ sub: 'frank', sid: 'ssf-sess-1' });
    const other = await as.issueJwt({ sub: 'frank', sid: 'ssf-sess-2' });
    const ws = await open(wsUrl(B, '/chat/1'), [], bearer(tok));
    expect((await ws.roundTrip('hi')).data.toString()).toBe('hi');
    const set = await tx.set(`${CAEP}session-revoked`, { event_timestamp: Math.floor(Date.now() / 1000) }, {
      sub_id: { format: 'complex', user: userOf('frank'), session: { format: 'opaque', id: 'ssf-sess-1' } },
    });
    const t0 = performance.now();
    expect(await push(set)).toMatchObject({ status: 202, body: null });
    expect(await ws.waitClosed(5_000)).toMatchObject({ code: 1008, reason: 'token revoked' });
    // eslint-disable-next-line no-console
    console.log(`SSF push at A → WebSocket at B closed after ${(performance.now() - t0).toFixed(1)} ms`);
    await waitFor('session revoked at B', async () => revoked(await get(B, tok)), 5_000);
    expect((await get(B, other)).status).toBe(200);
    const n = (await admin(B, 'GET', '/revocations')).body.total as number;
    expect(await push(set)).toMatchObject({ status: 202 });
    expect((await admin(B, 'GET', '/revocations')).body.total).toBe(n);
  });

  it('RISC account-disabled (iss_sub) and CAEP credential-change (email, mapped to sub) revoke the user\'s tokens up to the event, not later ones', async () => {
    const g = await as.issueJwt({ sub: 'grace' });
    const h = await as.issueJwt({ sub: 'heidi@example.com' });
    expect(await push(await tx.set(`${RISC}account-disabled`, { subject: userOf('grace'), reason: 'hijacking' }))).toMatchObject({ status: 202 });
    expect(await push(await tx.set(`${CAEP}credential-change`, { credential_type: 'password', change_type: 'update' }, { sub_id: { format: 'email', email: 'heidi@example.com' } }))).toMatchObject({ status: 202 });
    await waitFor('grace revoked at B', async () => revoked(await get(B, g)), 5_000);
    await waitFor('heidi revoked at B', async () => revoked(await get(B, h)), 5_000);
    // an event_timestamp below 0 is no time: read as absent (the SET's iat), the user is revoked — before, 400 invalid_request and nothing revoked
    const nt = await as.issueJwt({ sub: 'nina' });
    expect(await push(await tx.set(`${RISC}account-disabled`, { event_timestamp: -1 }, { sub_id: userOf('nina') }))).toMatchObject({ status: 202 });
    await waitFor('nina revoked at B', async () => revoked(await get(B, nt)), 5_000);
    await sleep(1_100); // the cut covers the event's whole second
    expect((await get(B, await as.issueJwt({ sub: 'grace' }))).status).toBe(200);
  });

  it('an aliases subject (RFC 9493 §3.2.4) revokes the user one of its identifiers names — before, 202 and nothing revoked', async () => {
    const t = await as.issueJwt({ sub: 'ivan' });
    const aliases = { format: 'aliases', identifiers: [{ format: 'phone_number', phone_number: '+12065550100' }, userOf('ivan')] };
    expect(await push(await tx.set(`${RISC}account-disabled`, {}, { sub_id: aliases }))).toMatchObject({ status: 202 });
    await waitFor('ivan revoked at B', async () => revoked(await get(B, t)), 5_000);
  });

  it('an aliases subject whose identifiers name two users (an email as sub, an iss_sub id) revokes both — before, only the first', async () => {
    const byEmail = await as.issueJwt({ sub: 'kate@example.com' });
    const byId = await as.issueJwt({ sub: 'u-kate' });
    const aliases = { format: 'aliases', identifiers: [{ format: 'email', email: 'kate@example.com' }, userOf('u-kate')] };
    expect(await push(await tx.set(`${RISC}account-disabled`, {}, { sub_id: aliases }))).toMatchObject({ status: 202 });
    await waitFor('kate (email) revoked at B', async () => revoked(await get(B, byEmail)), 5_000);
    await waitFor('kate (id) revoked at B', async () => revoked(await get(B, byId)), 5_000);
    // the audit line names both users by fingerprint, never by value
    await waitFor('the audit line at A', async () => A.logs().some((l) => l.audit === 'idp_event' && Array.isArray(l.alias_subject_fps)), 5_000,
      { detail: () => A.logs().filter((l) => l.audit === 'idp_event').map((l) => JSON.stringify(l)).join('\n') });
    const line = A.logs().find((l) => l.audit === 'idp_event' && Array.isArray(l.alias_subject_fps));
    expect(line).toMatchObject({ subject_fp: expect.stringMatching(/^[0-9a-f]{12}$/), alias_subject_fps: [expect.stringMatching(/^[0-9a-f]{12}$/)] });
    expect(JSON.stringify(line)).not.toMatch(/kate/);
  });

  it('an aliases identifier no revocation can hold (a space at an end, a lone surrogate) is skipped: the others are still revoked — before, 400 and none', async () => {
    const t = await as.issueJwt({ sub: 'lena@example.com' });
    const aliases = { format: 'aliases', identifiers: [{ format: 'email', email: 'lena@example.com' }, userOf('u-lena '), userOf('u-lena\ud800')] };
    expect(await push(await tx.set(`${RISC}account-disabled`, {}, { sub_id: aliases }))).toMatchObject({ status: 202 });
    await waitFor('lena revoked at B', async () => revoked(await get(B, t)), 5_000);
  });

  it('acknowledges verification, token-claims-change (drops cached verdicts) and unknown events without revoking, and counts them', async () => {
    const n = (await admin(A, 'GET', '/revocations')).body.total as number;
    expect(await push(await tx.set(SSF_VERIFY, { state: 'VGhpcyBpcyBh' }))).toMatchObject({ status: 202 });
    expect(await push(await tx.set(`${CAEP}token-claims-change`, { claims: { role: 'guest' } }, { sub_id: userOf('ivan') }))).toMatchObject({ status: 202 });
    expect(await push(await tx.set('https://vendor.example/event/unheard-of', {}, { sub_id: userOf('ivan') }))).toMatchObject({ status: 202 });
    // a type named like an Object.prototype member is unknown too (before: read through the prototype as an action, ivan revoked)
    expect(await push(await tx.set('constructor', {}, { sub_id: userOf('ivan') }))).toMatchObject({ status: 202 });
    expect(await push(await tx.set(`${RISC}account-purged`, {}, { sub_id: { format: 'phone_number', phone_number: '+1 555' } }))).toMatchObject({ status: 202 });
    expect((await admin(A, 'GET', '/revocations')).body.total).toBe(n);
    const text = await (await request(`${A.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
    expect(text).toMatch(/portcullis_idp_events_total\{source="idp",type="ssf_verification",result="verification"\} 1/);
    expect(text).toMatch(/portcullis_idp_events_total\{source="idp",type="ssf_other",result="unknown_event"\} 2/);
    expect(text).toMatch(/portcullis_idp_events_total\{source="idp",type="ssf_token_claims_change",result="cache_dropped"\} 1/);
    expect(text).toMatch(/portcullis_idp_events_total\{source="idp",type="ssf_account_purged",result="unmapped_subject"\} 1/);
    expect(text).toMatch(/portcullis_idp_events_total\{source="idp",type="ssf_session_revoked",result="accepted"\} 1/);
  });

  it('accepts a SET signed with a rotated-in key (one JWKS refetch)', async () => {
    const before = tx.counters.jwks;
    tx.rotate();
    const tok = await as.issueJwt({ sub: 'judy' });
    expect(await push(await tx.set(`${RISC}sessions-revoked`, {}, { sub_id: userOf('judy') }))).toMatchObject({ status: 202 });
    expect(tx.counters.jwks).toBeGreaterThan(before);
    await waitFor('judy revoked at B', async () => revoked(await get(B, tok)), 5_000);
  });

  it('an iss_sub subject naming another configured issuer than token_issuer revokes nothing there (one transmitter cannot log out another issuer\'s users)', async () => {
    const n = (await admin(A, 'GET', '/revocations')).body.total as number;
    const tok = await other.issueJwt({ sub: 'olga' });
    expect((await get(A, tok)).status).toBe(200);
    const foreign = { sub_id: { format: 'iss_sub', iss: other.issuer, sub: 'olga' } };
    expect(await push(await tx.set(`${RISC}account-disabled`, {}, foreign))).toMatchObject({ status: 202 });
    expect(await push(await tx.set(`${CAEP}session-revoked`, {}, { sub_id: { format: 'complex', user: foreign.sub_id } }))).toMatchObject({ status: 202 });
    await sleep(500);
    expect((await admin(A, 'GET', '/revocations')).body.total).toBe(n);
    expect((await get(B, tok)).status).toBe(200);
    const text = await (await request(`${A.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
    expect(text).toMatch(/portcullis_idp_events_total\{source="idp",type="ssf_account_disabled",result="unmapped_subject"\} 1/);
  });

  it('refuses every hostile push with its RFC 8935 code and revokes nothing', async () => {
    const n = (await admin(A, 'GET', '/revocations')).body.total as number;
    const ev = `${RISC}account-disabled`;
    const subj = { sub_id: userOf('mallory') };
    const now = Math.floor(Date.now() / 1000);
    const good = await tx.set(ev, {}, subj);
    const [h, p, s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub_id: userOf('victim') })).toString('base64url')}.${s}`;
    const cases: Array<[string, Promise<Awaited<ReturnType<typeof push>>>, number, string]> = [
      ['no Authorization', push(good, null), 401, 'authentication_failed'],
      ['wrong secret', push(good, 'Bearer guess'), 401, 'authentication_failed'],
      ['JSON body', push(JSON.stringify({ set: good }), SECRET, 'application/json'), 400, 'invalid_request'],
      ['typ JWT', push(await tx.set(ev, {}, subj, { header: { typ: 'JWT' } })), 400, 'invalid_request'],
      ['no typ', push(await tx.set(ev, {}, subj, { header: { typ: undefined } })), 400, 'invalid_request'],
      ['alg none', push(await tx.set(ev, {}, subj, { header: { alg: 'none' } })), 400, 'invalid_key'],
      ['forged payload', push(forged), 400, 'invalid_key'],
      ['unpublished key', push(await tx.set(ev, {}, subj, { key: makeKey('ES256') })), 400, 'invalid_key'],
      ['wrong issuer', push(await tx.set(ev, {}, { ...subj, iss: 'https://evil.example' })), 400, 'invalid_issuer'],
      ['wrong audience', push(await tx.set(ev, {}, { ...subj, aud: 'https://other.example' })), 400, 'invalid_audience'],
      ['iat too old', push(await tx.set(ev, {}, { ...subj, iat: now - 7_200 })), 400, 'invalid_request'],
      ['iat in the future', push(await tx.set(ev, {}, { ...subj, iat: now + 3_600 })), 400, 'invalid_request'],
      ['no jti', push(await tx.set(ev, {}, { ...subj, jti: undefined })), 400, 'invalid_request'],
      ['two events', push(await tx.set(ev, {}, { ...subj, events: { [ev]: {}, [`${RISC}account-purged`]: {} } })), 400, 'invalid_request'],
      ['garbage', push('not-a-set'), 400, 'invalid_request'],
    ];
    for (const [what, pending, status, err] of cases) {
      const r = await pending;
      expect({ what, status: r.status, err: r.body?.err }).toEqual({ what, status, err });
      if (status === 401) expect(r.wwwAuthenticate).toMatch(/^Bearer/);
    }
    expect((await push('a'.repeat(30_000))).status).toBe(413);
    expect((await admin(A, 'GET', '/revocations')).body.total).toBe(n);
    expect((await get(A, await as.issueJwt({ sub: 'mallory' }))).status).toBe(200);
  });
});
