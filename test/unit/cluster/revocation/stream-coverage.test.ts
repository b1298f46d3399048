// StreamCoverage: which unexpired revocations the stream has lost, by sequence.
import { describe, expect, it } from 'vitest';
import { StreamCoverage } from '../../../../cluster/revocation/stream-coverage.js';

const NOW = 1_700_000_000_000;
const inS = (s: number): number => Math.floor(NOW / 1000) + s;

describe('StreamCoverage', () => {
  it('reports unexpired revocations stored below the first sequence, forgets expired ones, stops at the first kept', () => {
    const c = new StreamCoverage();
    c.track('a', 1, inS(3_600)); // an hour left: cannot have aged out
    c.track('b', 2, inS(-30)); // expired, its linger within the 2 min slack: legitimately gone
    c.track('c', 3, inS(3_600));
    c.track('d', 4, inS(3_600));
    expect(c.lostBelow(4, NOW)).toEqual(['a', 'c']);
    expect(c.size).toBe(3); // b forgotten; a and c kept until stored again
    expect(c.lostBelow(1, NOW)).toEqual([]);
  });

  it('a revocation stored again moves to its new sequence and is no longer lost', () => {
    const c = new StreamCoverage();
    c.track('a', 1, inS(3_600));
    c.track('b', 2, inS(3_600));
    c.track('a', 3, inS(3_600));
    expect(c.lostBelow(3, NOW)).toEqual(['b']);
    c.forget('b');
    expect(c.lostBelow(3, NOW)).toEqual([]);
  });

  it('revocations at sequences taken out of the middle are lost, expired ones there forgotten, the others kept', () => {
    const c = new StreamCoverage();
    c.track('a', 1, inS(3_600));
    c.track('b', 2, inS(3_600));
    c.track('c', 3, inS(-30));
    c.track('d', 4, inS(3_600));
    expect(c.lostAt(new Set([2, 3, 9]), NOW)).toEqual(['b']);
    expect(c.size).toBe(3); // c forgotten; b kept until stored again
    c.track('b', 5, inS(3_600));
    expect(c.lostAt(new Set([2, 3]), NOW)).toEqual([]);
  });

  it('a stream made anew lost every unexpired revocation; all are forgotten', () => {
    const c = new StreamCoverage();
    c.track('a', 7, inS(3_600));
    c.track('b', 8, inS(-10));
    expect(c.takeAll(NOW)).toEqual(['a']);
    expect(c.size).toBe(0);
  });

  it('snapshot entries a whole replay did not deliver are lost; delivered ones and expiring ones are not; never before the replay ends', () => {
    const c = new StreamCoverage();
    c.expect('s1', inS(3_600));
    c.expect('s2', inS(3_600));
    c.expect('s3', inS(-30));
    expect(c.lostBelow(10, NOW)).toEqual([]); // a check during the replay does not count them
    c.track('s1', 4, inS(3_600));
    expect(c.takeUnseen(NOW)).toEqual(['s2']);
    expect(c.takeUnseen(NOW)).toEqual([]);
    // one the stream already delivered before the snapshot named it is not lost (no spurious 503)
    c.track('s4', 5, inS(3_600));
    c.expect('s4', inS(3_600));
    expect(c.takeUnseen(NOW)).toEqual([]);
  });

  it('an entry is needed until its expiry plus the linger (twice the largest clock skew): lost past its expiry only with a longer linger', () => {
    const short = new StreamCoverage();
    const long = new StreamCoverage(() => 600);
    for (const c of [short, long]) {
      c.track('expired-5min', 1, inS(-300)); // a token of an issuer with clock_skew_s 300 is still accepted
      c.track('expired-20min', 2, inS(-1_200));
      c.track('kept', 3, inS(3_600));
    }
    expect(short.lostBelow(3, NOW)).toEqual([]);
    expect(long.lostBelow(3, NOW)).toEqual(['expired-5min']);
  });
});
