// What a member accepts from a peer's introspection result: the shape, the size, and a
// lifetime capped by its own TTLs and the claims' exp, counted from the signing time.
import { describe, expect, it } from 'vitest';
import { boundResult, MAX_CLAIMS_CHARS } from '../../../../cluster/cache-sync/index.js';

const NOW = 1_700_000_000_000;
const ttl = { positiveTtlMs: 60_000, negativeTtlMs: 5_000 };

describe('boundResult', () => {
  it('keeps a result within the TTL as it is', () => {
    const r = { active: true, claims: { sub: 'a' }, expiresAt: NOW + 30_000 };
    expect(boundResult(r, ttl, NOW, NOW)).toEqual({ result: r, capped: false });
  });

  it('caps a ten-year expiry at the TTL from the signing time, and at exp', () => {
    const long = { active: true, claims: { sub: 'admin' }, expiresAt: NOW + 10 * 365 * 86_400_000 };
    expect(boundResult(long, ttl, NOW, NOW - 10_000)).toEqual({ result: { ...long, expiresAt: NOW + 50_000 }, capped: true });
    expect(boundResult({ ...long, claims: { sub: 'a', exp: NOW / 1000 + 20 } }, ttl, NOW, null)).toMatchObject({ result: { expiresAt: NOW + 20_000 }, capped: true });
    expect(boundResult({ active: false, claims: null, expiresAt: NOW + 3_600_000 }, ttl, NOW, NOW)).toMatchObject({ result: { expiresAt: NOW + 5_000 }, capped: true });
    // a signing time "in the future" does not extend it
    expect(boundResult(long, ttl, NOW, NOW + 20_000)).toMatchObject({ result: { expiresAt: NOW + 60_000 } });
  });

  it('refuses claims that do not match active, or too large ones', () => {
    expect(boundResult({ active: true, claims: null, expiresAt: NOW + 1 }, ttl, NOW, NOW)).toBe('invalid');
    expect(boundResult({ active: false, claims: { sub: 'x' }, expiresAt: NOW + 1 }, ttl, NOW, NOW)).toBe('invalid');
    expect(boundResult({ active: true, claims: { big: 'x'.repeat(MAX_CLAIMS_CHARS) }, expiresAt: NOW + 1 }, ttl, NOW, NOW)).toBe('invalid');
  });
});
