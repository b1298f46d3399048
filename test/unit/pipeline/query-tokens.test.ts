// The query scan's fast path (names scanned by char code, values skipped) against the full parse it
// stands in for: both give the same answer on queries built from the characters the readings turn on.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { queryTokens, queryTokensFull } from '../../../node/pipeline/query-tokens.js';
import { extract, compileSources, BEARER_ONLY } from '../../../node/pipeline/extract.js';
import { CONTINUE } from '../../../node/pipeline/context.js';
import { compiled, ctxFor, route } from './pipeline-helpers.js';

const R = compiled(route({}));

/** One letter of `access_token` as sent: itself, upper case, either escaped, or a char .NET folds to it. */
const letter = (ch: string): fc.Arbitrary<string> => {
  const hex = ch.charCodeAt(0).toString(16);
  const upperHex = ch.toUpperCase().charCodeAt(0).toString(16);
  const extra = ch === 's' ? ['\u017f', '%C5%BF'] : ch === 'k' ? ['\u212a', '%E2%84%AA'] : [];
  return fc.oneof({ weight: 4, arbitrary: fc.constant(ch) }, { weight: 2, arbitrary: fc.constant(ch.toUpperCase()) },
    fc.constantFrom(`%${hex}`, `%${hex.toUpperCase()}`, `%${upperHex}`), ...extra.map((x) => fc.constant(x)));
};
/** `w` in lower or upper case, or each letter drawn on its own. */
const word = (w: string): fc.Arbitrary<string> =>
  fc.oneof(fc.constantFrom(w, w.toUpperCase()), fc.tuple(...w.split('').map(letter)).map((xs) => xs.join('')));
const junk = fc.constantFrom('_', '.', ' ', '+', '[', ']', '\0', ';', '&', '=', '%', '%5F', '%2E', '%20', '%00', '%5B', '%5D', '%3D', '%3B',
  '%FF', '%zz', '%C4%B0', '%C4%B1', '\u0130', '\u0131', '\u00ff', 'x', '1', 'cc', 'CC', 'a', 'access', 'ACCESS');
const bits = fc.oneof({ weight: 2, arbitrary: fc.constant('') }, fc.array(junk, { minLength: 1, maxLength: 3 }).map((xs) => xs.join('')));
/** A name near `access_token`: junk around a spelling of `access`, a separator and `token`. */
const nearName = fc.tuple(bits, word('access'), fc.oneof({ weight: 3, arbitrary: fc.constant('_') }, fc.constantFrom('.', ' ', '+', '[', '%5F', '%2E', '%20', '%5B', '', 'x')), word('token'), bits)
  .map((xs) => xs.join(''));
const param = fc.tuple(fc.oneof(nearName, bits), fc.oneof(fc.constant(''), bits.map((v) => `=${v}`))).map(([n, v]) => n + v);
const query = fc.array(fc.tuple(param, fc.constantFrom('&', ';')), { maxLength: 4 }).map((ps) => ps.map(([p, sep], i) => (i === 0 ? p : sep + p)).join(''));

describe('queryTokens', () => {
  it('agrees with the full parse on random queries from the dangerous alphabet', () => {
    fc.assert(fc.property(query, (q) => { expect(queryTokens(q)).toEqual(queryTokensFull(q)); }), { numRuns: 3000 });
  });

  it('agrees with the full parse on arbitrary strings', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-ascii' })), (q) => {
      expect(queryTokens(q)).toEqual(queryTokensFull(q));
    }), { numRuns: 1000 });
  });

  it('reads no value: `access` in any case there is neither a token nor a second one', () => {
    const sources = compileSources({ query: true, websocket_protocol: false });
    for (const q of ['role=ACCESS_ADMIN', 'next=%2Faccess_token%3Dx', 'a=access_token', 'scope=Access.Token&x=1', 'f=cc%CC;g=ACCESS']) {
      const ctx = ctxFor(R, { headers: ['authorization', 'Bearer a'], query: q });
      expect(extract(ctx, BEARER_ONLY), q).toBe(CONTINUE);
      expect(extract(ctxFor(R, { headers: [], query: q }), sources), q).toBe(CONTINUE);
    }
  });
});
