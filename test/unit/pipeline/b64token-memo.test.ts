// extract's b64token check with its memo of recent tokens: the same answer as RFC 6750's b64token
// grammar for every string in every order, and a repeated token answered with the remembered instance.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { B64TOKEN, b64token } from '../../../node/pipeline/b64token-memo.js';
import { extract } from '../../../node/pipeline/extract.js';
import { compiled, ctxFor, route } from './pipeline-helpers.js';

const fresh = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');

describe('b64token', () => {
  it('hands a repeated token on as the remembered instance, equal in content', () => {
    const t = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.${'Q'.repeat(300)}memoA`;
    const first = b64token(fresh(t), t.length);
    const again = fresh(t);
    const second = b64token(again, again.length);
    expect(second).toBe(t);
    expect(Object.is(second, first)).toBe(true);
  });

  it('refuses a string that shares a remembered token\'s slot but is not a b64token', () => {
    const good = 'abc.def.ghi12345';
    const bad = 'abc def.ghi12345'; // same last characters: same slot
    expect(b64token(good, good.length)).toBe(good);
    expect(b64token(bad, bad.length)).toBeNull();
    expect(b64token(good, good.length)).toBe(good);
    expect(b64token('x'.repeat(5000) + ' ', 5001)).toBeNull(); // longer than the memo keeps
    expect(b64token('', 0)).toBeNull();
  });

  it('agrees with the b64token grammar for any sequence of strings (property)', () => {
    const alphabet = fc.constantFrom(...'AZaz09-._~+/= \t\r\n,;"'.split(''));
    fc.assert(fc.property(fc.array(fc.string({ unit: alphabet, maxLength: 24 }), { minLength: 1, maxLength: 200 }), (vs) => {
      for (const v of [...vs, ...vs]) {
        const r = b64token(fresh(v), v.length + (v.length % 3) * 100); // some as cut from a long source
        if (B64TOKEN.test(v) ? r !== v : r !== null) return false;
      }
      return true;
    }), { numRuns: 200 });
  });

  it('keeps a token cut from a much longer source as a copy, equal in content, and hands that copy on', () => {
    const tok = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.${'Z'.repeat(200)}memoC`;
    const cookieHeader = `${'pad=' + 'p'.repeat(8000)}; at=${tok}`;
    const cut = cookieHeader.slice(cookieHeader.length - tok.length);
    const kept = b64token(cut, cookieHeader.length);
    expect(kept).toBe(tok);
    // the next request's equal token gets the kept instance
    expect(Object.is(b64token(fresh(tok), tok.length), kept)).toBe(true);
  });

  it('extract answers a repeated Bearer token and then the same token with a bad byte as before', () => {
    const R = compiled(route({}));
    const tok = `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.${'c'.repeat(40)}memoB`;
    for (let i = 0; i < 2; i++) {
      const ctx = ctxFor(R, { headers: ['authorization', fresh(`Bearer ${tok}`)] });
      expect(extract(ctx).kind).toBe('continue');
      expect(ctx.token).toBe(tok);
    }
    const bad = ctxFor(R, { headers: ['authorization', `Bearer ${tok.slice(0, 10)}"${tok.slice(11)}`] });
    const r = extract(bad);
    expect(r.kind === 'deny' ? r.reason : 'continue').toBe('malformed_authorization');
  });
});
