// Two pushes racing from the same version (two operators, two connections, one nats-server): exactly one is
// published, and the loser's refusal names the version that won and the one it was based on. Before, it said
// "another push won" alone, and the operator had to go and find which version — and whether it was their own. A push
// lost to no push (an old entry or junk written on top) says that, instead of naming a "version that won".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { PolicyConflict, PolicyStore, pushPolicy } from '../../../cluster/policy/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';

const doc = (n: number): Record<string, unknown> => ({
  upstreams: { app: { targets: ['http://127.0.0.1:9'] } },
  routes: [{ name: `r${n}`, match: { path: `/r${n}/*` }, upstream: 'app', auth: 'none' }],
});

describe('cluster policy: the push that lost a race', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  const conns: NatsConnection[] = [];

  beforeAll(async () => { nats = await startNatsServer(); }, 30_000);
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await nats?.stop();
  });

  it('is refused naming the version that won and its own base; exactly one of each pair is published', async () => {
    const bucket = `PRL${Math.random().toString(36).slice(2, 8).toUpperCase()}_POLICY`;
    const stores: PolicyStore[] = [];
    for (let i = 0; i < 2; i++) {
      const nc = await connect({ servers: [nats.url] });
      conns.push(nc);
      stores.push(await PolicyStore.open(nc, { bucket }));
    }
    await pushPolicy(stores[0]!, null, doc(0), { by: 'first' });
    // a pair of pushes that both read the bucket before either writes is a race; one started after the other's
    // write is no race (both published, numbered in turn). Rounds until three races were seen.
    let races = 0;
    for (let round = 1; round <= 40 && races < 3; round++) {
      const results = await Promise.allSettled(stores.map((s, i) => pushPolicy(s, null, doc(round * 10 + i), { by: `op${i}` })));
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (lost.length === 0) continue;
      races++;
      expect(lost).toHaveLength(1);
      const won = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ version: number; digest: string; basedOn: number }>;
      expect(lost[0]).toBeInstanceOf(PolicyConflict);
      expect((lost[0] as Error).message).toBe(`another push won: version ${won.value.version} (digest ${won.value.digest.slice(0, 12)}) was written after version ${won.value.basedOn}, which this push was based on; nothing of this push was published — look at version ${won.value.version} and push again if yours is still wanted`);
    }
    expect(races, 'pairs of pushes that raced').toBe(3);
  }, 60_000);

  it.each<[string, (old: Uint8Array) => Uint8Array, RegExp]>([
    ['an old entry copied back on top', (old) => old, /^the bucket changed while this push was written, but holds no newer version: its latest entry is version 1 \(digest [0-9a-f]{12}\), not newer than version \d+, which this push was based on — an old entry written back on top, not a push; nothing of this push was published — push again/],
    ['a value written without the bus key', () => new TextEncoder().encode('junk'), /^the bucket changed while this push was written, but holds no version on top: its latest entry is no authentic version \(a value written without the bus key, or the key deleted or purged\), not a push; nothing of this push was published — push again/],
  ])('lost to %s (no push): says so, and names no "version that won"', async (_name, written, message) => {
    const bucket = `PRR${Math.random().toString(36).slice(2, 8).toUpperCase()}_POLICY`;
    const nc = await connect({ servers: [nats.url] });
    conns.push(nc);
    const store = await PolicyStore.open(nc, { bucket });
    await pushPolicy(store, null, doc(1), { by: 'first' });
    const old = written((await store.latest())!.value); // version 1's sealed bytes, as a bucket writer may copy them back
    await pushPolicy(store, null, doc(2), { by: 'second' });
    const kv = await nc.jetstream().views.kv(bucket, { bindOnly: true });
    // a push and a replay of version 1 started together, in rounds until the replay lands between the push's read and write
    let lost: Error | null = null;
    for (let round = 0; round < 40 && lost === null; round++) {
      // the replay a little later each round (0–9 ms after the push starts): the push reads the bucket first
      const replay = new Promise<void>((r) => { setTimeout(() => { kv.put('current', old).then(() => r(), () => r()); }, round % 10); });
      const [push] = await Promise.allSettled([pushPolicy(store, null, doc(100 + round), { by: 'op' }), replay]);
      if (push.status === 'rejected') lost = push.reason as Error;
    }
    expect(lost, 'a push that lost to the replay').toBeInstanceOf(PolicyConflict);
    expect(lost!.message).toMatch(message);
  }, 60_000);
});
