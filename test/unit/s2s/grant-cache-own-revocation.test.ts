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

  it('a sub, client_id, sid or kid revocation looks only at the values carrying it, not the whole cache', async () => {
    // before: every such revocation asked the revocation check about every cached value (10 000 by
    // default, ~5 ms each time): a storm of logouts held the event loop the proxy's traffic runs on
    const cache = new TokenBoundCache(1_000, REVOKED);
    for (let i = 0; i < 1_000; i++) {
      const g: Grant = { ok: true, authorization: `Bearer t${i}`, useUntil: Date.now() + 600_000, facts: { tokenHash: `h${i}`, jti: `j${i}`, sub: `user${i}`, clientId: `app${i % 2}`, sid: `s${i}`, kid: i < 10 ? 'k1' : 'k2', iss: ISS } };
      await cache.get(`in${i}`, 'aud', null, async () => g);
    }
    // the revocation check as the store answers it: the subjects and sessions revoked so far
    const revoked = new Set<string>();
    let asked = 0;
    const check = (f: { sub?: string | undefined; sid?: string | undefined }): boolean => { asked++; return revoked.has(f.sub ?? '') || revoked.has(f.sid ?? ''); };
    revoked.add('someone-else');
    expect(cache.revokeOwn({ kind: 'sub', value: 'someone-else' }, check)).toBe(0);
    expect(asked).toBe(0);
    revoked.add('user7');
    expect(cache.revokeOwn({ kind: 'sub', value: 'user7' }, check)).toBe(1);
    expect(asked).toBe(1);
    revoked.add('s8');
    expect(cache.revokeOwn({ kind: 'sid', value: 's8' }, check)).toBe(1);
    expect(cache.revokeOwn({ kind: 'kid', value: 'k1' }, null)).toBe(8); // user7 and user8 went already
    expect(cache.revokeOwn({ kind: 'kid', value: 'k1' }, null)).toBe(0);
    // a value loaded again is found under its new claims, the dropped one is not
    expect(await cache.get('in7', 'aud', null, async () => ({ ok: true, authorization: 'Bearer again', useUntil: Date.now() + 600_000, facts: { tokenHash: 'h-again', sub: 'user7', kid: 'k3', iss: ISS } }))).toBe('Bearer again');
    expect(cache.revokeOwn({ kind: 'kid', value: 'k3' }, null)).toBe(1);
    expect(cache.revokeOwn({ kind: 'client_id', value: 'app1' }, () => true)).toBe(495);
    // sub_without_sid: found by the sub it names (an outbound token of that user without a sid), judged by the check
    asked = 0;
    expect(cache.revokeOwn({ kind: 'sub_without_sid', value: 'user20' }, () => { asked++; return true; })).toBe(1);
    expect(asked).toBe(1);
  });
});
