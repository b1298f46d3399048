// RevocationStore: a `sub` / `sub_without_sid` revocation holding `@` (an email address) matches every
// spelling of it that folds alike (Unicode NFC, lower case), scoped and cut as the exact one; other subs,
// client_id and issuers stay exact; the folded key is swept with the last record under it.
import { describe, expect, it } from 'vitest';
import type { RevocationRecord } from '../../../../cluster/protocol/index.js';
import type { TokenFacts } from '../../../../node/contracts/index.js';
import { LINGER_S, RevocationStore, revocationBytes } from '../../../../cluster/revocation/index.js';

const T0 = 1_700_000_000; // epoch s
const ISS = 'https://as.example';
let n = 0;
function rec(p: Partial<RevocationRecord> & Pick<RevocationRecord, 'kind' | 'value'>): RevocationRecord {
  return { id: `f${++n}`, issuer: null, before: null, expiresAt: T0 + 3600, reason: null, createdAt: T0 * 1000, origin: 'test', ...p };
}
const tok = (f: Partial<TokenFacts>): TokenFacts => ({ tokenHash: 'f'.repeat(64), iss: ISS, iat: T0 - 10, ...f });

describe('RevocationStore: email-like subs folded', () => {
  const clock = { now: T0 * 1000 };
  const fresh = (): RevocationStore => { clock.now = T0 * 1000; return new RevocationStore(() => clock.now); };

  it('a sub revocation Heidi@Example.COM refuses heidi@example.com and HEIDI@EXAMPLE.COM, not heidi2@example.com', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub', value: 'Heidi@Example.COM', issuer: ISS, before: T0 }));
    expect(s.isRevoked(tok({ sub: 'heidi@example.com' }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 'HEIDI@EXAMPLE.COM' }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 'heidi2@example.com' }))).toBe(false);
    expect(s.isRevoked(tok({ sub: 'heidi@example.com', iss: 'https://other.example' }))).toBe(false); // scoped as the exact key
    expect(s.isRevoked(tok({ sub: 'heidi@example.com', iat: T0 + 1 }))).toBe(false); // the cut holds
  });

  it('folds the token side too, and Unicode compositions alike', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub', value: 'judy@ex\u00e4mple.com', before: T0 }));
    expect(s.isRevoked(tok({ sub: 'JUDY@EXA\u0308MPLE.COM' }))).toBe(true);
  });

  it('sub_without_sid folds and still spares tokens with a sid; subs without @ and client_id stay exact', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub_without_sid', value: 'Kim@Example.com', issuer: ISS, before: T0 }));
    s.apply(rec({ kind: 'sub', value: 'Alice', issuer: ISS, before: T0 }));
    s.apply(rec({ kind: 'client_id', value: 'App@Corp', issuer: ISS, before: T0 }));
    expect(s.isRevoked(tok({ sub: 'kim@example.com' }))).toBe(true);
    expect(s.isRevoked(tok({ sub: 'kim@example.com', sid: 's1' }))).toBe(false);
    expect(s.isRevoked(tok({ sub: 'alice' }))).toBe(false);
    expect(s.isRevoked(tok({ clientId: 'app@corp' }))).toBe(false);
  });

  it('two spellings merge under one folded key: the latest cut wins, and the key goes with the last of them', () => {
    const s = fresh();
    s.apply(rec({ kind: 'sub', value: 'lee@example.com', before: T0 - 100, expiresAt: T0 + 60 }));
    s.apply(rec({ kind: 'sub', value: 'LEE@example.com', before: T0, expiresAt: T0 + 600 }));
    expect(s.isRevoked(tok({ sub: 'Lee@Example.com', iat: T0 - 50 }))).toBe(true);
    clock.now = (T0 + 60 + LINGER_S + 1) * 1000;
    expect(s.sweep()).toBe(1);
    expect(s.isRevoked(tok({ sub: 'Lee@Example.com', iat: T0 - 50 }))).toBe(true); // the later record still stands
    clock.now = (T0 + 600 + LINGER_S + 1) * 1000;
    expect(s.sweep()).toBe(1);
    expect(s.isRevoked(tok({ sub: 'Lee@Example.com', iat: T0 - 50 }))).toBe(false);
  });

  it('counts the folded key in the byte estimate', () => {
    const plain = rec({ kind: 'sub', value: 'plainuser.example.com', issuer: ISS });
    const email = rec({ kind: 'sub', value: 'plainuser@example.com', issuer: ISS });
    expect(revocationBytes(email)).toBeGreaterThan(revocationBytes(plain));
  });
});
