// RevocationStore semantics per kind (jti with optional issuer, token hash, sub and
// client_id with a not-before cut, kid, sid), idempotent apply, expiry and the sweeper.
import { describe, expect, it, vi } from 'vitest';
import type { RevocationRecord } from '../../../../cluster/protocol/index.js';
import type { TokenFacts } from '../../../../node/contracts/index.js';
import { LINGER_S, lingerFor, RevocationStore } from '../../../../cluster/revocation/index.js';

const T0 = 1_700_000_000; // epoch s
const HASH = 'c0ffee'.padEnd(64, '0');
let n = 0;
function rec(p: Partial<RevocationRecord> & Pick<RevocationRecord, 'kind' | 'value'>): RevocationRecord {
  return { id: `r${++n}`, issuer: null, before: null, expiresAt: T0 + 3600, reason: null, createdAt: T0 * 1000, origin: 'test', ...p };
}
const tok = (f: Partial<TokenFacts>): TokenFacts => ({ tokenHash: 'f'.repeat(64), ...f });

describe('RevocationStore', () => {
  const clock = { now: T0 * 1000 };
  const fresh = (): RevocationStore => { clock.now = T0 * 1000; return new RevocationStore(() => clock.now); };

  it('is empty and cheap: nothing is revoked', () => {
    const s = fresh();
    expect(s.isRevoked(tok({ jti: 'a', sub: 'b', clientId: 'c', kid: 'd', iat: T0 }))).toBe(false);
  });

  it('a minted token (facts.parent) is revoked by whatever revokes the inbound token it replaced, at any depth', () => {
    const s = fresh();
    const inbound = tok({ tokenHash: HASH, jti: 'in1', sub: 'alice', iss: 'https://as.example', iat: T0 - 10 });
    const minted = tok({ jti: 'm1', sub: 'alice', iss: 'https://proxy.example', iat: T0, parent: inbound });
    const twice = tok({ tokenHash: 'e'.repeat(64), jti: 'm2', iss: 'https://proxy.example', parent: minted });
    expect(s.isRevoked(twice)).toBe(false);
    s.apply(rec({ kind: 'sub', value: 'alice', issuer: 'https://as.example', before: T0 - 5 }));
    expect(s.isRevoked(inbound)).toBe(true);
    expect(s.isRevoked(minted)).toBe(true); // its own sub is the proxy's, its own iat after the cut
    expect(s.isRevoked(twice)).toBe(true);
    expect(s.isRevoked(tok({ jti: 'm3', sub: 'alice', iss: 'https://proxy.example', iat: T0 }))).toBe(false);
  });

  it('jti: any issuer, or scoped to one issuer', () => {
    const s = fresh();
    s.apply(rec({ kind: 'jti', value: 'j1' }));
    s.apply(rec({ kind: 'jti', value: 'j2', issuer: 'https://a.example' }));
    expect(s.isRevoked(tok({ jti: 'j1' }))).toBe(true);
    expect(s.isRevoked(tok({ jti: 'j1', iss: 'https://z.example' }))).toBe(true);
    expect(s.isRevoked(tok({ jti: 'j2', iss: 'https://a.example' }))).toBe(true);
    expect(s.isRevoked(tok({ jti: 'j2', iss: 'https://b.example' }))).toBe(false);
    expect(s.isRevoked(tok({ jti: 'j2' }))).toBe(false);
    expect(s.isRevoked(tok({ jti: 'j3' }))).toBe(false);
  });

  it('token: by SHA-256 hex, whatever else the token says', () => {
    const s = fresh();
    s.apply(rec({ kind: 'token', value: HASH }));
    expect(s.isRevoked({ tokenHash: HASH })).toBe(true);
    expect(s.isRevoked({ tokenHash: HASH, jti: 'other', sub: 'x', iat: T0 + 99 })).toBe(true);
    expect(s.isRevoked({ tokenHash: 'a'.repeat(64) })).toBe(false);
  });

  it('token: an ECDSA token is revoked by the hash of either spelling (its twinHash), nothing else is', () => {
    const s = fresh();
    s.apply(rec({ kind: 'token', value: HASH }));
    expect(s.isRevoked({ tokenHash: 'a'.repeat(64), twinHash: HASH })).toBe(true);
    expect(s.match({ tokenHash: 'a'.repeat(64), twinHash: HASH })?.value).toBe(HASH);
    expect(s.isRevoked({ tokenHash: 'a'.repeat(64), twinHash: 'b'.repeat(64) })).toBe(false);
  });

  it('sub: tokens issued up to and including the cut\'s second; unknown iat counts as revoked (fail closed)', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub', value: 'alice', before: T0 }));
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 - 1 }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 + 1 }))).toBe(false);
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 + 60 }))).toBe(false);
    expect(s.isRevoked(tok({ sub: 'alice' }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 'bob', iat: T0 - 1 }))).toBe(false);
  });

  it('sub cuts merge: the latest before wins and the longest expiry is kept', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub', value: 'alice', before: T0 - 100, expiresAt: T0 + 7200 }));
    s.apply(rec({ kind: 'sub', value: 'alice', before: T0, expiresAt: T0 + 3600 }));
    s.apply(rec({ kind: 'sub', value: 'alice', before: T0 - 500, expiresAt: T0 + 60 }));
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 - 50 }))).toBe(true);
    clock.now = (T0 + 3601 + LINGER_S) * 1000;
    s.sweep();
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 - 50 }))).toBe(true); // the 7200 s entry keeps the cut alive
    clock.now = (T0 + 7201 + LINGER_S) * 1000;
    s.sweep();
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 - 50 }))).toBe(false);
    expect(s.size).toBe(0);
  });

  it('sub without before: the cut is the second the revocation was made, inclusive', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub', value: 'alice', createdAt: T0 * 1000 + 700 }));
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 }))).toBe(true); // issued earlier in that same second
    expect(s.isRevoked(tok({ sub: 'alice', iat: T0 + 1 }))).toBe(false);
  });

  it('issuer-scoped sub and client_id cuts: a token without iat counts as revoked (fail closed)', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub', value: 'alice', before: T0, issuer: 'https://a.example' }));
    s.apply(rec({ kind: 'client_id', value: 'svc', before: T0, issuer: 'https://a.example' }));
    expect(s.isRevoked(tok({ sub: 'alice', iss: 'https://a.example' }))).toBe(true);
    expect(s.isRevoked(tok({ clientId: 'svc', iss: 'https://a.example' }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 'alice', iss: 'https://b.example' }))).toBe(false);
  });

  it('client_id with issuer scope', () => {
    const s = fresh();
    s.apply(rec({ kind: 'client_id', value: 'svc', before: T0, issuer: 'https://a.example' }));
    expect(s.isRevoked(tok({ clientId: 'svc', iat: T0 - 1, iss: 'https://a.example' }))).toBe(true);
    expect(s.isRevoked(tok({ clientId: 'svc', iat: T0, iss: 'https://a.example' }))).toBe(true);
    expect(s.isRevoked(tok({ clientId: 'svc', iat: T0 - 1, iss: 'https://b.example' }))).toBe(false);
    expect(s.isRevoked(tok({ clientId: 'svc', iat: T0 + 1, iss: 'https://a.example' }))).toBe(false);
  });

  it('kid: every token signed with the key', () => {
    const s = fresh();
    s.apply(rec({ kind: 'kid', value: 'k1' }));
    expect(s.isRevoked(tok({ kid: 'k1', iat: T0 + 5 }))).toBe(true);
    expect(s.isRevoked(tok({ kid: 'k2' }))).toBe(false);
    expect(s.match(tok({ kid: 'k1' }))?.kind).toBe('kid');
  });

  it('kid: a token whose signing key is unknown (keyUnknown) is refused by any kid revocation of its issuer or of every issuer', () => {
    const s = fresh();
    const unknownAtA = tok({ keyUnknown: true, iss: 'https://a.example' });
    expect(s.isRevoked(unknownAtA)).toBe(false);
    s.apply(rec({ kind: 'kid', value: 'k1', issuer: 'https://b.example' }));
    expect(s.isRevoked(unknownAtA)).toBe(false); // another issuer's key
    s.apply(rec({ kind: 'kid', value: 'k2', issuer: 'https://a.example' }));
    expect(s.match(unknownAtA)?.value).toBe('k2');
    expect(s.isRevoked(tok({ iss: 'https://a.example' }))).toBe(false); // an opaque token has no key
    const t = fresh();
    t.apply(rec({ kind: 'kid', value: 'k3' }));
    expect(t.isRevoked(tok({ keyUnknown: true, iss: 'https://c.example' }))).toBe(true);
  });

  it('sid: every token of the session, whenever issued; scoped by issuer; a token without sid is untouched', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sid', value: 's-1', issuer: 'https://a.example' }));
    s.apply(rec({ kind: 'sid', value: 's-2' }));
    expect(s.isRevoked(tok({ sid: 's-1', iss: 'https://a.example', iat: T0 + 100 }))).toBe(true);
    expect(s.isRevoked(tok({ sid: 's-1', iss: 'https://b.example' }))).toBe(false);
    expect(s.isRevoked(tok({ sid: 's-2', iss: 'https://b.example' }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 's-2', jti: 's-2' }))).toBe(false);
    expect(s.match(tok({ sid: 's-2' }))?.kind).toBe('sid');
    expect(s.stats().revocations_entries_sid).toBe(2);
    clock.now = (T0 + 3601 + LINGER_S) * 1000;
    expect(s.sweep()).toBe(2);
    expect(s.isRevoked(tok({ sid: 's-2' }))).toBe(false);
  });

  it('sub_without_sid: the sub\'s tokens without a sid up to the cut; one with any sid, a later one, another issuer\'s pass', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub_without_sid', value: 'ivan', issuer: 'https://a.example', before: T0 }));
    expect(s.isRevoked(tok({ sub: 'ivan', iss: 'https://a.example', iat: T0 }))).toBe(true); // the cut's second is inclusive
    expect(s.isRevoked(tok({ sub: 'ivan', iss: 'https://a.example' }))).toBe(true); // no iat: cannot be after the cut
    expect(s.isRevoked(tok({ sub: 'ivan', iss: 'https://a.example', iat: T0 + 1 }))).toBe(false);
    expect(s.isRevoked(tok({ sub: 'ivan', iss: 'https://a.example', iat: T0 - 5, sid: 'other' }))).toBe(false);
    expect(s.isRevoked(tok({ sub: 'ivan', iss: 'https://b.example', iat: T0 - 5 }))).toBe(false);
    expect(s.match(tok({ sub: 'ivan', iss: 'https://a.example', iat: T0 - 5 }))?.kind).toBe('sub_without_sid');
    // a later cut moves it forward, as for sub
    s.apply(rec({ kind: 'sub_without_sid', value: 'ivan', issuer: 'https://a.example', before: T0 + 10 }));
    expect(s.isRevoked(tok({ sub: 'ivan', iss: 'https://a.example', iat: T0 + 1 }))).toBe(true);
    expect(s.stats().revocations_entries_sub_without_sid).toBe(2);
    expect(s.list('sub_without_sid')).toHaveLength(2);
    clock.now = (T0 + 3601 + LINGER_S) * 1000;
    expect(s.sweep()).toBe(2);
    expect(s.isRevoked(tok({ sub: 'ivan', iss: 'https://a.example', iat: T0 }))).toBe(false);
  });

  it('applies idempotently by id and tells listeners once', () => {
    const s = fresh();
    const seen: string[] = [];
    s.onRevoked((r) => seen.push(r.id));
    const r = rec({ kind: 'jti', value: 'dup' });
    expect(s.apply(r)).toBe('applied');
    expect(s.apply(r)).toBe('duplicate');
    expect(s.apply({ ...r })).toBe('duplicate');
    expect(seen).toEqual([r.id]);
    expect(s.has(r.id)).toBe(true);
  });

  it('keeps a revocation for a token it has never seen, and drops it once expired', () => {
    const s = fresh();
    s.apply(rec({ kind: 'jti', value: 'unknown-yet', expiresAt: T0 + 10 }));
    expect(s.isRevoked(tok({ jti: 'unknown-yet' }))).toBe(true);
    expect(s.list()).toHaveLength(1);
    clock.now = (T0 + 11) * 1000; // past its expiry, within the skew a token is still accepted for: kept
    expect(s.isRevoked(tok({ jti: 'unknown-yet' }))).toBe(true);
    expect(s.sweep()).toBe(0);
    clock.now = (T0 + 11 + LINGER_S) * 1000;
    expect(s.list()).toHaveLength(0); // not listed once the linger is over
    expect(s.sweep()).toBe(1);
    expect(s.isRevoked(tok({ jti: 'unknown-yet' }))).toBe(false);
    expect(s.stats().revocations_swept_total).toBe(1);
  });

  it('the sweeper runs every sweepIntervalMs (cluster.revocation.sweep_interval_s), 60 s by default', () => {
    vi.useFakeTimers();
    try {
      const swept = (limits: { sweepIntervalMs?: number }): number[] => {
        clock.now = T0 * 1000;
        const s = new RevocationStore(() => clock.now, limits);
        s.apply(rec({ kind: 'jti', value: 'short', expiresAt: T0 + 1 }));
        clock.now = (T0 + 2 + LINGER_S) * 1000; // past its expiry and linger: the next sweep drops it
        s.startSweeper();
        const at: number[] = [];
        for (const ms of [999, 1, 58_999, 1]) { vi.advanceTimersByTime(ms); at.push(s.stats().revocations_swept_total!); }
        s.stop();
        return at;
      };
      expect(swept({ sweepIntervalMs: 1_000 })).toEqual([0, 1, 1, 1]);
      expect(swept({})).toEqual([0, 0, 0, 1]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses an already-expired revocation', () => {
    const s = fresh();
    expect(s.apply(rec({ kind: 'jti', value: 'old', expiresAt: T0 - 1 - LINGER_S }))).toBe('expired');
    expect(s.size).toBe(0);
    expect(s.apply(rec({ kind: 'jti', value: 'recent', expiresAt: T0 - 1 }))).toBe('applied'); // within the linger: a token may still pass
    expect(s.size).toBe(1);
  });

  it('a longer-lived duplicate key survives the sweep of the shorter one', () => {
    const s = fresh();
    s.apply(rec({ kind: 'jti', value: 'k', expiresAt: T0 + 100 }));
    s.apply(rec({ kind: 'jti', value: 'k', expiresAt: T0 + 10 }));
    clock.now = (T0 + 11 + LINGER_S) * 1000;
    expect(s.sweep()).toBe(1);
    expect(s.isRevoked(tok({ jti: 'k' }))).toBe(true);
  });

  it('a longer-lived duplicate key applied after the shorter one survives its sweep', () => {
    const s = fresh();
    s.apply(rec({ kind: 'jti', value: 'k', expiresAt: T0 + 10 }));
    s.apply(rec({ kind: 'jti', value: 'k', expiresAt: T0 + 100 }));
    clock.now = (T0 + 11 + LINGER_S) * 1000;
    expect(s.sweep()).toBe(1);
    expect(s.isRevoked(tok({ jti: 'k' }))).toBe(true);
  });

  it('counts entries per kind', () => {
    const s = fresh();
    s.apply(rec({ kind: 'kid', value: 'a' }));
    s.apply(rec({ kind: 'sub', value: 'a', before: T0 }));
    expect(s.stats()).toMatchObject({ revocations_entries: 2, revocations_entries_kid: 1, revocations_entries_sub: 1, revocations_entries_jti: 0 });
  });
});

describe('RevocationStore bounds', () => {
  const clock = { now: T0 * 1000 };

  it('refuses (full) beyond max_entries without evicting anything, after sweeping what expired', () => {
    clock.now = T0 * 1000;
    const s = new RevocationStore(() => clock.now, { maxEntries: 2 });
    expect(s.apply(rec({ kind: 'jti', value: 'a', expiresAt: T0 + 10 }))).toBe('applied');
    expect(s.apply(rec({ kind: 'jti', value: 'b' }))).toBe('applied');
    const c = rec({ kind: 'jti', value: 'c' });
    expect(s.hasRoom(c)).toBe(false);
    expect(s.apply(c)).toBe('full');
    expect(s.isRevoked(tok({ jti: 'a' })) && s.isRevoked(tok({ jti: 'b' }))).toBe(true);
    expect(s.stats()).toMatchObject({ revocations_entries: 2, revocations_refused_full_total: 1 });
    clock.now = (T0 + 11 + LINGER_S) * 1000; // 'a' is over: its room is found again
    expect(s.apply(c)).toBe('applied');
    expect(s.isRevoked(tok({ jti: 'c' }))).toBe(true);
  });

  it('max_bytes counts the strings: one long entry can fill what many short ones do not', () => {
    const s = new RevocationStore(() => T0 * 1000, { maxBytes: 4_000 });
    for (let i = 0; i < 5; i++) expect(s.apply(rec({ kind: 'jti', value: `short-${i}` }))).toBe('applied');
    expect(s.apply(rec({ kind: 'jti', value: 'x'.repeat(1024), issuer: 'https://'.padEnd(1000, 'i'), reason: 'r'.repeat(512) }))).toBe('full');
    expect(s.limits()).toMatchObject({ maxBytes: 4_000 });
    expect(s.limits().bytes).toBeLessThanOrEqual(4_000);
  });

  it('the linger follows the largest issuer clock_skew_s (twice it, at least 120 s), is read at every apply and sweep, and is never lowered', () => {
    expect(lingerFor({ issuers: {} })).toBe(120);
    expect(lingerFor({ issuers: { a: { clock_skew_s: 30 }, b: {} } })).toBe(120);
    expect(lingerFor({ issuers: { a: { clock_skew_s: 30 }, b: { clock_skew_s: 300 } } })).toBe(600);
    expect(lingerFor({ issuers: { a: { clock_skew_s: Number.NaN } } }), 'a value no validated config has: the largest the schema allows').toBe(1_200);
    clock.now = T0 * 1000;
    let skews: Record<string, { clock_skew_s: number }> = { a: { clock_skew_s: 60 } };
    const s = new RevocationStore(() => clock.now, { lingerS: () => lingerFor({ issuers: skews }) });
    expect(s.apply(rec({ kind: 'jti', value: 'past', expiresAt: T0 - 200 }))).toBe('expired');
    s.apply(rec({ kind: 'jti', value: 'held', expiresAt: T0 - 100 }));
    skews = { a: { clock_skew_s: 300 } }; // a reload raises the skew: the entry held stays 600 s past its expiry
    clock.now = (T0 + 100) * 1000;
    expect(s.sweep()).toBe(0);
    expect(s.isRevoked(tok({ jti: 'held' }))).toBe(true);
    expect(s.apply(rec({ kind: 'jti', value: 'past', expiresAt: T0 - 200 }))).toBe('applied');
    skews = { a: { clock_skew_s: 10 } }; // lowered again: not below what it was raised to
    clock.now = (T0 + 399) * 1000;
    expect(s.sweep()).toBe(0);
    expect(s.stats().revocations_linger_seconds).toBe(600);
    clock.now = (T0 + 501) * 1000;
    expect(s.sweep()).toBe(2);
  });
});
