// The token cache's key with its memo of recent tokens: always the token's own SHA-256, whatever
// shares its memo slot, so the cache can never serve one token's verdict for another.
import { hash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { DIGEST_MEMO_MAX_CHARS, DIGEST_MEMO_SLOTS, TokenDigests } from '../../../node/jwt/token-digest.js';

const sha = (s: string): string => hash('sha256', s, 'hex');

describe('TokenDigests', () => {
  it('answers a repeated token from the memo with the same digest', () => {
    const d = new TokenDigests();
    const t = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.${'s'.repeat(300)}Abcde`;
    expect(d.of(t)).toBe(sha(t));
    // a fresh string with the same content, as uWS hands every request
    // remembered from its second sighting: the third is a hit
    expect(d.of(Buffer.from(t).toString('latin1'))).toBe(sha(t));
    expect(d.of(Buffer.from(t).toString('latin1'))).toBe(sha(t));
    expect(d.hits).toBe(1);
    expect(d.misses).toBe(2);
  });

  it('remembers a token only from its second miss in a row at its slot: one seen once neither stays nor displaces another', () => {
    const d = new TokenDigests();
    const a = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.${'A'.repeat(300)}XYZW1`;
    const b = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.${'B'.repeat(300)}XYZW1`; // same last characters: same slot
    d.of(a);
    d.of(a); // admitted
    expect(d.of(b)).toBe(sha(b)); // seen once: a stays
    const hits = d.hits;
    expect(d.of(a)).toBe(sha(a));
    expect(d.hits).toBe(hits + 1);
    // distinct tokens, each once: nothing is remembered, so none of them hits when it comes back after the others
    const e = new TokenDigests();
    const once = Array.from({ length: 64 }, (_, k) => `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ${k}In0.${'C'.repeat(200)}${String(k).padStart(5, 'q')}`);
    for (const t of once) e.of(t);
    for (const t of once) expect(e.of(t)).toBe(sha(t));
    expect(e.hits).toBe(0);
  });

  it('gives tokens that share a slot their own digests (same last characters, different payload)', () => {
    const d = new TokenDigests();
    const a = 'header.payloadA.signatureXYZW1';
    const b = 'header.payloadB.signatureXYZW1';
    for (let round = 0; round < 3; round++) {
      expect(d.of(a)).toBe(sha(a));
      expect(d.of(b)).toBe(sha(b));
    }
    expect(d.hits).toBe(0); // they evict each other, never share
  });

  it('hashes tokens too long for the memo every time, and short or empty strings correctly', () => {
    const d = new TokenDigests();
    const long = 'x'.repeat(DIGEST_MEMO_MAX_CHARS + 1);
    expect(d.of(long)).toBe(sha(long));
    expect(d.of(long)).toBe(sha(long));
    expect(d.hits + d.misses).toBe(0);
    for (const s of ['', 'a', 'ab', 'abcd']) expect(d.of(s)).toBe(sha(s));
  });

  it('is the SHA-256 of every token in any sequence (property)', () => {
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 3 * DIGEST_MEMO_SLOTS }), (tokens) => {
      const d = new TokenDigests();
      // repeat the sequence so some lookups hit
      for (const t of [...tokens, ...tokens]) if (d.of(t) !== sha(t)) return false;
      return true;
    }), { numRuns: 50 });
  });

  it('forgets every token on clear', () => {
    const d = new TokenDigests();
    d.of('token-one-12345');
    d.clear();
    expect(d.of('token-one-12345')).toBe(sha('token-one-12345'));
    expect(d.hits).toBe(0);
  });
});
