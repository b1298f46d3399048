// How long a 429/503 from the authorization server holds the introspection client's calls:
// its Retry-After as delta-seconds or an HTTP-date (a 429 without one: 1 s; a 503 without one: none), never over 60 s.
import { describe, it, expect } from 'vitest';
import { DEFAULT_SERVER_HOLD_MS, MAX_SERVER_HOLD_MS, retryAfterMs, serverHoldMs } from '../../../node/introspection/server-hold.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP-dates; absent or garbage is null; a past date is 0', () => {
    expect(retryAfterMs('7', NOW)).toBe(7_000);
    expect(retryAfterMs(['3', '9'], NOW)).toBe(3_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 12:00:20 GMT', NOW)).toBe(20_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 11:00:00 GMT', NOW)).toBe(0);
    expect(retryAfterMs(undefined, NOW)).toBeNull();
    expect(retryAfterMs('', NOW)).toBeNull();
    expect(retryAfterMs('-5', NOW)).toBeNull();
    expect(retryAfterMs('soon', NOW)).toBeNull();
  });
});

describe('serverHoldMs', () => {
  it('only 429 and 503 hold; other statuses (401 bad credentials, 500, 404) do not', () => {
    for (const s of [200, 400, 401, 403, 404, 500, 502]) expect(serverHoldMs(s, '30', NOW)).toBe(0);
    expect(serverHoldMs(429, '30', NOW)).toBe(30_000);
    expect(serverHoldMs(503, '30', NOW)).toBe(30_000);
  });

  it('a 503 without a usable Retry-After is not held (one failed node behind a balancer)', () => {
    expect(serverHoldMs(503, undefined, NOW)).toBe(0);
    expect(serverHoldMs(503, 'later', NOW)).toBe(0);
  });

  it('1 s for a 429 without a usable Retry-After (or for 0), at most 60 s whatever it asks', () => {
    expect(serverHoldMs(429, undefined, NOW)).toBe(DEFAULT_SERVER_HOLD_MS);
    expect(serverHoldMs(429, 'later', NOW)).toBe(DEFAULT_SERVER_HOLD_MS);
    expect(serverHoldMs(503, '0', NOW)).toBe(DEFAULT_SERVER_HOLD_MS);
    expect(serverHoldMs(429, '86400', NOW)).toBe(MAX_SERVER_HOLD_MS);
    expect(serverHoldMs(429, '1000000000000000000000', NOW)).toBe(MAX_SERVER_HOLD_MS);
    expect(serverHoldMs(503, 'Fri, 01 Jan 2100 00:00:00 GMT', NOW)).toBe(MAX_SERVER_HOLD_MS);
  });
});
