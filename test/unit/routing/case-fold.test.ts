// The case reading's folding of escaped non-ASCII characters onto ASCII: checked against ICU's
// NFKC over every code point, so a Unicode update that adds a compatibility form is noticed.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { foldAsciiLookalikes } from '../../../node/routing/case-fold.js';

const esc = (c: string, lower = false): string => [...Buffer.from(c, 'utf8')].map((b) => '%' + b.toString(16)[lower ? 'toLowerCase' : 'toUpperCase']()).join('');

describe('foldAsciiLookalikes', () => {
  it('reads every character whose NFKC form is unreserved ASCII as that ASCII; others (a sample) stay escaped', () => {
    let folded = 0;
    const wrong: string[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp < 0xe000) continue;
      const c = String.fromCodePoint(cp);
      const n = c.normalize('NFKC');
      const java = cp === 0x130 || cp === 0x131 ? 'i' : cp === 0x212a ? 'k' : null; // Java folds İ ı; K is NFKC's K, read as k
      const ascii = java ?? (n !== c && /^[A-Za-z0-9\-._~]+$/.test(n) ? n : null);
      if (ascii !== null) folded++;
      else if (cp % 53 !== 0) continue; // the others: a sample is read back unchanged
      if (foldAsciiLookalikes(`/x${esc(c)}/y`) !== `/x${ascii ?? esc(c)}/y`) wrong.push(`U+${cp.toString(16)}`);
    }
    expect(wrong).toEqual([]);
    expect(folded).toBeGreaterThan(1000);
  });

  it('folds inside runs of other escapes, in any hex case, and leaves invalid UTF-8 alone', () => {
    expect(foldAsciiLookalikes('/%E6%97%A5%EF%BD%81%C3%A9/%ef%bd%82')).toBe('/%E6%97%A5a%C3%A9/b');
    expect(foldAsciiLookalikes('/adm%C4%B0n/%C5%BFx/%E2%84%AA')).toBe('/admin/sx/k');
    for (const p of ['/%EF%BD', '/%BD%81', '/%EF%BD/%81', '/%C0%AE', '/%F5%80%80%80', '/%20%3B', '/a', '/%']) expect(foldAsciiLookalikes(p), p).toBe(p);
  });

  it('reads escaped bytes as a strict UTF-8 decoder does: overlong forms, surrogates, past U+10FFFF, truncated runs stay escaped', () => {
    // the reference: each candidate sequence through TextDecoder({ fatal: true }), folded only when it is one code point
    const strict = new TextDecoder('utf-8', { fatal: true });
    const reading = (s: string, cp: number): string | null => {
      const n = s.normalize('NFKC');
      return cp === 0x130 || cp === 0x131 ? 'i' : cp === 0x17f ? 's' : cp === 0x212a ? 'k' : n !== s && /^[A-Za-z0-9\-._~]+$/.test(n) ? n : null;
    };
    const reference = (path: string): string => {
      let out = '';
      for (let i = 0; i < path.length;) {
        const bytes: number[] = [];
        for (let j = i; bytes.length < 4 && /^%[0-9A-Fa-f]{2}/.test(path.slice(j, j + 3)); j += 3) bytes.push(parseInt(path.slice(j + 1, j + 3), 16));
        if (bytes.length === 0) { out += path[i++]; continue; }
        const lead = bytes[0]!;
        const n = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 0;
        let c: string | null = null;
        try { c = n > 0 && bytes.length >= n ? strict.decode(new Uint8Array(bytes.slice(0, n))) : null; } catch { c = null; }
        const ascii = c === null ? null : reading(c, c.codePointAt(0)!);
        out += ascii ?? path.slice(i, i + (c === null ? 3 : 3 * n));
        i += c === null ? 3 : 3 * n;
      }
      return out;
    };
    const byte = fc.oneof(fc.integer({ min: 0x80, max: 0xff }), fc.constantFrom(0xc4, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf8, 0xfc, 0x84, 0x8f, 0x90, 0x9f, 0xa0, 0xb0, 0xbc, 0xbd));
    const piece = fc.oneof(
      fc.tuple(fc.array(byte, { minLength: 1, maxLength: 5 }), fc.boolean()).map(([bs, lower]) => bs.map((b) => `%${b.toString(16)[lower ? 'toLowerCase' : 'toUpperCase']()}`).join('')),
      fc.constantFrom('a', '/', '%', '%4', '%E', '%41'),
    );
    fc.assert(fc.property(fc.array(piece, { maxLength: 8 }), (ps) => { const p = '/' + ps.join(''); expect(foldAsciiLookalikes(p)).toBe(reference(p)); }), { numRuns: 3000 });
    // overlong İ (%E0%84%B0, %F0%80%84%B0) and fullwidth Ａ (%F0%8F%BC%A1), a surrogate, U+110000
    for (const p of ['/%E0%84%B0', '/%F0%80%84%B0', '/%F0%8F%BC%A1', '/%ED%A0%80', '/%F4%90%80%80']) expect(foldAsciiLookalikes(p), p).toBe(p);
  });
});
