// SSF 1.0 §8 stream management as a receiver, against real processes: two `portcullis serve`
// members on a real nats-server and the reference transmitter (metadata, stream configuration,
// verification and status endpoints). Exactly one member creates the stream (push delivery to the
// configured public URL, the events the proxy maps), asks for a verification event (accepted,
// revokes nothing); every member reports the stream's status in /readyz and /metrics; events
// outside the stream's events_delivered are refused; when the managing member dies, the other
// takes over without creating a second stream. A member whose bus has not connected yet (it cannot hear
// its peers) manages nothing (before, it created the stream as if alone) but polls, acknowledging nothing.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_ENV, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { CAEP, MGMT_AUTH, POLL_AUTH, RISC, SSF_VERIFY, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { stringify } from 'yaml';
import { admin, bearer, waitReady } from '../ws/ws-fixtures.js';
import { freePort } from '../../helpers/ports.js';
import { rendezvousOwner } from '../../../cluster/cache-sync/rendezvous.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/ssf/events';
const AUD = 'https://proxy.example/ssf';
const SECRET = 'Bearer ssf-push-secret-0123456789';
/** What the proxy maps, in its order (node/events/ssf-mapping.ts). */
const MAPPED = [
  `${CAEP}session-revoked`, `${CAEP}credential-change`, `${RISC}account-disabled`, `${RISC}account-purged`, `${RISC}credential-compromise`, `${RISC}sessions-revoked`,
  `${CAEP}token-claims-change`,
];


async function metrics(p: ProxyProcess): Promise<string> {
  return (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
}

const streamOf = async (p: ProxyProcess): Promise<any> => (await admin(p, 'GET', '/readyz')).body?.event_streams?.idp ?? null;

// The two suites share nothing (each its own nats-server, servers, transmitter and members) and run
// side by side (describe.concurrent); the first one's cases build on each other, in order (it.sequential).
describe.concurrent('SSF stream management (receiver side)', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let A: ProxyProcess;
  let B: ProxyProcess;
  let pushUrl = '';

  beforeAll(async () => {
    // the transmitter does not offer credential-change: the stream's events_delivered leaves it out
    [nats, as, echo, tx] = await Promise.all([
      startNatsServer(), startAuthServer(), startEchoUpstream(),
      startTransmitter(AUD, { supported: MAPPED.filter((e) => !e.endsWith('credential-change')) }),
    ]);
    const portA = await freePort();
    pushUrl = `http://127.0.0.1:${portA}${PATH}`;
    const prefix = subjectPrefix('ptstr');
    const config = (port: number): Record<string, unknown> => clusterMemberConfig({
      server: { listen: { host: '127.0.0.1', port } },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      event_sources: {
        idp: {
          issuer: tx.issuer, audiences: [AUD], push: { path: PATH, authorization_env: 'PT_SSF_PUSH' }, token_issuer: as.issuer,
          stream: { authorization_env: 'PT_SSF_MGMT', push_url: pushUrl, refresh_s: 1 },
        },
      },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, prefix),
    });
    const env = { ...ADMIN_ENV, ...BUS_ENV, PT_SSF_PUSH: SECRET, PT_SSF_MGMT: MGMT_AUTH };
    [A, B] = await Promise.all([startProxy(config(portA), { env }), startProxy(config(0), { env })]);
    await Promise.all([waitReady(A), waitReady(B)]);
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), echo?.close(), tx?.close()]);
  });

  it.sequential('one member creates the stream (push to our URL, the mapped events) and asks for verification; the verification SET is accepted and revokes nothing; both report it enabled', async () => {
    await waitFor('both members report the stream enabled', async () => {
      const [a, b] = await Promise.all([streamOf(A), streamOf(B)]);
      return a?.status === 'enabled' && b?.status === 'enabled' && a.stream_id === b.stream_id;
    }, 20_000);
    expect(tx.counters.creates).toBe(1);
    const [stream] = [...tx.streams.values()];
    expect(stream!.delivery).toEqual({ method: 'urn:ietf:rfc:8935', endpoint_url: pushUrl, authorization_header: SECRET });
    expect([...stream!.events_requested].sort()).toEqual([...MAPPED].sort());
    // membership converges within a heartbeat or two: then exactly one member manages
    await waitFor('exactly one manager', async () => [await streamOf(A), await streamOf(B)].filter((x) => x?.manager === true).length === 1, 10_000);
    const [a] = await Promise.all([streamOf(A), streamOf(B)]);
    expect(a.events_delivered).not.toContain(`${CAEP}credential-change`);
    expect(a.events_delivered).toContain(`${RISC}account-disabled`);

    // the manager that stays asks for verification. A member that boots a while after the other (a busy host) joins a
    // cluster whose only member already managed, and asked: when the join makes it the owner it asks again (README)
    await waitFor('the owner by the rendezvous rule manages, the other does not, and the owner asked for verification', async () => {
      const [ra, rb] = await Promise.all([admin(A, 'GET', '/readyz'), admin(B, 'GET', '/readyz')]);
      if (ra.body.cluster.members !== 2 || rb.body.cluster.members !== 2) return false;
      const ownerIsA = rendezvousOwner('ssf-stream:idp', [ra.body.cluster.member, rb.body.cluster.member].sort()) === ra.body.cluster.member;
      const [owner, other] = ownerIsA ? [ra, rb] : [rb, ra];
      const o = owner.body.event_streams?.idp;
      return o?.manager === true && typeof o.verification_requested_at === 'number' && other.body.event_streams?.idp?.manager === false;
    }, 10_000);
    // every verification event went to the push URL (member A) and was acknowledged there
    await waitFor('every verification SET delivered', async () => tx.verificationsSent.length === tx.counters.verifications, 10_000);
    const sent = tx.verificationsSent.length;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(tx.verificationsSent.map((v) => v.status)).toEqual(Array(sent).fill(202));
    await waitFor('A records the stream as verified', async () => typeof (await streamOf(A))?.verified_at === 'number', 5_000);
    expect(await metrics(A)).toContain(`portcullis_idp_events_total{source="idp",type="ssf_verification",result="verification"} ${sent}\n`);
    expect((await admin(A, 'GET', '/revocations')).body.entries ?? []).toHaveLength(0);
    expect(await metrics(B)).toMatch(/portcullis_ssf_stream_status\{source="idp",status="enabled"\} 1/);
  });

  it.sequential('refuses an event outside the stream\'s events_delivered and counts it; revokes nothing', async () => {
    const tok = await as.issueJwt({ sub: 'nora' });
    const set = await tx.set(`${CAEP}credential-change`, {}, { sub_id: { format: 'iss_sub', iss: as.issuer, sub: 'nora' } });
    const r = await tx.push(pushUrl, set, SECRET);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ err: 'invalid_request' });
    expect(await metrics(A)).toMatch(/portcullis_idp_events_total\{source="idp",type="ssf_credential_change",result="not_delivered"\} 1/);
    const g = await request(`${B.url}/api/x`, { headers: bearer(tok) });
    await g.body.dump();
    expect(g.statusCode).toBe(200);
  });

  it.sequential('reports a paused stream at every member (readyz and metric)', async () => {
    const [stream] = [...tx.streams.values()];
    stream!.status = 'paused';
    await waitFor('both report paused', async () => (await streamOf(A))?.status === 'paused' && (await streamOf(B))?.status === 'paused', 10_000);
    expect((await streamOf(A)).reason).toBe('set by the test');
    const m = await metrics(A);
    expect(m).toMatch(/portcullis_ssf_stream_status\{source="idp",status="paused"\} 1/);
    expect(m).toMatch(/portcullis_ssf_stream_status\{source="idp",status="enabled"\} 0/);
    stream!.status = 'enabled';
  });

  it.sequential('when the managing member dies, the other takes over and asks for verification again, without a second stream', async () => {
    const managerIsA = (await streamOf(A)).manager === true;
    const [manager, other] = managerIsA ? [A, B] : [B, A];
    const before = tx.counters.verifications;
    manager.proc.kill('SIGKILL');
    await manager.exited;
    await waitFor('the survivor manages the stream', async () => (await streamOf(other))?.manager === true, 20_000);
    await waitFor('the survivor asked for verification', async () => tx.counters.verifications === before + 1, 10_000);
    expect(tx.counters.creates).toBe(1);
    expect(tx.streams.size).toBe(1);
    if (managerIsA) A = other; else B = other;
  });
});

describe.concurrent('SSF stream management with poll delivery, a bus that connects late, and a reload that changes the mapping', () => {
  let nats: (NatsServer & { stop(): Promise<void> }) | undefined;
  let natsPort = 0;
  let as: AuthServer;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let P: ProxyProcess;
  let configPath = '';
  let config: (events: Record<string, string>) => Record<string, unknown>;

  beforeAll(async () => {
    // nats-server starts only after the member ran its stream rounds past its 2.5 s settle time (the first case)
    [natsPort, as, echo, tx] = await Promise.all([freePort(), startAuthServer(), startEchoUpstream(), startTransmitter(AUD)]);
    const prefix = subjectPrefix('ptstp');
    config = (events) => clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      event_sources: {
        idp: {
          issuer: tx.issuer, audiences: [AUD], token_issuer: as.issuer, events,
          poll: { endpoint: tx.pollUrl, authorization_env: 'PT_SSF_POLL', interval_ms: 200 },
          stream: { authorization_env: 'PT_SSF_MGMT', refresh_s: 1 },
        },
      },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(`nats://127.0.0.1:${natsPort}`, prefix),
    });
    configPath = writeConfig(config({}));
    P = await startProxy(null, { configPath, env: { ...ADMIN_ENV, ...BUS_ENV, PT_SSF_POLL: POLL_AUTH, PT_SSF_MGMT: MGMT_AUTH } });
  });

  afterAll(async () => {
    await P?.stop();
    await Promise.all([nats?.stop(), as?.close(), echo?.close(), tx?.close()]);
  });

  it('manages nothing while its bus is down (it cannot hear its peers); then creates a poll stream, gets its verification event by polling (acknowledged, nothing revoked); a reload that changes the event table updates events_requested, no second stream', async () => {
    // it still polls, alone: an event queued meanwhile revokes here, unacknowledged (it cannot be stored yet) — before,
    // a member whose bus had not connected polled nothing and the revocation waited for the bus
    const ivy = await tx.set(`${RISC}account-disabled`, {}, { sub_id: { format: 'iss_sub', iss: as.issuer, sub: 'ivy' } });
    tx.enqueue(ivy);
    const listed = async (): Promise<string[]> => ((await admin(P, 'GET', '/revocations?kind=sub')).body.entries ?? []).map((e: { value: string }) => e.value);
    await waitFor('ivy revoked while the bus is down', async () => (await listed()).includes('ivy'), 20_000);
    // rounds every refresh_s (1 s): the 5th stream read comes after a round past the 2.5 s settle time, where a
    // member that took its view of itself alone for the cluster created the stream (and a peer in the same state did too)
    await waitFor('five stream reads', async () => tx.counters.streamReads >= 5, 20_000);
    expect(tx.counters.creates).toBe(0);
    expect(tx.counters.verifications).toBe(0);
    expect(tx.acked).toHaveLength(0);
    expect(tx.pending.size).toBe(1);
    expect((await streamOf(P))?.manager).toBe(false);
    nats = await startNatsServer({ port: natsPort });
    await waitReady(P);
    // stored once the bus is up, then acknowledged
    const ivyJti = JSON.parse(Buffer.from(ivy.split('.')[1]!, 'base64url').toString()).jti as string;
    await waitFor('ivy acknowledged', async () => tx.acked.includes(ivyJti), 10_000);
    await waitFor('stream enabled', async () => (await streamOf(P))?.status === 'enabled', 20_000);
    expect(tx.counters.creates).toBe(1);
    const [stream] = [...tx.streams.values()];
    expect(stream!.delivery).toEqual({ method: 'urn:ietf:rfc:8936', endpoint_url: tx.pollUrl });
    await waitFor('verified by poll', async () => typeof (await streamOf(P))?.verified_at === 'number', 10_000);
    expect(tx.verificationsSent).toHaveLength(1);
    // the verification SET revokes nothing: acknowledged in the next poll (after ivy), no setErrs, nothing more revoked
    await waitFor('verification SET acknowledged', async () => tx.pending.size === 0 && tx.acked.length === 2, 5_000);
    expect(tx.errors.size).toBe(0);
    expect(await listed()).toEqual(['ivy']);
    expect(stream!.events_requested).toContain(`${CAEP}credential-change`);
    // never requested: SSF 1.0 delivers verification events on every stream
    expect(stream!.events_requested).not.toContain(SSF_VERIFY);

    writeFileSync(configPath, stringify(config({ [`${CAEP}credential-change`]: 'ignore', [`${RISC}account-enabled`]: 'drop_cache' })));
    expect((await admin(P, 'POST', '/reload')).status).toBe(200);
    await waitFor('events_requested updated', async () => tx.counters.updates === 1, 10_000);
    expect(stream!.events_requested).toContain(`${RISC}account-enabled`);
    expect(stream!.events_requested).not.toContain(`${CAEP}credential-change`);
    expect(tx.counters.creates).toBe(1);
    expect(tx.streams.size).toBe(1);
  });
});
