// The case reading's folding of escaped non-ASCII characters onto ASCII: checked against ICU's
// NFKC over every code point, so a Unicode update that adds a compatibility form is noticed.
import { describe, it, expect } from 'vitest';
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
});
