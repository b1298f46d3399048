// The revocation gate's own lines (revocation-ingest.ts): an authentic revocation this build cannot
// read, or one refused for lack of room, keeps the member closed until it could have expired — across
// a restart by the snapshot's gate — and a record failing the admin rules is refused, never stored.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Codec, MessageBus, subjects, type RevocationRecord } from '../../../../cluster/protocol/index.js';
import { LINGER_S, RevocationStore } from '../../../../cluster/revocation/index.js';
import { RevocationIngest } from '../../../../cluster/revocation/revocation-ingest.js';
import { LocalTransport } from '../../../../cluster/transport/local-transport.js';

const T0 = 1_700_000_000_000; // epoch ms
const LIFETIME_S = 3600;
let n = 0;
const rec = (p: Partial<RevocationRecord> = {}): RevocationRecord => ({
  id: `r${++n}`, kind: 'jti', value: `j${n}`, issuer: null, before: null, expiresAt: T0 / 1000 + 600, reason: null, createdAt: T0, origin: 'peer', ...p,
});

describe('RevocationIngest: the gate', () => {
  let transport: LocalTransport;
  let bus: MessageBus;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    transport = new LocalTransport();
    bus = new MessageBus(transport, new Codec(), subjects('pt'));
  });
  afterEach(async () => { vi.useRealTimers(); await transport.close(); });
  const ingest = (store = new RevocationStore()): RevocationIngest => new RevocationIngest({ store, bus, maxLifetimeS: LIFETIME_S });

  it('an unreadable message on a revocation subject closes it until signing time + max lifetime + linger; on another subject it does not', async () => {
    const g = ingest();
    // the actor's subscriptions: only through them does the bus decode (and tell its watchers)
    bus.subscribe('pt.members', () => {});
    bus.subscribe('pt.revocations.jti', () => {});
    const delivered = new Promise<void>((resolve) => { transport.subscribe('pt.members', () => resolve()); });
    transport.publish('pt.members', new Uint8Array([0xc1, 0xc1]));
    await delivered;
    expect(g.incomplete()).toBe(false);
    const revocation = new Promise<void>((resolve) => { transport.subscribe('pt.revocations.jti', () => resolve()); });
    transport.publish('pt.revocations.jti', new Uint8Array([0xc1, 0xc1]));
    await revocation;
    expect(g.incomplete()).toBe(true);
    expect(g.gates().unreadableUntil).toBe(T0 + (LIFETIME_S + LINGER_S) * 1000);
    vi.setSystemTime(T0 + (LIFETIME_S + LINGER_S) * 1000 - 1);
    expect(g.incomplete()).toBe(true);
    vi.setSystemTime(T0 + (LIFETIME_S + LINGER_S) * 1000 + 1);
    expect(g.incomplete()).toBe(false);
  });

  it('one signed so long ago that whatever it revoked has expired leaves it open; a later one moves it later, never earlier', () => {
    const g = ingest();
    g.unreadable('pt.revocations.sub', T0 - (LIFETIME_S + LINGER_S) * 1000 - 1, 'undecodable');
    expect(g.incomplete()).toBe(false);
    g.unreadable('pt.revocations.sub', T0, 'undecodable');
    g.unreadable('pt.revocations.sub', T0 - 60_000, 'undecodable');
    expect(g.gates().unreadableUntil).toBe(T0 + (LIFETIME_S + LINGER_S) * 1000);
  });

  it('a stream message that decodes as another type closes it as an unreadable one does', () => {
    const g = ingest();
    const other = new Codec().encode({ type: 'member.left', v: 1, id: 'm' });
    expect(g.openStored('pt.revocations.jti', other)).not.toBeNull();
    expect(g.incomplete()).toBe(true);
  });

  it('a revocation refused for lack of room closes it until that revocation has expired (linger included)', () => {
    const store = new RevocationStore(Date.now, { maxEntries: 1 });
    const g = ingest(store);
    expect(g.apply(rec())).toBe('applied');
    const refused = rec({ expiresAt: T0 / 1000 + 900 });
    expect(g.apply(refused)).toBe('full');
    expect(g.overflowed()).toBe(true);
    expect(g.incomplete()).toBe(true);
    vi.setSystemTime((refused.expiresAt + LINGER_S) * 1000 - 1);
    expect(g.overflowed()).toBe(true);
    vi.setSystemTime((refused.expiresAt + LINGER_S) * 1000 + 1);
    expect(g.overflowed()).toBe(false);
  });

  it('a gate restored from the snapshot holds until the first whole replay; one already past is not restored', () => {
    const g = ingest();
    g.restore({ unreadableUntil: T0 + 60_000, overflowUntil: 0 });
    expect(g.incomplete()).toBe(true);
    g.replayed();
    expect(g.incomplete()).toBe(false);
    const h = ingest();
    h.restore({ unreadableUntil: 0, overflowUntil: T0 + 60_000 });
    expect(h.overflowed()).toBe(true);
    expect(h.gates()).toEqual({ unreadableUntil: 0, overflowUntil: T0 + 60_000 });
    const k = ingest();
    k.restore({ unreadableUntil: T0 - 1, overflowUntil: T0 - 1 });
    expect(k.incomplete()).toBe(false);
  });

  it('a bus record failing the admin rules (before far ahead of its signing time) is refused and counted, never stored; an over-long one is capped', () => {
    const store = new RevocationStore();
    const g = ingest(store);
    const ahead = rec({ kind: 'sub', value: 'alice', before: T0 / 1000 + 86_400 });
    expect(g.fromBus(ahead, 'pt.revocations.sub', T0, 'live').result).toBe('invalid');
    expect(store.size).toBe(0);
    expect(bus.rejections().invalid).toBe(1);
    // judged at its signing time: the same `before` was fine when it was signed a day later
    expect(g.fromBus(ahead, 'pt.revocations.sub', T0 + 86_400_000, 'replay').result).toBe('applied');
    const long = g.fromBus(rec({ expiresAt: T0 / 1000 + 10 * LIFETIME_S }), 'pt.revocations.jti', T0, 'live');
    expect(long.result).toBe('applied');
    expect(long.record.expiresAt).toBeLessThanOrEqual(T0 / 1000 + LIFETIME_S + 60);
  });
});
