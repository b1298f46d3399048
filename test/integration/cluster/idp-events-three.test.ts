// Identity-provider events in a 3-instance cluster (real nats-server, three `portcullis serve`
// processes, the reference SSF transmitter, the demo authorization server with introspection):
// a CAEP session-revoked pushed to one member is refused at all three and closes the session's
// WebSocket at another; a CAEP token-claims-change pushed to one member drops the subject's cached
// introspection verdicts at every member (the next request is decided again); the RFC 8936 poller
// is killed and another of the two survivors takes over — no event lost, none applied twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { CAEP, POLL_AUTH, RISC, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
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

/** The counter `portcullis_idp_events_total{source="idp",type,result}` at `p`. */
async function events(p: ProxyProcess, type: string, result: string): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
  const m = new RegExp(`portcullis_idp_events_total\\{source="idp",type="${type}",result="${result}"\\} (\\d+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe('identity-provider events across three members', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let members: ProxyProcess[] = [];
  const user = (sub: string): Record<string, unknown> => ({ sub_id: { format: 'iss_sub', iss: as.issuer, sub } });

  beforeAll(async () => {
    [nats, as, up, echo, tx] = await Promise.all([startNatsServer(), startAuthServer(), startWsEchoUpstream(), startEchoUpstream(), startTransmitter(AUD)]);
    const config = clusterMemberConfig({
      issuers: {
        demo: {
          issuer: as.issuer, audiences: ['portcullis-demo'],
          // long enough that only the event can make a member ask the authorization server again
          introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 300 },
        },
      },
      event_sources: {
        idp: {
          issuer: tx.issuer, audiences: [AUD], token_issuer: as.issuer,
          push: { path: PATH, authorization_env: 'PT_SSF_PUSH' },
          poll: { endpoint: tx.pollUrl, authorization_env: 'PT_SSF_POLL', interval_ms: 200 },
        },
      },
      upstreams: { ws: { targets: [up.url] }, echo: { targets: [echo.url] } },
      routes: [
        { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: {} },
        { name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} },
      ],
      cluster: busSection(nats.url, subjectPrefix('pt3'), { heartbeat_ms: 200 }),
    });
    members = await startMembers(3, config, { PT_SSF_PUSH: SECRET, PT_SSF_POLL: POLL_AUTH, PT_INTROSPECTION_SECRET: 'portcullis-secret' });
    await waitFor('every member sees the other two', async () => {
      const r = await Promise.all(members.map((m) => admin(m, 'GET', '/readyz')));
      return r.every((x) => x.body?.cluster?.members === 3);
    }, 15_000);
  });

  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await Promise.all([nats?.stop(), as?.close(), up?.close(), echo?.close(), tx?.close()]);
  });

  it('session-revoked pushed to the first member: the session\'s token is refused at all three and its WebSocket at the third closes', async () => {
    const [A, B, C] = members as [ProxyProcess, ProxyProcess, ProxyProcess];
    const tok = await as.issueJwt({ sub: 'olga', sid: 'three-s1' });
    const other = await as.issueJwt({ sub: 'olga', sid: 'three-s2' });
    for (const m of members) expect((await get(m, tok)).status).toBe(200);
    const ws = await open(wsUrl(C, '/chat/1'), [], bearer(tok));
    expect((await ws.roundTrip('hi')).data.toString()).toBe('hi');
    const set = await tx.set(`${CAEP}session-revoked`, {}, { sub_id: { format: 'complex', user: user('olga').sub_id, session: { format: 'opaque', id: 'three-s1' } } });
    expect((await tx.push(`${A.url}${PATH}`, set, SECRET)).status).toBe(202);
    expect(await ws.waitClosed(5_000)).toMatchObject({ code: 1008, reason: 'token revoked' });
    for (const m of [A, B, C]) await waitFor('session refused', async () => revoked(await get(m, tok)), 5_000);
    for (const m of [A, B, C]) expect((await get(m, other)).status).toBe(200);
  });

  it('token-claims-change pushed to one member: every member drops the subject\'s cached introspection verdicts and asks the authorization server again', async () => {
    const [A, B, C] = members as [ProxyProcess, ProxyProcess, ProxyProcess];
    const opaque = as.issueOpaque({ sub: 'pia' });
    const bystander = as.issueOpaque({ sub: 'quinn' });
    for (const m of members) {
      expect((await get(m, opaque)).status).toBe(200);
      expect((await get(m, bystander)).status).toBe(200);
    }
    // the authorization server changes its mind; cached verdicts (300 s) still say active
    as.revokeOpaque(opaque);
    as.revokeOpaque(bystander);
    for (const m of members) expect((await get(m, opaque)).status).toBe(200);
    const calls = as.counters.introspection;
    const set = await tx.set(`${CAEP}token-claims-change`, { claims: { role: 'none' } }, user('pia'));
    expect((await tx.push(`${B.url}${PATH}`, set, SECRET)).status).toBe(202);
    expect(await events(B, 'ssf_token_claims_change', 'cache_dropped')).toBe(1);
    // decided again everywhere (the cache-sync broadcast reaches the others within milliseconds)
    for (const m of [A, B, C]) await waitFor('pia decided again', async () => (await get(m, opaque)).status === 401, 5_000);
    expect(as.counters.introspection).toBeGreaterThan(calls);
    // another subject's cached verdict is untouched; nothing was revoked
    for (const m of [A, B, C]) expect((await get(m, bystander)).status).toBe(200);
    expect(((await admin(A, 'GET', '/revocations?kind=sub')).body.entries as Array<{ value: string }>).map((e) => e.value)).not.toContain('pia');
  });

  it('the poller is killed: one of the two survivors takes over, no event lost, none applied twice', async () => {
    const t1 = await as.issueJwt({ sub: 'rita' });
    const set1 = await tx.set(`${RISC}account-disabled`, {}, user('rita'));
    tx.enqueue(set1);
    for (const m of members) await waitFor('rita revoked', async () => revoked(await get(m, t1)), 10_000);
    await waitFor('SET acknowledged', async () => tx.pending.size === 0, 5_000);
    // who polls: over a second, exactly one member's poll count moves
    const p0 = await Promise.all(members.map((m) => events(m, 'poll', 'ok')));
    await sleep(1_200);
    const p1 = await Promise.all(members.map((m) => events(m, 'poll', 'ok')));
    const moved = members.map((_, i) => p1[i]! - p0[i]!);
    expect(moved.filter((d) => d > 0)).toHaveLength(1);
    const poller = members[moved.findIndex((d) => d > 0)]!;
    const survivors = members.filter((m) => m !== poller);

    poller.proc.kill('SIGKILL');
    await poller.exited;
    members = survivors;
    const t2 = await as.issueJwt({ sub: 'sam' });
    const t3 = await as.issueJwt({ sub: 'tess' });
    const set2 = await tx.set(`${RISC}credential-compromise`, {}, user('sam'));
    const set3 = await tx.set(`${RISC}account-purged`, {}, user('tess'));
    tx.enqueue(set2);
    tx.enqueue(set3);
    const t0 = Date.now();
    for (const m of survivors) {
      await waitFor('sam revoked', async () => revoked(await get(m, t2)), 15_000);
      await waitFor('tess revoked', async () => revoked(await get(m, t3)), 5_000);
    }
    // eslint-disable-next-line no-console
    console.log(`SSF poll takeover (3 members): events queued after SIGKILL of the poller → revoked at both survivors after ${Date.now() - t0} ms`);
    await waitFor('SETs acknowledged', async () => tx.pending.size === 0, 5_000);
    // exactly one survivor polls now
    const q0 = await Promise.all(survivors.map((m) => events(m, 'poll', 'ok')));
    await sleep(1_200);
    const q1 = await Promise.all(survivors.map((m) => events(m, 'poll', 'ok')));
    expect(survivors.filter((_, i) => q1[i]! > q0[i]!)).toHaveLength(1);

    const jti = (s: string): string => JSON.parse(Buffer.from(s.split('.')[1]!, 'base64url').toString()).jti as string;
    expect(new Set(tx.acked)).toEqual(new Set([jti(set1), jti(set2), jti(set3)]));
    expect(tx.errors.size).toBe(0);
    for (const m of survivors) {
      const listed = (await admin(m, 'GET', '/revocations?kind=sub')).body.entries as Array<{ value: string; reason: string }>;
      // one revocation per event, at every survivor
      expect(listed.filter((e) => e.reason.startsWith('ssf:idp:')).map((e) => e.value).sort()).toEqual(['rita', 'sam', 'tess']);
    }
  });
});
