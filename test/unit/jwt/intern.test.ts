import { describe, expect, it } from 'vitest';
import { deserialize, serialize } from 'node:v8';
import { Interner, SHARED_CLAIMS } from '../../../node/jwt/intern.js';

// Claims as they come back from a verifier worker: a fresh structured clone per token.
const cloned = <T>(o: T): T => deserialize(serialize(o)) as T;

describe('Interner', () => {
  it('keeps claim values and the scope list unchanged', () => {
    const i = new Interner();
    const c = i.claims(cloned({ iss: 'https://as', aud: ['a', 'b'], scope: 'x  y', sub: 'u1', jti: 'j1', client_id: 'c' }));
    expect(c).toEqual({ iss: 'https://as', aud: ['a', 'b'], scope: 'x  y', sub: 'u1', jti: 'j1', client_id: 'c' });
    expect(i.scopes(c)).toEqual(['x', 'y']);
    expect(i.scopes({ scp: ['p', 3, 'q'] })).toEqual(['p', 'q']);
    expect(i.scopes({ scp: 'p q' })).toEqual(['p', 'q']);
    expect(i.scopes({})).toEqual([]);
    expect(Object.isFrozen(i.scopes(c))).toBe(true);
  });

  it('shares one scope array between tokens with the same scope string', () => {
    const i = new Interner();
    const a = i.claims(cloned({ scope: 'orders:read orders:write' }));
    const b = i.claims(cloned({ scope: 'orders:read orders:write' }));
    expect(i.scopes(a)).toBe(i.scopes(b));
    expect(i.scopes(a)).not.toBe(i.scopes(i.claims(cloned({ scope: 'orders:read' }))));
  });

  it('every shared claim keeps its own value, whatever its type (one named access per claim, none crossed)', () => {
    const i = new Interner();
    const values = (k: string): unknown[] => [`${k}-v`, [`${k}-a`, 7, `${k}-b`], 42, { k }, null, true];
    for (let n = 0; n < values('x').length; n++) {
      const src: Record<string, unknown> = { sub: 'u', extra: 'e' };
      for (const k of SHARED_CLAIMS) src[k] = values(k)[n];
      const out = i.claims(cloned(src));
      expect(out).toEqual(src);
      expect(Object.keys(out)).toEqual(Object.keys(src));
    }
    // absent claims stay absent
    expect(Object.keys(i.claims(cloned({ sub: 'u' })))).toEqual(['sub']);
  });

  it('stays bounded: a full table is dropped and refilled, values stay correct', () => {
    const i = new Interner(8);
    for (let n = 0; n < 100; n++) expect(i.string(`v${n}`)).toBe(`v${n}`);
    for (let n = 0; n < 100; n++) expect(i.scopes({ scope: `s${n} t` })).toEqual([`s${n}`, 't']);
  });
});
