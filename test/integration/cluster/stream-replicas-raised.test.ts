// A revocation stream made with 1 replica (`replicas: auto` falls back to 1 when the NATS cluster
// cannot place 3) on a cluster that now has 3 servers: a member raises it to 3 — the same stream,
// every revocation kept once, members following it through the raise. Real 3-node nats-server cluster.
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterNode } from '../../../cluster/index.js';
import { subjects } from '../../../cluster/protocol/index.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { natsNode, prefix } from './cluster-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const tok = (jti: string): { jti: string; tokenHash: string } => ({ jti, tokenHash: '0'.repeat(64) });

describe('a 1-replica revocation stream on a 3-server NATS cluster', () => {
  let cluster: NatsCluster;
  const P = prefix('r');
  const nodes: ClusterNode[] = [];
  const node = async (extra: Record<string, unknown> = {}): Promise<ClusterNode> => {
    const n = await natsNode(cluster.urls, P, extra);
    nodes.push(n);
    await n.ready();
    return n;
  };
  const streamInfo = async (): Promise<{ replicas: number; created: string; firstSeq: number; lastSeq: number; messages: number; current: number }> => {
    const nc = await connect({ servers: [...cluster.urls] });
    try {
      const i = await (await nc.jetstreamManager()).streams.info(subjects(P).revocationStream);
      const current = 1 + (i.cluster?.replicas ?? []).filter((r) => r.current === true).length;
      return { replicas: i.config.num_replicas, created: i.created, firstSeq: i.state.first_seq, lastSeq: i.state.last_seq, messages: i.state.messages, current };
    } finally { await nc.close(); }
  };

  beforeAll(async () => { cluster = await startNatsCluster(3); });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await cluster?.stop();
  });

  it('is raised to 3 replicas by a member, keeping every revocation once; members follow it through the raise', async () => {
    // the stream as the fallback leaves it (made while the cluster could not place 3): 1 replica
    const a = await node({ revocation: { replicas: 1 } });
    const before = ['r-1', 'r-2', 'r-3', 'r-4', 'r-5'];
    for (const jti of before) expect((await a.revocationActor.add({ kind: 'jti', value: jti })).ok).toBe(true);
    await waitFor('the stream to hold them', () => a.stats().revocations_unpersisted === 0, 10_000);
    const r1 = await streamInfo();
    expect(r1).toMatchObject({ replicas: 1, lastSeq: 5, messages: 5 });

    // a member with the default (auto) on this 3-server cluster; before, it kept following the 1-replica stream
    const t0 = Date.now();
    const b = await node();
    // bounds, not speeds (before: 10 s and 5 s of fixed polls; every replica current took up to 2.1 s on CI)
    let raised = await streamInfo();
    await waitFor('B to raise the stream to 3 replicas', async () => (raised = await streamInfo()).replicas === 3, 30_000, { everyMs: 100 });
    expect(raised.replicas, 'B raised the stream to 3 replicas').toBe(3);
    expect(b.stats().revocation_stream_replicas).toBe(3);
    for (const jti of before) expect(b.revocations.isRevoked(tok(jti)), jti).toBe(true);
    // revocations written during and after the raise reach both members
    const after = ['r-6', 'r-7', 'r-8'];
    for (const jti of after) expect((await b.revocationActor.add({ kind: 'jti', value: jti })).ok).toBe(true);
    await waitFor('A to see those written after the raise', () => after.every((j) => a.revocations.isRevoked(tok(j))), 10_000);

    // the same stream (creation time, sequences): nothing lost, nothing stored twice; every replica copied
    let r3 = await streamInfo();
    await waitFor('every replica to be current', async () => (r3 = await streamInfo()).current >= 3, 30_000, { everyMs: 100, detail: () => JSON.stringify(r3) });
    expect(r3).toMatchObject({ replicas: 3, created: r1.created, firstSeq: 1, lastSeq: 8, messages: 8, current: 3 });
    // eslint-disable-next-line no-console
    console.log(`1 → 3 replicas: every replica current ${Date.now() - t0} ms after B started (8 revocations, 3 written while the replicas copy)`);

    // a member started later replays the raised stream: all 8, and it reports the 3 replicas
    const c = await node();
    for (const jti of [...before, ...after]) expect(c.revocations.isRevoked(tok(jti)), jti).toBe(true);
    expect(c.stats().revocation_stream_replicas).toBe(3);
    expect(c.stats().revocation_stream_seq).toBe(8);
    // the members stayed healthy through it (no catch-up failure, not degraded)
    for (const n of [a, b, c]) expect(n.degraded()).toBe(false);
  }, 90_000); // the waits' bounds, not a speed: ~1–3 s
});
