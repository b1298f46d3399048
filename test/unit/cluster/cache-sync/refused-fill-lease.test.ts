// Refused fills: one refused at a member (here a legitimate fill whose sender's clock lags an inactive answer) ends its
// sender's lease, so waiters ask again at once; an inactive answer from the owner's lease reply (a member that joined
// after it was shared) counts as seen, so a captured active fill replayed then is refused.
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
const KEY = Buffer.alloc(32, 7);
const LEASE_MS = 60_000; // a waiter left behind would sit this out

/** An authorization server whose answer for every token is `active` (a token re-activated: `nbf` reached, an AS replica caught up). */
class Server {
  active = false;
  calls = 0;
  /** Overrides the answer when set. */
  server: (() => IntrospectionResult) | null = null;
  async call(): Promise<IntrospectionResult> {
    this.calls++;
    if (this.server !== null) return this.server();
    return this.active ? { active: true, claims: { sub: 'kim', iss: 'https://as.test' }, expiresAt: Date.now() + 60_000 } : { active: false, claims: null, expiresAt: Date.now() + 200 };
  }
}

/** One member: its clock `skewMs` off, a cache keyed by token hash that asks the sync on a miss and shares what it fetched. */
class Member {
  readonly cache = new Map<string, IntrospectionResult>();
  readonly sync: IntrospectionSync;
  readonly membership: Membership;
  readonly bus: MessageBus;
  constructor(t: LocalTransport, readonly id: string, private readonly as: Server, skewMs = 0) {
    const now = (): number => Date.now() + skewMs;
    const bus = new MessageBus(t, new Codec(), subjects('t'), new BusAuth({ key: KEY, now }));
    this.bus = bus;
    this.membership = new Membership({ bus, id, role: 'single', intervalMs: 50 });
    this.sync = new IntrospectionSync({ bus, membership: this.membership, memberId: id, logger: pino({ level: 'silent' }), now, leaseMs: LEASE_MS });
    this.sync.attach(ISSUER, { prime: (k, r) => { this.cache.set(k, r); return true; }, evict: (k) => this.cache.delete(k) });
    this.sync.start();
    this.membership.start();
  }
  async lookup(key: string): Promise<IntrospectionResult> {
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.expiresAt > Date.now()) return hit;
    const r = await this.sync.coordinator(ISSUER)(key, () => this.as.call());
    this.cache.set(key, r);
    this.sync.publisher(ISSUER)(key, r);
    return r;
  }
}

describe('a refused fill and the lease of its sender', () => {
  const members: Member[] = [];
  let t: LocalTransport | null = null;
  afterEach(async () => {
    for (const m of members.splice(0)) { m.sync.close(); m.membership.close(); }
    await t?.close();
  });

  it('a re-activated token whose active fill is refused (its sender\'s clock 2 s behind): the next member asks again at once', async () => {
    const as = new Server();
    t = new LocalTransport();
    members.push(new Member(t, 'm0', as), new Member(t, 'm1', as), new Member(t, 'm2', as, -2_000));
    const [owner, m1, lagging] = members as [Member, Member, Member];
    await waitFor('membership', () => members.every((m) => m.membership.members().length === 3), 5_000);
    let key = '';
    for (let i = 0; rendezvousOwner(key, ['m0', 'm1', 'm2']) !== 'm0'; i++) key = createHash('sha256').update(`token-${i}`).digest('hex');

    expect((await m1.lookup(key)).active).toBe(false); // shared: every member saw the inactive answer
    await waitFor('the inactive answer everywhere', () => owner.cache.get(key)?.active === false && lagging.cache.get(key)?.active === false, 5_000);
    await waitFor('the inactive answer ran out', () => members.every((m) => m.cache.get(key)!.expiresAt < Date.now()), 5_000);

    as.active = true;
    expect((await lagging.lookup(key)).active).toBe(true); // its fill is signed 2 s before the inactive answer
    await waitFor('the owner refused it', () => owner.sync.stats().cluster_cache_fills_refused_total === 1, 5_000);

    // before: m1 waited on the lagging member's lease at the owner for its whole leaseMs (60 s here)
    let answered: IntrospectionResult | null = null;
    void m1.lookup(key).then((r) => { answered = r; });
    await waitFor('m1 answers (asking the server again)', () => answered !== null, 10_000);
    expect(answered!.active).toBe(true);
    expect(as.calls).toBe(3);
  }, 30_000);

  it('a member that learnt the inactive answer from the owner refuses a captured active fill signed before it', async () => {
    const as = new Server();
    t = new LocalTransport();
    members.push(new Member(t, 'm0', as), new Member(t, 'm1', as));
    const [owner, m1] = members as [Member, Member];
    await waitFor('membership', () => members.every((m) => m.membership.members().length === 2), 5_000);
    let key = '';
    for (let i = 0; rendezvousOwner(key, ['m0', 'm1', 'm2']) !== 'm0'; i++) key = createHash('sha256').update(`token-${i}`).digest('hex');
    // an authentic active fill of m1's, signed now (captured by someone who can read and publish on the bus)
    const subject = owner.bus.subjects.cacheIntrospection;
    const captured = new BusAuth({ key: KEY }).seal(subject, new Codec().encode({
      type: 'cache.filled', v: 1, key, issuer: ISSUER, active: true, claims: { sub: 'kim', iss: 'https://as.test' }, expiresAt: Date.now() + 60_000, origin: 'm1',
    }), null, Date.now() - 1);

    // the token is revoked at the AS; m1 asks it and shares the answer: inactive (for a while)
    as.server = (): IntrospectionResult => ({ active: false, claims: null, expiresAt: Date.now() + 30_000 });
    expect((await m1.lookup(key)).active).toBe(false);
    await waitFor('the inactive answer at the owner', () => owner.cache.get(key)?.active === false, 5_000);

    // m2 joins after it was shared: its lookup gets the owner's kept answer
    const late = new Member(t, 'm2', as);
    members.push(late);
    await waitFor('m2 in the view', () => members.every((m) => m.membership.members().length === 3), 5_000);
    expect((await late.lookup(key)).active).toBe(false);
    expect(as.calls).toBe(1);

    const refused = late.sync.stats().cluster_cache_fills_refused_total ?? 0;
    t.publish(subject, captured);
    await waitFor('m2 judged the replay', () => (late.sync.stats().cluster_cache_fills_refused_total ?? 0) > refused || late.cache.get(key)?.active === true, 5_000);
    expect(late.cache.get(key)?.active).toBe(false); // before: true — the token active again at m2
  }, 30_000);

  it('an inactive fill that arrives expired (late, or at a clock ahead) still takes the older active answer out', async () => {
    const as = new Server();
    t = new LocalTransport();
    members.push(new Member(t, 'm0', as), new Member(t, 'm1', as, 2_000));
    const [m0, ahead] = members as [Member, Member];
    await waitFor('membership', () => members.every((m) => m.membership.members().length === 2), 5_000);
    let key = '';
    // owned by m0 now, by m2 once it joins
    for (let i = 0; key === '' || rendezvousOwner(key, ['m0', 'm1', 'm2']) !== 'm2' || rendezvousOwner(key, ['m0', 'm1']) !== 'm0'; i++) key = createHash('sha256').update(`token-${i}`).digest('hex');
    as.active = true;
    expect((await m0.lookup(key)).active).toBe(true);
    await waitFor('the active answer at m1', () => ahead.cache.get(key)?.active === true, 5_000);

    // m2 joins and owns the key (nothing kept there); the token is revoked at the AS meanwhile
    const joined = new Member(t, 'm2', as);
    members.push(joined);
    await waitFor('m2 in the view', () => members.every((m) => m.membership.members().length === 3), 5_000);
    as.active = false; // inactive for 200 ms: already expired when it reaches m1, whose clock is 2 s ahead
    expect((await joined.lookup(key)).active).toBe(false);
    await waitFor('m0 took the inactive answer', () => m0.cache.get(key)?.active === false, 5_000);
    // before: m1 ignored the expired fill and kept answering the revoked token as active until its own entry expired
    await waitFor('m1 dropped its active answer', () => ahead.cache.get(key) === undefined, 5_000);
  }, 30_000);
});
