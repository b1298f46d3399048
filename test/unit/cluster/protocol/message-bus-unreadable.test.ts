// Authentic messages this build cannot read are told to every watcher (revocations, DPoP, cache), with
// the type they named when readable — answers to a request included: before, an owner's verdict in a
// newer build's words only timed out, and the DPoP check judged that proof on the local cache alone.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { BusAuth, Codec, MESSAGE_SPECS, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { LocalTransport } from '../../../../cluster/transport/index.js';

/** A newer build's message under one more shared record than this build knows (or the same one, `sameRecord`). */
function newer(msg: Record<string, unknown>, sameRecord = false): Uint8Array {
  const structures = [...MESSAGE_SPECS.map((s) => [...s.fields]), ...(sameRecord ? [] : [Object.keys(msg)])];
  return new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true }).pack(msg);
}

const KEY = Buffer.alloc(48, 3);
const claim = { type: 'dpop.claim', v: 1, key: 'k'.repeat(43), expiresAt: 1, member: 'me' } as const;

describe('MessageBus: unreadable messages', () => {
  for (const auth of [null, new BusAuth({ key: KEY })]) {
    it(`tells every watcher of an unreadable answer to a request (${auth === null ? 'no envelope' : 'sealed'})`, async () => {
      const t = new LocalTransport();
      const bus = new MessageBus(t, new Codec(), subjects('p'), auth);
      const subject = bus.subjects.dpopOwner('owner');
      const verdict = newer({ type: 'dpop.claimed', v: 2, key: 'k'.repeat(43), verdict: 'replayed', why: 'seen' });
      t.subscribe(subject, (m) => m.respond(auth === null ? verdict : new BusAuth({ key: KEY }).seal(`<reply>${subject}`, verdict, m.data.subarray(13, 45))));
      const told: Array<[string, number | null, string | null]> = [];
      const other: string[] = [];
      bus.watchUnreadable((s, at, type) => { told.push([s, at === null ? null : 0, type]); });
      const unwatch = bus.watchUnreadable((s) => { other.push(s); });
      await expect(bus.request(subject, claim, 1_000)).rejects.toMatchObject({ code: 'BUS_TIMEOUT' });
      expect(told).toEqual([[subject, auth === null ? null : 0, null]]);
      expect(other).toEqual([subject]);
      unwatch();
      await expect(bus.request(subject, claim, 1_000)).rejects.toMatchObject({ code: 'BUS_TIMEOUT' });
      expect(told).toHaveLength(2);
      expect(other).toHaveLength(1);
    });
  }

  it('names the type of a newer version of a known shape, none when the record itself is unknown', async () => {
    const t = new LocalTransport();
    const bus = new MessageBus(t, new Codec(), subjects('p'), null);
    const told: Array<string | null> = [];
    bus.watchUnreadable((_s, _at, type) => { told.push(type); });
    bus.subscribe(bus.subjects.cacheIntrospection, () => { throw new Error('delivered'); });
    const fill = { type: 'cache.filled', v: 2, key: 'a'.repeat(64), issuer: 'demo', active: false, claims: null, expiresAt: 1, origin: 'x' };
    t.publish(bus.subjects.cacheIntrospection, newer(fill, true));
    t.publish(bus.subjects.cacheIntrospection, newer({ type: 'cache.evicted', v: 2, key: 'a'.repeat(64), origin: 'x', reason: 'logout' }));
    await new Promise((r) => setImmediate(r)); // the local transport delivers on a later turn
    expect(told).toEqual(['cache.filled', null]);
  });
});
