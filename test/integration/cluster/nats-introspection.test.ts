// The cluster-wide introspection cache on a real nats-server: three members, each with a
// real IntrospectionClient against one counting authorization server (node:http, port 0).
// Under concurrent lookups everywhere the server sees one call per token; afterwards
// every member answers from memory; an eviction reaches every member; a lookup waiting on the
// owner's lease ends at its request's deadline while the call goes on; an answer refused for a lone
// surrogate in its sub is refused everywhere; and killing the
// owner while its call is slow fails no lookup and costs at most one extra call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { ClusterNode } from '../../../cluster/index.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { issuerSchema } from '../../../node/config/index.js';
import { IntrospectionClient } from '../../../node/introspection/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { BUS_AUTH } from '../../helpers/proxy-process.js';
import { prefix, silent } from './cluster-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const sha256hex = (t: string): string => createHash('sha256').update(t).digest('hex');
const ISSUER = 'demo';

describe('shared introspection cache over NATS', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  const P = prefix('i');
  const nodes: ClusterNode[] = [];
  const clients: IntrospectionClient[] = [];

  beforeAll(async () => {
    [nats, as] = await Promise.all([startNatsServer(), startAuthServer()]);
    const issuer = issuerSchema.parse({
      issuer: as.issuer, audiences: ['portcullis-demo'],
      // 10 s, not the 3 s default: the server, the three members and their 450 lookups share this one process, and
      // on a loaded host its loop answered past 3 s ("authorization server timed out"); the cases time nothing by it
      introspection: { endpoint: as.introspectionEndpoint, client_id: 'portcullis', client_secret_env: 'AS_SECRET', timeout_ms: 10_000 },
    });
    for (let i = 0; i < 3; i++) {
      // Production-like heartbeats: a stalled test process must not look like a departure. The owner's answer
      // to a lease request gets 5 s, not 1 s: the three members share this process, and on a loaded host its loop
      // answered late, so members called the server beside the owner (74 calls for 50 tokens) — a starved test
      // process, not a slow owner
      const node = await ClusterNode.start({ config: { cluster: { nats: { servers: [nats.url] }, subject_prefix: P, auth: BUS_AUTH } }, logger: silent, role: 'single', heartbeatMs: 500, introspection: { requestTimeoutMs: 5_000 } });
      const sync = node.introspection;
      const client = new IntrospectionClient({
        name: ISSUER, issuer, env: { AS_SECRET: 'portcullis-secret' }, logger: silent,
        coordinate: sync.coordinator(ISSUER), onResult: sync.publisher(ISSUER),
      });
      sync.attach(ISSUER, client);
      nodes.push(node);
      clients.push(client);
    }
    await Promise.all(nodes.map((n) => n.ready()));
    await waitFor('every member to see the other two', () => nodes.every((n) => n.membership.members().length === 3), 5_000);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(nodes.map((n) => n.close()));
    await as?.close();
    await nats?.stop();
  });

  const tokens: string[] = [];

  it('50 tokens looked up concurrently 3× on each of 3 members: the server sees 50 calls; then every member answers from memory', async () => {
    for (let i = 0; i < 50; i++) tokens.push(as.issueOpaque({ sub: `user-${i}`, scope: 'orders:read' }, 600));
    as.setIntrospection('slow', 30); // keep calls in flight while the other members ask
    as.resetCounters();
    const lookups = clients.flatMap((c) => [0, 1, 2].flatMap(() => tokens.map((t) => c.lookup(t))));
    const outcomes = await Promise.all(lookups);
    as.setIntrospection('normal');
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(as.counters.introspection).toBe(50);
    await waitFor('every cache to hold all 50', () => clients.every((c) => c.stats().cache_entries === 50), 10_000);
    for (const c of clients) {
      tokens.forEach((t, i) => {
        const o = c.lookup(t);
        expect(o).not.toBeInstanceOf(Promise);
        expect(o).toMatchObject({ ok: true, principal: { claims: { sub: `user-${i}` } } });
      });
    }
    const sum = (name: string): number => nodes.reduce((s, n) => s + (n.stats()[name] ?? 0), 0);
    expect(sum('cluster_introspection_calls_total')).toBe(50);
    expect(sum('cluster_cache_fills_sent_total')).toBe(50);
    expect(sum('cluster_cache_fills_received_total')).toBe(100);
    expect(sum('cluster_introspection_fallback_calls_total')).toBe(0);
    expect(as.counters.introspection).toBe(50);
  });

  it('evictEverywhere drops a token from every member; the next lookups cost one call in all', async () => {
    const token = tokens[7]!;
    nodes[1]!.introspection.evictEverywhere(sha256hex(token));
    await waitFor('every member to drop it', () => clients.every((c) => c.stats().cache_entries === 49), 10_000);
    as.resetCounters();
    const again = clients.map((c) => c.lookup(token));
    expect(again.every((o) => o instanceof Promise)).toBe(true);
    expect((await Promise.all(again)).every((o) => o.ok)).toBe(true);
    expect(as.counters.introspection).toBe(1);
  });

  it('a lookup waiting on the owner\'s lease ends at its request\'s deadline; the one call goes on and its answer reaches every member', async () => {
    const token = as.issueOpaque({ sub: 'deadline' }, 600);
    const key = sha256hex(token);
    await waitFor('every member to agree on the owner', () => nodes.every((n) => n.membership.members().length === 3 && n.introspection.ownerOf(key) === nodes[0]!.introspection.ownerOf(key)), 10_000);
    as.setIntrospection('slow', 1_000); // inside timeout_ms (10 s), past the requests' 200 ms
    as.resetCounters();
    const outcomes = await Promise.all(clients.map((c) => c.lookup(token, 200)));
    expect(outcomes.map((x) => (x.ok ? 'ok' : x.reason))).toEqual(['introspection_deadline', 'introspection_deadline', 'introspection_deadline']);
    await waitFor('every member to cache the one answer', () => clients.every((c) => c.cached(token, key)?.claims.sub === 'deadline'), 10_000);
    as.setIntrospection('normal');
    expect(as.counters.introspection).toBe(1);
  });

  it('an answer refused for a lone surrogate in its sub is refused on every member (the bus would have carried U+FFFD text the peers accepted)', async () => {
    const token = as.issueOpaque({ sub: 'alice\ud800', scope: 'orders:read' }, 600);
    const before = clients.map((c) => c.stats().cache_entries);
    const first = await clients[0]!.lookup(token);
    expect(first).toMatchObject({ ok: false });
    await waitFor('the answer to reach the other members', () => [1, 2].every((i) => clients[i]!.stats().cache_entries > before[i]!), 10_000);
    for (const c of clients.slice(1)) {
      const o = c.lookup(token);
      expect(o).not.toBeInstanceOf(Promise);
      expect(o).toMatchObject({ ok: false });
    }
  });

  it('the owner is closed while its call is slow: the lookups waiting on it elsewhere succeed, at most one extra call', async () => {
    const token = as.issueOpaque({ sub: 'failover' }, 600);
    const key = sha256hex(token);
    const ownerId = nodes[0]!.introspection.ownerOf(key);
    await waitFor('every member to agree on the owner', () => nodes.every((n) => n.membership.members().length === 3 && n.introspection.ownerOf(key) === ownerId), 10_000);
    const o = nodes.findIndex((n) => n.memberId === ownerId);
    const others = [0, 1, 2].filter((i) => i !== o);
    as.setIntrospection('slow', 700);
    as.resetCounters();
    const pendingBefore = nodes[o]!.stats().cluster_introspection_lease_pending_total!;
    // counted from here: a failover an earlier case caused (a member suspected on a loaded host) is not this one's
    const failovers = (): number => others.reduce((s, i) => s + nodes[i]!.stats().cluster_introspection_owner_failovers_total!, 0);
    const failoversBefore = failovers();

    const atOwner = clients[o]!.lookup(token); // the owner leases to itself and calls
    await waitFor('the owner to call', () => as.counters.introspection === 1, 2_000);
    const elsewhere = others.map((i) => clients[i]!.lookup(token));
    await waitFor('both others to wait on the owner', () => nodes[o]!.stats().cluster_introspection_lease_pending_total === pendingBefore + 2, 2_000);
    await nodes[o]!.close();

    const outcomes = await Promise.all(elsewhere);
    expect(outcomes.every((x) => x.ok)).toBe(true);
    expect(as.counters.introspection).toBe(2);
    expect((await atOwner).ok).toBe(true); // its own call still completes
    as.setIntrospection('normal');
    // handed over on member.left, not by sitting out the 10 s lease
    expect(failovers() - failoversBefore).toBe(2);
  });
});
