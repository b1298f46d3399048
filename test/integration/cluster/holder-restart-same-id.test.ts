// A member holding an introspection lease is killed mid-call and restarted at once under the same
// `cluster.member_id`: it never leaves the member view, but it is a new process that will never
// answer the old call. The owner must see the new incarnation (its heartbeat's startedAt) and
// free the dead one's leases, so the member waiting for that answer calls the server itself —
// a holder failover — instead of sitting out the lease (10 s), and still gets its answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { rendezvousOwner } from '../../../cluster/cache-sync/rendezvous.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_ENV, readyz, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { Relay } from '../../helpers/tcp-relay.js';
import { waitReady } from '../ws/ws-fixtures.js';
import { metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

async function status(p: ProxyProcess, token: string): Promise<number> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${token}`, connection: 'close' }, headersTimeout: 60_000, bodyTimeout: 60_000 });
  await r.body.dump();
  return r.statusCode;
}

describe('shared introspection cache: a lease holder restarted under the same member_id', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  const M: ProxyProcess[] = [];
  const prefix = subjectPrefix('ptrs');
  const env = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };
  const config = (id: string, natsUrl = nats.url, bus: Record<string, unknown> = {}): Record<string, unknown> => clusterMemberConfig({
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 120, timeout_ms: 9_000 } } },
    upstreams: { echo: { targets: [echo.url] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
    cluster: busSection(natsUrl, prefix, { member_id: id, ...bus }),
  });

  /** Until both members hear each other (so both agree on a token's owner). */
  const converged = (): Promise<number> => waitFor('both members in both views', async () =>
    (await metric(M[0]!, 'portcullis_cluster_members')) === 2 && (await metric(M[1]!, 'portcullis_cluster_members')) === 2, 15_000);

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    M.push(...await Promise.all([startProxy(config('a'), { env }), startProxy(config('b'), { env })]));
    await Promise.all(M.map((p) => waitReady(p)));
    await converged();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(M.map((p) => p.stop('SIGKILL')));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  /** A token whose owner (rendezvous over members a and b) is `owner`. */
  const tokenOwnedBy = (owner: string): string => {
    for (;;) {
      const t = as.issueOpaque({ sub: 'restart' }, 600);
      if (rendezvousOwner(createHash('sha256').update(t).digest('hex'), ['a', 'b']) === owner) return t;
    }
  };
  const sum = async (family: string): Promise<number> => (await metric(M[0]!, family)) + (await metric(M[1]!, family));

  it('the owner frees the old process\'s lease when the new one under the same id beats: the waiter calls at once (a holder failover, not a lease run out)', async () => {
    const [A, B] = M as [ProxyProcess, ProxyProcess];
    const token = tokenOwnedBy('a'); // A owns it: A's lease table holds B's lease
    // The replacement under the same id is booted first, behind a cut relay: not on the bus, so not
    // heard yet. Booted between the lease and B's answer (8 s), a loaded machine's start outlasted the
    // answer, which then reached A as a fill: no failover to see (failed 2 of 3 runs under load).
    const relay = await Relay.start(nats.port);
    relay.cut();
    try {
      const replacement = await startProxy(config('b', relay.url, { start_timeout_ms: 300 }), { env });
      M.push(replacement);
      as.setIntrospection('slow', 8_000);
      const calls = as.counters.introspection;
      const atB = status(B, token).catch(() => 0); // B takes the lease and calls
      // waited for, not slept: had A asked before B held the lease, A would call (slowly) itself
      await waitFor('B\'s call at the authorization server', async () => as.counters.introspection > calls, 10_000);
      const atA = status(A, token); // A waits for B's answer
      await waitFor('A waiting for B\'s answer', async () => (await metric(A, 'portcullis_introspection_sync_lease_waits_total')) >= 1, 10_000);
      as.setIntrospection('normal'); // B's call stays slow; A's own, once the lease is freed, is not
      // the replacement joins the bus (its reconnect backoff is at most ~2 s) while the old process
      // still runs: no gap in heartbeats
      relay.restore();
      M[1] = replacement;
      await waitFor('the replacement on the bus', async () => (await readyz(replacement)).body.cluster?.bus_connected === true, 10_000);
      B.proc.kill('SIGKILL');
      expect(await atA).toBe(200);
      await atB;
    } finally {
      await relay.close();
    }
    expect({ failovers: await sum('portcullis_introspection_sync_holder_failovers_total'), expired: await sum('portcullis_introspection_sync_leases_expired_total') }).toEqual({ failovers: 1, expired: 0 });
  }, 60_000);
});
