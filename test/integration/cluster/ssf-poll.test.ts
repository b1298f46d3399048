// Shared Signals poll delivery (RFC 8936) against real processes: the reference transmitter
// queues SETs behind its poll endpoint; two `portcullis serve` members on a real nats-server.
// Exactly one member polls; its SETs become revocations at both and are acknowledged; when the
// polling member is killed, the other takes over and nothing is lost or applied twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { POLL_AUTH, RISC, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { admin, bearer } from '../ws/ws-fixtures.js';
import { revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const AUD = 'https://proxy.example/ssf';

async function get(p: ProxyProcess, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${p.url}/api/x`, { headers: bearer(token) });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}

/** Successful polls this member made so far. */
async function polls(p: ProxyProcess): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
  const m = /portcullis_idp_events_total\{source="idp",type="poll",result="ok"\} (\d+)/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe('SSF poll: one member polls, another takes over', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let members: ProxyProcess[] = [];

  beforeAll(async () => {
    [nats, as, echo, tx] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream(), startTransmitter(AUD)]);
    const config = clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      event_sources: { idp: { issuer: tx.issuer, audiences: [AUD], poll: { endpoint: tx.pollUrl, authorization_env: 'PT_SSF_POLL', interval_ms: 200 } } },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, subjectPrefix('ptpoll')),
    });
    members = await startMembers(2, config, { PT_SSF_POLL: POLL_AUTH });
  });

  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close(), tx?.close()]);
  });

  it('one member polls; a polled event revokes at both and is acknowledged; after the poller is killed the other polls, nothing lost or applied twice', async () => {
    const user = (sub: string): Record<string, unknown> => ({ sub_id: { format: 'iss_sub', iss: as.issuer, sub } });
    const t1 = await as.issueJwt({ sub: 'kim' });
    const set1 = await tx.set(`${RISC}account-disabled`, {}, user('kim'));
    tx.enqueue(set1);
    for (const m of members) await waitFor('kim revoked', async () => revoked(await get(m, t1)), 10_000);
    await waitFor('SET acknowledged', async () => tx.pending.size === 0, 5_000);

    // who polls: over five of the poller's polls (~1 s at 200 ms; as long as the host makes it), exactly one
    // member's poll count moves — once both views hold both members (a member alone in its view owns the poll)
    for (const m of members) await waitReadyWithMembers(m, 2, 10_000);
    const p0 = await Promise.all(members.map(polls));
    let p1 = p0;
    await waitFor('five polls by some member', async () => {
      p1 = await Promise.all(members.map(polls));
      return p1.some((n, i) => n - p0[i]! >= 5);
    }, 15_000);
    const moved = members.map((_, i) => p1[i]! - p0[i]!);
    expect(moved.filter((d) => d > 0)).toHaveLength(1);
    const pollerIndex = moved.findIndex((d) => d > 0);
    const poller = members[pollerIndex]!;
    const survivor = members[1 - pollerIndex]!;

    poller.proc.kill('SIGKILL');
    await poller.exited;
    const t2 = await as.issueJwt({ sub: 'lee' });
    const set2 = await tx.set(`${RISC}credential-compromise`, {}, user('lee'));
    tx.enqueue(set2);
    const t0 = Date.now();
    await waitFor('lee revoked at the survivor', async () => revoked(await get(survivor, t2)), 15_000);
    // eslint-disable-next-line no-console
    console.log(`SSF poll takeover: event queued after SIGKILL of the poller → revoked at the survivor after ${Date.now() - t0} ms`);
    await waitFor('SET acknowledged by the survivor', async () => tx.pending.size === 0, 5_000);

    const jti = (s: string): string => JSON.parse(Buffer.from(s.split('.')[1]!, 'base64url').toString()).jti as string;
    expect(new Set(tx.acked)).toEqual(new Set([jti(set1), jti(set2)]));
    expect(tx.errors.size).toBe(0);
    const listed = (await admin(survivor, 'GET', '/revocations?kind=sub')).body.entries as Array<{ value: string; reason: string }>;
    expect(listed.filter((e) => e.reason.startsWith('ssf:idp:')).map((e) => e.value).sort()).toEqual(['kim', 'lee']);
    members = [survivor];
  });
});
