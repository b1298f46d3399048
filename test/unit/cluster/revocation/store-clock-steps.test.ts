// The revocation store under a stepped wall clock: an entry leaves only once both the wall and the
// monotonic clock say every token it matches has expired. Before, a wall clock stepped forward an hour
// swept every revocation of a token with less than an hour left; NTP stepping it back then let the
// revoked token through again (its exp was in the future once more, its revocation gone).
import { describe, expect, it } from 'vitest';
import type { RevocationRecord } from '../../../../cluster/protocol/index.js';
import { RevocationStore } from '../../../../cluster/revocation/index.js';

const T0 = 1_700_000_000; // epoch s
const rec = (p: Partial<RevocationRecord> & Pick<RevocationRecord, 'kind' | 'value'>): RevocationRecord =>
  ({ id: `r-${p.kind}-${p.value}`, issuer: null, before: null, expiresAt: T0 + 600, reason: null, createdAt: T0 * 1000, origin: 'test', ...p });

describe('RevocationStore under a stepped wall clock', () => {
  it('stepped forward an hour and back: a sweep meanwhile keeps the entries whose tokens are still live in real time', () => {
    const clock = { wall: T0 * 1000, mono: 5_000 };
    const s = new RevocationStore(() => clock.wall, { mono: () => clock.mono });
    s.apply(rec({ kind: 'jti', value: 'j1' })); // the token expires in 10 min
    s.apply(rec({ kind: 'sub', value: 'alice', before: T0 }));
    const token = { tokenHash: 'f'.repeat(64), jti: 'j1' };
    const alices = { tokenHash: 'e'.repeat(64), sub: 'alice', iat: T0 - 5 };
    expect(s.sweep()).toBe(0);
    clock.wall += 3_600_000; // a bad NTP source steps the wall clock forward an hour
    clock.mono += 1_000;
    expect(s.sweep()).toBe(0); // before: 2 (both revocations gone)
    expect(s.list()).toHaveLength(2);
    clock.wall -= 3_600_000; // NTP steps it back: the tokens' exp is ahead again
    clock.mono += 1_000;
    expect(s.isRevoked(token)).toBe(true);
    expect(s.isRevoked(alices)).toBe(true);
    // they leave once the real time has passed (monotonic clock): expiry + the 120 s linger
    clock.wall += 720_000;
    clock.mono += 720_000;
    expect(s.sweep()).toBe(2);
  });

  it('a revocation arriving while the wall clock is stepped forward past its expiry is stored, not dropped as expired', () => {
    const clock = { wall: T0 * 1000, mono: 0 };
    const s = new RevocationStore(() => clock.wall, { mono: () => clock.mono });
    s.sweep(); // the store has read its clocks before the step
    clock.wall += 3_600_000;
    expect(s.apply(rec({ kind: 'jti', value: 'j2' }))).toBe('applied'); // before: 'expired'
  });

  it('a step before the store first read its clocks is still seen as a step (regression: taken for the offset)', () => {
    const clock = { wall: T0 * 1000, mono: 0 };
    const s = new RevocationStore(() => clock.wall, { mono: () => clock.mono }); // built at boot; nothing read yet
    clock.wall += 3_600_000;
    expect(s.apply(rec({ kind: 'jti', value: 'j4' }))).toBe('applied'); // before: 'expired'
  });

  it('stepped back: entries are kept for the step (the longer way), never dropped early', () => {
    const clock = { wall: T0 * 1000, mono: 0 };
    const s = new RevocationStore(() => clock.wall, { mono: () => clock.mono });
    s.apply(rec({ kind: 'jti', value: 'j3' }));
    clock.wall -= 3_600_000;
    clock.mono += 721_000; // past expiry + linger in real time, but the wall clock says an hour before
    expect(s.sweep()).toBe(0);
    expect(s.isRevoked({ tokenHash: 'f'.repeat(64), jti: 'j3' })).toBe(true);
  });

  it('after a lasting step forward (a suspend, NTP correcting a clock that was behind) a full store still takes new revocations', () => {
    const clock = { wall: T0 * 1000, mono: 0 };
    const s = new RevocationStore(() => clock.wall, { mono: () => clock.mono, maxEntries: 2 });
    s.sweep(); // the store has read its clocks at boot
    clock.wall += 86_400_000; // the wall clock steps a day forward and stays there (the monotonic clock did not count it)
    const day = T0 + 86_400;
    // made after the step, by a peer or here: their origin's clock reads the day too
    expect(s.apply(rec({ kind: 'jti', value: 'a', expiresAt: day + 600, createdAt: day * 1000 }))).toBe('applied');
    expect(s.apply(rec({ kind: 'jti', value: 'b', expiresAt: day + 600, createdAt: day * 1000 }))).toBe('applied');
    // both clocks move on past expiry + linger: every token the two entries match has expired by either clock
    clock.wall += 721_000;
    clock.mono += 721_000;
    // before: 'full' (507) for a day — the held-back clock still read the day before
    expect(s.apply(rec({ kind: 'jti', value: 'c', expiresAt: day + 3_600 }))).toBe('applied');
    expect(s.isRevoked({ tokenHash: 'f'.repeat(64), jti: 'c' })).toBe(true);
  });

  it('a full store keeps revocations from a right clock that arrived while the wall clock was stepped forward: a step back after it finds them', () => {
    const clock = { wall: T0 * 1000, mono: 0 };
    const s = new RevocationStore(() => clock.wall, { mono: () => clock.mono, maxEntries: 2 });
    s.sweep(); // the store has read its clocks at boot
    clock.wall += 3_600_000; // a bad NTP source steps this member an hour forward
    clock.mono += 1_000;
    // a peer with a right clock revokes two tokens that have 10 min left in real time
    expect(s.apply(rec({ kind: 'jti', value: 'a', createdAt: T0 * 1000 + 1_000 }))).toBe('applied');
    expect(s.apply(rec({ kind: 'jti', value: 'b', createdAt: T0 * 1000 + 1_000 }))).toBe('applied');
    clock.wall += 2_000;
    clock.mono += 2_000;
    // the store is full: this one is refused (507, closed) rather than making room by dropping live ones
    expect(s.apply(rec({ kind: 'jti', value: 'c', expiresAt: T0 + 900, createdAt: T0 * 1000 + 3_000 }))).toBe('full');
    clock.wall -= 3_600_000; // NTP steps back: the tokens' exp is 10 min ahead again
    clock.mono += 1_000;
    // before: both false — the full store's fallback sweep had taken the stepped wall clock at their arrival for
    // the real time and dropped them, so the revoked tokens were accepted again
    expect(s.isRevoked({ tokenHash: 'f'.repeat(64), jti: 'a' })).toBe(true);
    expect(s.isRevoked({ tokenHash: 'f'.repeat(64), jti: 'b' })).toBe(true);
  });

  it('built inside a step forward, given the offset known before (a worker its primary replaced then): replayed revocations of live tokens are kept', () => {
    const clock = { wall: (T0 + 3_600) * 1000, mono: 0 };
    const s = new RevocationStore(() => clock.wall, { mono: () => clock.mono, knownOffsetMs: T0 * 1000 });
    // before: 'expired' — the stepped clock, read first, was taken for the offset
    expect(s.apply(rec({ kind: 'jti', value: 'j5' }))).toBe('applied');
    clock.wall -= 3_600_000;
    clock.mono += 1_000;
    expect(s.isRevoked({ tokenHash: 'f'.repeat(64), jti: 'j5' })).toBe(true);
  });
});
