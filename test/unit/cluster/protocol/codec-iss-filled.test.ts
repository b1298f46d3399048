// `cache.filled` and `introspection.leased` v2 (an `iss` the sharer filled in) travel in v1's shared record: a
// build that predates them (MESSAGE_SPECS' records only) reads their type and drops them as `unknown_version` —
// not `malformed` of no type, which would make its cache-sync drop every cached result — and a v2 that does not
// carry an active answer with a string `iss` is malformed here.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { Codec, MESSAGE_SPECS, type BusMessage } from '../../../../cluster/protocol/index.js';

const key = 'c'.repeat(64);
const filled = { type: 'cache.filled', v: 2, key, issuer: 'demo', active: true, claims: { sub: 'a', iss: 'https://as.test' }, expiresAt: 1_700_000_000_000, origin: 'm1' } as const;
const leased = { type: 'introspection.leased', v: 2, key, status: 'cached', active: true, claims: { sub: 'a', iss: 'https://as.test' }, expiresAt: 1_700_000_000_000, waitMs: 0 } as const;
/** A decoder with only the shared records (no v2 spec): what a build before the marker unpacks with. */
const olderUnpack = (bytes: Uint8Array): unknown => new Packr({
  structures: MESSAGE_SPECS.map((s) => [...s.fields]), maxSharedStructures: MESSAGE_SPECS.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true,
}).unpack(bytes);

describe('iss-filled v2 of the shared introspection answers', () => {
  it('round-trips, in the same record as v1', () => {
    const c = new Codec();
    for (const m of [filled, leased] as BusMessage[]) {
      const bytes = c.encode(m);
      expect(c.decode(bytes)).toEqual(m);
      expect(bytes[0]).toBe(c.encode({ ...m, v: 1 } as BusMessage)[0]);
    }
  });

  it('is read by an older build as its type at an unknown version', () => {
    const c = new Codec();
    for (const m of [filled, leased] as BusMessage[]) expect(olderUnpack(c.encode(m))).toMatchObject({ type: m.type, v: 2 });
  });

  it('is malformed without an active answer naming iss', () => {
    const c = new Codec();
    const plain = new Packr({ structures: MESSAGE_SPECS.map((s) => [...s.fields]), maxSharedStructures: MESSAGE_SPECS.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
    for (const bad of [{ ...filled, claims: { sub: 'a' } }, { ...filled, active: false, claims: null }, { ...leased, claims: { sub: 'a' } }, { ...leased, status: 'granted', active: null, claims: null, expiresAt: null }]) {
      expect(c.decode(plain.pack(bad))).toBeNull();
    }
    expect(c.stats().dropped_malformed).toBe(4);
  });
});
