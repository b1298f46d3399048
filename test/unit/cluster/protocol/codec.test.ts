// The bus codec: every message type round-trips between independent codec instances
// (as between processes); malformed, unknown-type, unknown-version and oversized input
// is dropped and counted, never thrown — for any bytes at all.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { Codec, isCutKind, MESSAGE_SPECS, REVOCATION_KINDS, revocationVersion, type BusMessage, type RevocationAdded } from '../../../../cluster/protocol/index.js';

const HASH = 'ab'.repeat(32);
const revocation: RevocationAdded = {
  type: 'revocation.added', v: 1, id: 'r-1', kind: 'sub', value: 'alice', issuer: 'https://as.example', before: 1_700_000_000,
  expiresAt: 1_700_086_400, reason: null, createdAt: 1_700_000_000_123, origin: 'host-1-abc', publishedAt: 1_700_000_000_123.456,
};
const samples: BusMessage[] = [
  revocation,
  { ...revocation, kind: 'token', value: HASH, issuer: null, before: null, reason: 'leaked' },
  { ...revocation, v: 2, kind: 'sid', value: 'session-7f', before: null },
  { ...revocation, v: 3, kind: 'sub_without_sid', value: 'alice', reason: 'backchannel_logout' },
  { type: 'member.heartbeat', v: 1, id: 'host-1-abc', role: 'worker', host: 'host', pid: 42, startedAt: 1, seq: 7, intervalMs: 1000 },
  { type: 'member.left', v: 1, id: 'host-1-abc' },
  { type: 'member.heartbeat', v: 2, id: 'host-1-abc', role: 'single', host: 'host', pid: 42, startedAt: 1, seq: 8, intervalMs: 1000, policy: null },
  { type: 'member.heartbeat', v: 2, id: 'host-1-abc', role: 'primary', host: 'host', pid: 42, startedAt: 1, seq: 9, intervalMs: 1000, policy: { version: 12, digest: HASH, error: 'version 13 refused (environment): dpop.nonce.secret_env: PT_X is not set', latestSeen: 13, from: 'bus' } },
  { type: 'member.heartbeat', v: 3, id: 'host-1-abc', role: 'worker', host: 'host', pid: 42, startedAt: 1, seq: 10, intervalMs: 1000, policy: null, direct: '127.0.0.1:4711' },
  { type: 'cache.filled', v: 1, key: HASH, issuer: 'main', active: true, claims: { sub: 'a', scope: 'read', nested: { x: [1, 2] } }, expiresAt: 99, origin: 'm' },
  { type: 'cache.evicted', v: 1, key: HASH, origin: 'm' },
  { type: 'introspection.lease', v: 1, key: HASH, issuer: 'main', member: 'm' },
  { type: 'introspection.leased', v: 1, key: HASH, status: 'cached', active: false, claims: null, expiresAt: 5, waitMs: 0 },
  { type: 'introspection.released', v: 1, key: HASH, issuer: 'main', member: 'm', failed: true, origin: 'o' },
  { type: 'dpop.claim', v: 1, key: 'A'.repeat(43), expiresAt: 1_700_000_060, member: 'm' },
  { type: 'dpop.claimed', v: 1, key: 'A'.repeat(43), verdict: 'replayed' },
  { type: 'dpop.seen', v: 1, key: 'A'.repeat(43), expiresAt: 1_700_000_060, origin: 'm' },
  { type: 'cache.subject_dropped', v: 1, iss: 'https://as.example', sub: 'u1', origin: 'm' },
  { type: 'cache.subject_dropped', v: 1, iss: '', sub: 'u2', origin: 'm' },
];

describe('Codec', () => {
  it('round-trips every message type between two independent codecs', () => {
    const a = new Codec();
    const b = new Codec();
    expect(new Set(samples.map((s) => `${s.type}@${s.v}`))).toEqual(new Set(MESSAGE_SPECS.filter((s) => !s.type.startsWith('retired.')).map((s) => `${s.type}@${s.v}`)));
    for (const m of samples) expect(b.decode(a.encode(m))).toEqual(m);
    expect(b.stats()).toMatchObject({ decoded: samples.length, dropped_malformed: 0 });
  });

  it('uses compact shared records (a revocation is far smaller than its JSON)', () => {
    const bytes = new Codec().encode(revocation);
    expect(bytes.byteLength).toBeLessThan(JSON.stringify(revocation).length * 0.75);
  });

  it('keeps the shared structure order (append-only: members of different builds must agree)', () => {
    expect(MESSAGE_SPECS.slice(0, 6).map((s) => `${s.type}@${s.v}`)).toEqual([
      'revocation.added@1', 'retired.revocation.sync@1', 'retired.revocation.snapshot@1', 'member.heartbeat@1', 'member.left@1', 'retired.policy.updated@1',
    ]);
    // the retired slot keeps its place; new specs only at the end
    expect(MESSAGE_SPECS.at(-4)).toMatchObject({ type: 'member.heartbeat', v: 2 });
    expect(MESSAGE_SPECS.at(-3)).toMatchObject({ type: 'cache.subject_dropped', v: 1 });
    expect(MESSAGE_SPECS.at(-2)).toMatchObject({ type: 'member.heartbeat', v: 3 });
    expect(MESSAGE_SPECS.at(-1)).toMatchObject({ type: 'revocation.added', v: 3 });
  });

  it('never delivers the retired policy.updated, and refuses a heartbeat whose policy status is malformed', () => {
    const c = new Codec();
    const plain = new Packr({ useRecords: false });
    expect(c.decode(plain.pack({ type: 'policy.updated', v: 1, version: 'sha256:00', origin: 'm', loadedAt: 3 }))).toBeNull();
    const beat = { type: 'member.heartbeat', v: 2, id: 'm', role: 'single', host: 'h', pid: 1, startedAt: 1, seq: 1, intervalMs: 1000 };
    expect(c.decode(plain.pack({ ...beat, policy: { version: 1, digest: 'short', error: null, latestSeen: 1, from: 'bus' } }))).toBeNull();
    expect(c.decode(plain.pack({ ...beat, policy: { version: 1, digest: null, error: null, latestSeen: 1, from: 'elsewhere' } }))).toBeNull();
    expect(c.decode(plain.pack({ ...beat, policy: { version: -1, digest: null, error: null, latestSeen: 1, from: 'bus' } }))).toBeNull();
    expect(c.decode(plain.pack(beat))).toBeNull(); // v2 names its policy status, null or not
    // v3 carries the direct push address as host:port, nothing else
    expect(c.decode(plain.pack({ ...beat, v: 3, policy: null, direct: 'evil host:1' }))).toBeNull();
    expect(c.decode(plain.pack({ ...beat, v: 3, policy: null, direct: '127.0.0.1' }))).toBeNull();
    expect(c.decode(plain.pack({ ...beat, v: 3, policy: null, direct: '[::1]:9000' }))).toMatchObject({ v: 3, direct: '[::1]:9000' });
    expect(c.stats()).toMatchObject({ dropped_unknown_type: 1, dropped_malformed: 6 });
  });

  it('drops and counts an unknown version, an unknown type and a wrong field, without throwing', () => {
    const c = new Codec();
    const plain = new Packr({ useRecords: false });
    expect(c.decode(plain.pack({ ...revocation, v: 4 }))).toBeNull();
    expect(c.decode(plain.pack({ ...revocation, type: 'revocation.exploded' }))).toBeNull();
    expect(c.decode(plain.pack({ ...revocation, expiresAt: 'tomorrow' }))).toBeNull();
    expect(c.decode(plain.pack({ ...revocation, kind: 'email' }))).toBeNull();
    expect(c.decode(plain.pack({ ...revocation, kind: 'token', value: 'not-a-hash' }))).toBeNull();
    expect(c.decode(plain.pack({ ...revocation, value: 'a\nb' }))).toBeNull();
    expect(c.decode(plain.pack({ ...revocation, before: null }))).toBeNull(); // sub needs before
    expect(c.decode(plain.pack([1, 2, 3]))).toBeNull();
    expect(c.decode(plain.pack({ type: 'member.left', v: '1', id: 'x' }))).toBeNull();
    expect(c.decode(new Uint8Array([0xc1]))).toBeNull();
    expect(c.stats()).toMatchObject({ dropped_unknown_version: 1, dropped_unknown_type: 1, dropped_malformed: 8 });
    // A plain (record-less) encoding of a valid message is still accepted.
    expect(c.decode(plain.pack(revocation))).toEqual(revocation);
  });

  it('drops oversized messages before decoding', () => {
    const c = new Codec(64);
    expect(c.decode(new Codec().encode({ ...revocation, reason: 'x'.repeat(100) }))).toBeNull();
    expect(c.stats().dropped_too_large).toBe(1);
  });

  it('never throws and never returns a non-message for random bytes', () => {
    const c = new Codec();
    const types = new Set(MESSAGE_SPECS.map((s) => s.type));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const m = c.decode(bytes);
      return m === null || types.has(m.type);
    }), { numRuns: 3_000 });
  });

  it('never throws for valid messages with random bytes flipped', () => {
    const c = new Codec();
    const bytes = new Codec().encode(revocation);
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (flips) => {
      const b = Uint8Array.from(bytes);
      for (const [i, v] of flips) b[i] = v;
      const m = c.decode(b);
      return m === null || m.type === 'revocation.added';
    }), { numRuns: 2_000 });
  });

  it('round-trips arbitrary valid revocations', () => {
    const a = new Codec();
    const b = new Codec();
    const text = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s));
    fc.assert(fc.property(fc.constantFrom(...REVOCATION_KINDS), text, fc.option(text, { nil: null }), fc.integer({ min: 0, max: 2 ** 40 }), (kind, value, issuer, t) => {
      const cut = isCutKind(kind);
      const m: RevocationAdded = {
        ...revocation, v: revocationVersion(kind), kind, value: kind === 'token' ? HASH : value, issuer: kind === 'token' ? null : issuer,
        before: cut ? t : null, expiresAt: t + 1, createdAt: t * 1000, publishedAt: t * 1000 + 0.5,
      };
      expect(b.decode(a.encode(m))).toEqual(m);
    }), { numRuns: 300 });
  });

  it('a sid revocation travels as v2 only: a v1 sid and a v2 jti are malformed, one spelling per record', () => {
    const a = new Codec();
    const b = new Codec();
    const sid: RevocationAdded = { ...revocation, v: 2, kind: 'sid', value: 'sess-1', before: null };
    expect(b.decode(a.encode(sid))).toEqual(sid);
    const p = new Packr({ useRecords: false });
    const raw = (m: Record<string, unknown>): Uint8Array => p.pack(m);
    expect(b.decode(raw({ ...sid, v: 1 }))).toBeNull();
    expect(b.decode(raw({ ...revocation, v: 2, kind: 'jti', value: 'j', before: null }))).toBeNull();
    expect(b.stats().dropped_malformed).toBe(2);
  });

  it('a sub_without_sid revocation travels as v3 only, with a cut; a build without v3 cannot read it (so it fails closed, not misreads it)', () => {
    const a = new Codec();
    const b = new Codec();
    const cut: RevocationAdded = { ...revocation, v: 3, kind: 'sub_without_sid', value: 'alice' };
    expect(b.decode(a.encode(cut))).toEqual(cut);
    const p = new Packr({ useRecords: false });
    expect(b.decode(p.pack({ ...cut, v: 2 }))).toBeNull(); // a v2 reader knows sid only
    expect(b.decode(p.pack({ ...cut, v: 1 }))).toBeNull();
    expect(b.decode(p.pack({ ...cut, before: null }))).toBeNull(); // a cut kind names its cut
    expect(b.decode(p.pack({ ...revocation, v: 3 }))).toBeNull(); // a sub cut stays v1
    expect(b.stats().dropped_malformed).toBe(4);
    // the build before it (one shared record fewer) does not decode the v3 record: its receiver counts the
    // message as unreadable and closes its gate (README: a revocation this build cannot read fails closed)
    const older = MESSAGE_SPECS.slice(0, -1).map((s) => [...s.fields]);
    const olderPackr = new Packr({ structures: older, maxSharedStructures: older.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
    let read: unknown = null;
    try { read = olderPackr.unpack(a.encode(cut)); } catch { read = 'undecodable'; }
    expect(read).toBe('undecodable');
  });

  it('a token revocation carries its SHA-256 as 64 lowercase hex and no issuer, else it is malformed (the store could never match it)', () => {
    const b = new Codec();
    const p = new Packr({ useRecords: false });
    const token = { ...revocation, kind: 'token', value: HASH, issuer: null, before: null };
    expect(b.decode(p.pack(token))).toEqual(token);
    expect(b.decode(p.pack({ ...token, value: HASH.toUpperCase() }))).toBeNull();
    expect(b.decode(p.pack({ ...token, value: 'raw-token-text' }))).toBeNull();
    expect(b.decode(p.pack({ ...token, issuer: 'https://as.example' }))).toBeNull();
    expect(b.stats().dropped_malformed).toBe(3);
  });

  it('a message cannot redefine a shared record: it is dropped and later messages decode as sent', () => {
    const a = new Codec();
    const b = new Codec();
    const legit = a.encode(revocation);
    const id = legit[0]!; // the shared record id a revocation travels under
    // The same fields with `value` and `origin` swapped, defined inline under that id (msgpackr's 0xd4 0x72 record definition).
    const fields = MESSAGE_SPECS.find((s) => s.type === 'revocation.added')!.fields.map((f) => (f === 'value' ? 'origin' : f === 'origin' ? 'value' : f));
    const p = new Packr({ useRecords: false });
    const forged = Buffer.concat([Buffer.from([0xd4, 0x72, id]), p.pack(fields), ...fields.map((f) => p.pack((revocation as unknown as Record<string, unknown>)[f]))]);
    expect(b.decode(forged)).toBeNull();
    expect(b.stats().dropped_malformed).toBe(1);
    expect(b.decode(legit)).toEqual(revocation);
    // A definition past the shared ids lives for its own message only: a later one cannot lean on it.
    const extra = 0x40 + MESSAGE_SPECS.length + 3;
    expect(b.decode(Buffer.concat([Buffer.from([0xd4, 0x72, extra]), p.pack(['type', 'v', 'id']), p.pack('member.left'), p.pack(1), p.pack('m1')]))).toEqual({ type: 'member.left', v: 1, id: 'm1' });
    expect(b.decode(Buffer.concat([Buffer.from([extra]), p.pack('member.left'), p.pack(1), p.pack('m2')]))).toBeNull();
    for (const m of samples) expect(b.decode(a.encode(m))).toEqual(m);
  });

  it('a codec that decodes between its own encodes still round-trips nested objects (records past the shared ids)', () => {
    const a = new Codec();
    const b = new Codec();
    for (let i = 0; i < 50; i++) {
      for (const m of samples) {
        const bytes = a.encode(m);
        expect(a.decode(b.encode(m))).toEqual(m);
        expect(b.decode(bytes)).toEqual(m);
        expect(a.decode(bytes)).toEqual(m);
      }
    }
  });

  it('reads the messages of a build with fewer shared records: their nested objects are defined under ids that are shared here (regression)', () => {
    // A build before the last spec was appended (before `sid`: one shared record fewer) writes a nested
    // object's record under the first id past its own list, which is this build's last shared id; the
    // next build will read ours the same way. Before: every such message was dropped as malformed —
    // an older member's cache fills and lease answers (claims), its heartbeats with policy status.
    const older = MESSAGE_SPECS.slice(0, -1).map((s) => [...s.fields]);
    const packr = new Packr({ structures: older, maxSharedStructures: older.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
    const inOrder = (m: BusMessage): Record<string, unknown> => {
      const spec = MESSAGE_SPECS.find((s) => s.type === m.type && s.v === m.v)!;
      return Object.fromEntries(spec.fields.map((f) => [f, (m as unknown as Record<string, unknown>)[f] ?? null]));
    };
    const fill: BusMessage = { type: 'cache.filled', v: 1, key: 'b'.repeat(64), issuer: 'corp', active: true, claims: { sub: 'u', cnf: { jkt: 'k' }, realm_access: { roles: ['a'] } }, expiresAt: 2e12, origin: 'old-member' };
    const beat: BusMessage = { type: 'member.heartbeat', v: 2, id: 'old-member', role: 'single', host: 'h', pid: 1, startedAt: 1, seq: 2, intervalMs: 1_000, policy: { version: 3, digest: 'a'.repeat(64), error: null, latestSeen: 3, from: 'bus' } };
    const b = new Codec();
    for (const m of [fill, beat, fill]) {
      const bytes = packr.pack(inOrder(m));
      expect(bytes[0]).toBeLessThan(0xd4); // the message itself under a shared record, only its nested objects defined inline
      expect(b.decode(bytes)).toEqual(m);
      expect(b.decode(new Codec().encode(revocation))).toEqual(revocation); // and the shared record is ours again
    }
    expect(b.stats().dropped_malformed).toBe(0);
  });
});
