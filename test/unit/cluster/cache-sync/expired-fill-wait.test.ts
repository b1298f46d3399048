// A fill that arrives already expired (here: at members whose clocks run 2 s ahead of its sender's) or that the owner
// cannot use still ends the lease it answers: waiters and later askers call the authorization server at once instead of
// sitting out the lease (60 s here). An expired active answer is never accepted.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { BusAuth, Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { LocalTransport } from '../../../../cluster/transport/index.js';
import { Membership } from '../../../../cluster/membership/index.js';
import { IntrospectionSync, rendezvousOwner } from '../../../../cluster/cache-sync/index.js';
import type { IntrospectionResult } from '../../../../node/contracts/index.js';
import { waitFor } from '../../../helpers/wait.js';

const ISSUER = 'demo';
const KEY = Buffer.alloc(32, 9);
const LEASE_MS = 60_000; // a waiter left behind would sit this out

/** One member: its clock `skewMs` off, a cache keyed by token hash that asks the sync on a miss and shares what it fetched. */
class Member {
  readonly sync: IntrospectionSync;
  readonly membership: Membership;
  readonly now: () => number;
  readonly bus: MessageBus;
  constructor(t: LocalTransport, readonly id: string, skewMs = 0) {
    this.now = (): number => Date.now() + skewMs;
    const bus = new MessageBus(t, new Codec(), subjects('t'), new BusAuth({ key: KEY, now: this.now }));
    this.bus = bus;
    this.membership = new Membership({ bus, id, role: 'single', intervalMs: 50 });
    this.sync = new IntrospectionSync({ bus, membership: this.membership, memberId: id, logger: pino({ level: 'silent' }), now: this.now, leaseMs: LEASE_MS });
    this.sync.attach(ISSUER, { prime: () => true, evict: () => true });
    this.sync.start();
    this.membership.start();
  }
  async lookup(key: string, call: (m: Member) => Promise<IntrospectionResult>): Promise<IntrospectionResult> {
    const r = await this.sync.coordinator(ISSUER)(key, () => call(this));
    this.sync.publisher(ISSUER)(key, r);
    return r;
  }
}

describe('a fill that arrives already expired', () => {
  const members: Member[] = [];
  let t: LocalTransport | null = null;
  afterEach(async () => {
    for (const m of members.splice(0)) { m.sync.close(); m.membership.close(); }
    await t?.close();
  });

  /** Members (m0…) with the given clock skews, their view complete, and a key owned by m0. */
  async function cluster(skews: number[]): Promise<{ key: string; ms: Member[] }> {
    t = new LocalTransport();
    const ids = skews.map((_, i) => `m${i}`);
    for (const [i, id] of ids.entries()) members.push(new Member(t, id, skews[i]));
    await waitFor('membership', () => members.every((m) => m.membership.members().length === ids.length), 5_000);
    let key = '';
    for (let i = 0; key === '' || rendezvousOwner(key, ids) !== 'm0'; i++) key = createHash('sha256').update(`token-${i}`).digest('hex');
    return { key, ms: members };
  }

  /** The AS: a short-lived token, answered active until 1 s from now by the asking member's clock; `holder`'s call waits for `answer()`. */
  function server(holder: Member): { calls: string[]; answer: () => void; asked: () => boolean; as: (m: Member) => Promise<IntrospectionResult> } {
    const calls: string[] = [];
    let release: (() => void) | null = null;
    const as = (m: Member): Promise<IntrospectionResult> => {
      calls.push(m.id);
      const result: IntrospectionResult = { active: true, claims: { sub: 'kim', iss: 'https://as.test' }, expiresAt: m.now() + 1_000 };
      if (m !== holder) return Promise.resolve(result);
      return new Promise((resolve) => { release = () => resolve(result); });
    };
    return { calls, as, asked: () => release !== null, answer: () => release!() };
  }

  it('wakes the lookups waiting on its lease: they ask the AS themselves at once', async () => {
    // m0 owns the key, m1 holds the lease; m2 (waiting) and m0 run 2 s ahead of m1
    const { key, ms: [, holder, waiter] } = await cluster([2_000, 0, 2_000]);
    const s = server(holder!);
    const held = holder!.lookup(key, s.as);
    await waitFor('the holder asks the AS', s.asked, 5_000);
    let waited: IntrospectionResult | null = null;
    void waiter!.lookup(key, s.as).then((r) => { waited = r; });
    await waitFor('m2 waits on the lease', () => waiter!.sync.stats().cluster_introspection_lease_waits_total === 1, 5_000);

    s.answer(); // live at m1 (shared), 1 s past its expiry at m0 and m2
    expect((await held).active).toBe(true);
    // before: m2 sat out the lease (60 s) — the fill was dropped without a word to it
    await waitFor('m2 asks the AS itself', () => waited !== null, 8_000);
    expect(waited!.expiresAt).toBeGreaterThan(waiter!.now()); // its own answer, never the expired one
    expect(s.calls).toEqual(['m1', 'm2']);
  }, 60_000);

  it('ends the lease at the owner: a later lookup there asks the AS at once', async () => {
    const { key, ms: [owner, holder] } = await cluster([2_000, 0]);
    const s = server(holder!);
    const held = holder!.lookup(key, s.as);
    await waitFor('the holder asks the AS', s.asked, 5_000);
    s.answer(); // expired on arrival at the owner
    expect((await held).active).toBe(true);
    await waitFor('the owner judged the fill', () => owner!.sync.stats().cluster_cache_fills_ignored_total === 1, 5_000);
    // before: the lease stood (the answer was dropped, not the lease) and this lookup waited on it for 60 s
    let late: IntrospectionResult | null = null;
    void owner!.lookup(key, s.as).then((r) => { late = r; });
    await waitFor('m0 asks the AS', () => late !== null, 8_000);
    expect(s.calls).toEqual(['m1', 'm0']);
  }, 60_000);

  it('a fill the owner cannot use (malformed) still ends its sender\'s lease there', async () => {
    const { key, ms: [owner, holder] } = await cluster([0, 0]);
    const s = server(holder!);
    void holder!.lookup(key, s.as);
    await waitFor('the holder asks the AS', s.asked, 5_000);
    // an authentic fill of m1's for the key that no member can use (active without claims: a buggy or newer build)
    const subject = owner!.bus.subjects.cacheIntrospection;
    t!.publish(subject, new BusAuth({ key: KEY }).seal(subject, new Codec().encode({
      type: 'cache.filled', v: 1, key, issuer: ISSUER, active: true, claims: null, expiresAt: Date.now() + 60_000, origin: 'm1',
    }), null, Date.now()));
    await waitFor('the owner refused it', () => owner!.sync.stats().cluster_cache_fills_refused_total === 1, 5_000);
    // before: the lease stood and this lookup waited on it for 60 s
    let late: IntrospectionResult | null = null;
    void owner!.lookup(key, s.as).then((r) => { late = r; });
    await waitFor('m0 asks the AS', () => late !== null, 8_000);
    expect(late!.active).toBe(true);
    expect(s.calls).toEqual(['m1', 'm0']);
    s.answer();
  }, 30_000);
});
