// TokenBoundCache after an upstream's 401 invalid_token: the refused value is dropped (the next get
// loads a new one), a newer value is kept, and a slot drops at most once per REFUSAL_COOLDOWN_MS.
import { describe, expect, it } from 'vitest';
import { proxyError } from '../../../node/errors.js';
import { TokenBoundCache, type Deny, type Grant } from '../../../node/s2s/grant-cache.js';
import { REFUSAL_COOLDOWN_MS } from '../../../node/s2s/upstream-refusal.js';

const REVOKED: Deny = { kind: 'deny', reason: 'revoked', error: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'revoked') };

describe('TokenBoundCache.refused', () => {
  it('drops the refused value once per cool-down; a replaced value is left alone', async () => {
    let now = 1_000_000;
    let n = 0;
    const cache = new TokenBoundCache(10, REVOKED, () => now, () => now);
    const load = async (): Promise<Grant> => ({ ok: true, authorization: `Bearer t${++n}`, useUntil: now + 600_000 });
    expect(await cache.get('h', 'aud', null, load)).toBe('Bearer t1');
    expect(cache.refused('h', 'aud', 'Bearer t1')).toBe('evicted');
    expect(await cache.get('h', 'aud', null, load)).toBe('Bearer t2');
    // a late refusal of the old value (a request in flight meanwhile): t2 stays
    expect(cache.refused('h', 'aud', 'Bearer t1')).toBe('replaced');
    expect(cache.get('h', 'aud', null, load)).toBe('Bearer t2');
    // t2 refused within the cool-down: kept, no new load
    now += REFUSAL_COOLDOWN_MS - 1;
    expect(cache.refused('h', 'aud', 'Bearer t2')).toBe('throttled');
    expect(cache.get('h', 'aud', null, load)).toBe('Bearer t2');
    now += 1;
    expect(cache.refused('h', 'aud', 'Bearer t2')).toBe('evicted');
    expect(await cache.get('h', 'aud', null, load)).toBe('Bearer t3');
    expect(n).toBe(3);
    // another audience, another inbound token: their own slots
    expect(cache.refused('other', 'aud', 'Bearer t3')).toBe('replaced');
    expect(cache.get('h', 'aud', null, load)).toBe('Bearer t3');
  });

  it('the cool-down is measured on the monotonic clock, not the wall clock a step can move back', async () => {
    let wall = 1_000_000;
    let mono = 50_000;
    let n = 0;
    const cache = new TokenBoundCache(10, REVOKED, () => wall, () => mono);
    const load = async (): Promise<Grant> => ({ ok: true, authorization: `Bearer t${++n}`, useUntil: wall + 600_000 });
    expect(await cache.get('h', 'aud', null, load)).toBe('Bearer t1');
    expect(cache.refused('h', 'aud', 'Bearer t1')).toBe('evicted');
    expect(await cache.get('h', 'aud', null, load)).toBe('Bearer t2');
    wall -= 3_600_000; // stepped back an hour
    mono += REFUSAL_COOLDOWN_MS;
    expect(cache.refused('h', 'aud', 'Bearer t2')).toBe('evicted');
  });
});
