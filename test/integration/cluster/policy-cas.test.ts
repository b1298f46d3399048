// Compare-and-set of the policy bucket on a real 3-node JetStream cluster: of several writers
// racing from the same revision, exactly one is told it won and the bucket's latest value is
// the winner's. nats-server before 2.9.21 checks the expected-sequence header of a replicated
// stream against its applied state only (nats-server#4320), so two in-flight writes can both be
// accepted; PolicyStore.write must still report one winner (README Limitations).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { PolicyConflict, PolicyStore } from '../../../cluster/policy/policy-store.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('policy bucket compare-and-set on a NATS cluster', () => {
  let nats: NatsCluster;
  const conns: NatsConnection[] = [];
  const stores: PolicyStore[] = [];

  beforeAll(async () => {
    nats = await startNatsCluster(3);
    const bucket = `PCAS${Math.random().toString(36).slice(2, 8).toUpperCase()}_POLICY`;
    for (const url of [...nats.urls, ...nats.urls]) {
      const nc = await connect({ servers: [url] });
      conns.push(nc);
      stores.push(await PolicyStore.open(nc, { bucket, replicas: 3 }));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await nats?.stop();
  });

  it('writers racing from one revision: exactly one wins each round, and the latest value is its value', async () => {
    let rev: number | null = null;
    for (let round = 0; round < 40; round++) {
      const from: number | null = rev;
      const results: PromiseSettledResult<number>[] = await Promise.allSettled(stores.map((s, i) => s.write(enc(`r${round}-w${i}`), from)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, revision: r.value }] : []));
      for (const r of results) if (r.status === 'rejected') expect(r.reason, String(r.reason)).toBeInstanceOf(PolicyConflict);
      expect(won.map((w) => w.i), `round ${round}: writers told they won`).toHaveLength(1);
      const latest = await stores[0]!.latestFromLeader(5_000);
      expect(latest === null ? null : dec(latest.value), `round ${round}: the bucket's latest value`).toBe(`r${round}-w${won[0]!.i}`);
      expect(latest!.revision).toBe(won[0]!.revision);
      rev = won[0]!.revision;
    }
    // every loser was counted once, under the check that refused it (POST /policy's metric)
    const lost = stores.reduce((n, st) => n + Object.values(st.stats()).reduce((a, b) => a + b, 0), 0);
    expect(lost).toBe(40 * (stores.length - 1));
    const history = await stores[0]!.history();
    // every kept version is a winner's: a loser's write does not stay behind in the history
    expect(history.every((h) => /^r\d+-w\d$/.test(dec(h.value)))).toBe(true);
    expect(new Set(history.map((h) => dec(h.value).split('-')[0])).size).toBe(history.length);
  }, 120_000);

  it('after the key was deleted, writers racing to create it again: exactly one wins', async () => {
    const counted = (): number => stores.reduce((n, st) => n + Object.values(st.stats()).reduce((a, b) => a + b, 0), 0);
    const lostBefore = counted();
    for (let round = 0; round < 10; round++) {
      const nc = await connect({ servers: [nats.urls[0]!] });
      try { await (await nc.jetstream().views.kv(stores[0]!.bucket, { bindOnly: true })).delete('current'); } finally { await nc.close(); }
      const results = await Promise.allSettled(stores.map((s, i) => s.write(enc(`again${round}-w${i}`), null)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      for (const r of results) if (r.status === 'rejected') expect(r.reason, String(r.reason)).toBeInstanceOf(PolicyConflict);
      expect(won, `round ${round}: writers told they won`).toHaveLength(1);
      const latest = await stores[2]!.latestFromLeader(5_000);
      expect(latest === null ? null : dec(latest.value)).toBe(`again${round}-w${won[0]}`);
    }
    // each loser once; the winner's first try on the empty key (it was deleted) is not a lost race
    expect(counted() - lostBefore).toBe(10 * (stores.length - 1));
  }, 120_000);
});
