// An owner of an older build hands a kept answer without `iss` (`introspection.leased` v1): the asker never takes it
// as its issuer's — it calls the authorization server itself (counted: no_iss_v1). One of this build hands an answer
// whose `iss` it filled in as v2, so the asker knows (answer-judge.ts refuses it under require_iss).
import { afterEach, describe, expect, it } from 'vitest';
import { Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { waitFor } from '../../../helpers/wait.js';
import { FakeAs, keyOwnedBy, SyncMesh } from './sync-fixtures.js';

describe('a kept answer handed over by its owner', () => {
  const sm = new SyncMesh();
  afterEach(sm.close);
  const { mesh, member, ghost } = sm;

  const ownerAnswering = async (claims: Record<string, unknown>, v: 1 | 2): Promise<{ as: FakeAs; a: ReturnType<typeof member>; key: string; stop: () => void }> => {
    const as = new FakeAs();
    const t = mesh();
    const a = member(t, 'm0', as);
    const g = ghost(t, 'old');
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    const expiresAt = Date.now() + 60_000;
    const unsub = bus.subscribe(bus.subjects.introspectionOwner('old'), (m, incoming) => {
      if (m.type === 'introspection.lease') bus.respond(incoming, { type: 'introspection.leased', v, key: m.key, status: 'cached', active: true, claims, expiresAt, waitMs: 0 });
    });
    await waitFor('membership', () => a.membership.members().length === 2, 2_000);
    return { as, a, key: keyOwnedBy('old', ['old', 'm0'], 'old'), stop: () => { unsub(); g.stop(); } };
  };

  it('v1 without iss (an older build): the asker calls the server itself', async () => {
    const { as, a, key, stop } = await ownerAnswering({ sub: 'mallory' }, 1);
    try {
      const r = await a.client.lookup(key);
      expect(r.claims).not.toMatchObject({ sub: 'mallory' });
      expect(as.calls).toBe(1);
      expect(a.sync.stats()).toMatchObject({ cluster_cache_fills_no_iss_v1_total: 1, cluster_introspection_remote_hits_total: 0 });
    } finally { stop(); }
  });

  it('v2 (iss filled in by its sharer): taken, marked as filled in', async () => {
    const { as, a, key, stop } = await ownerAnswering({ sub: 'bob', iss: 'https://as.test' }, 2);
    try {
      expect(await a.client.lookup(key)).toMatchObject({ claims: { sub: 'bob', iss: 'https://as.test' }, issFilled: true });
      expect(as.calls).toBe(0);
    } finally { stop(); }
  });
});
