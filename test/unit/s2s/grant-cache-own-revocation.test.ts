// TokenBoundCache.revokeOwn: a revocation naming a cached outbound token itself drops it (the next get
// loads another); one scoped to another issuer, or naming another token, leaves it.
import { describe, expect, it } from 'vitest';
import { proxyError } from '../../../node/errors.js';
import { TokenBoundCache, type Deny, type Grant } from '../../../node/s2s/grant-cache.js';

const REVOKED: Deny = { kind: 'deny', reason: 'revoked', error: proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'revoked') };
const ISS = 'https://portcullis.internal';

describe('TokenBoundCache.revokeOwn', () => {
  it('by jti and hash in O(1), issuer-scoped; by kid and cuts in a scan', async () => {
    let n = 0;
    const cache = new TokenBoundCache(10, REVOKED);
    const load = async (): Promise<Grant> => {
      n++;
      return { ok: true, authorization: `Bearer t${n}`, useUntil: Date.now() + 600_000, facts: { tokenHash: `h${n}`, jti: `j${n}`, sub: 'alice', kid: 'k1', iss: ISS } };
    };
    expect(await cache.get('in', 'aud', null, load)).toBe('Bearer t1');
    expect(cache.revokeOwn({ kind: 'jti', value: 'j1', issuer: 'https://elsewhere' }, null)).toBe(0);
    expect(cache.revokeOwn({ kind: 'jti', value: 'j9' }, null)).toBe(0);
    expect(cache.get('in', 'aud', null, load)).toBe('Bearer t1');
    expect(cache.revokeOwn({ kind: 'jti', value: 'j1', issuer: ISS }, null)).toBe(1);
    expect(await cache.get('in', 'aud', null, load)).toBe('Bearer t2');
    expect(cache.revokeOwn({ kind: 'jti', value: 'j1' }, null)).toBe(0); // the old one is gone from the index
    expect(cache.revokeOwn({ kind: 'token', value: 'h2' }, null)).toBe(1);
    expect(await cache.get('in', 'aud', null, load)).toBe('Bearer t3');
    expect(cache.revokeOwn({ kind: 'kid', value: 'k1' }, null)).toBe(1);
    expect(await cache.get('in', 'aud', null, load)).toBe('Bearer t4');
    // a sub cut: judged by the revocation check; without one nothing is dropped
    expect(cache.revokeOwn({ kind: 'sub', value: 'alice' }, null)).toBe(0);
    expect(cache.revokeOwn({ kind: 'sub', value: 'alice' }, (f) => f.sub === 'alice')).toBe(1);
    expect(await cache.get('in', 'aud', null, load)).toBe('Bearer t5');
    // the inbound token's own revocation still drops the whole entry
    expect(cache.revoke('in')).toBe(true);
    expect(cache.revokeOwn({ kind: 'jti', value: 'j5' }, null)).toBe(0);
  });
});
