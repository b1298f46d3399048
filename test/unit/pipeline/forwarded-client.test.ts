// forwardedClient: the client a trusted front proxy appended to X-Forwarded-For, or the peer —
// never a client's text (the access log's `client` with server.trust_forwarded).
import { describe, expect, it } from 'vitest';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { forwardedClient } from '../../../node/pipeline/index.js';

const PEER = '10.0.0.2';
const xff = (...values: string[]): string[] => values.flatMap((v) => ['x-forwarded-for', v]);

describe('forwardedClient', () => {
  it('the rightmost entry of the joined lines, optional whitespace trimmed; any name case', () => {
    expect(forwardedClient(['host', 'a', ...xff('6.6.6.6, 203.0.113.7')], PEER)).toBe('203.0.113.7');
    expect(forwardedClient(xff('6.6.6.6', ' 2001:db8::7\t'), PEER)).toBe('2001:db8::7');
    expect(forwardedClient(['X-Forwarded-For', '198.51.100.1'], PEER)).toBe('198.51.100.1');
    expect(forwardedClient(['host', 'a'], PEER)).toBe(PEER);
  });
  it('trusted_hops N: the N-th from the right across lines; fewer entries → the peer', () => {
    expect(forwardedClient(xff('1.1.1.1, 2.2.2.2', '3.3.3.3'), PEER, 2)).toBe('2.2.2.2');
    expect(forwardedClient(xff('1.1.1.1, 2.2.2.2', '3.3.3.3'), PEER, 3)).toBe('1.1.1.1');
    expect(forwardedClient(xff('1.1.1.1, 2.2.2.2', '3.3.3.3'), PEER, 4)).toBe(PEER);
    expect(forwardedClient(xff('1.1.1.1, x, 3.3.3.3'), PEER, 2)).toBe(PEER);
  });
  it('an entry that is not a bare IP literal falls back to the peer', () => {
    for (const v of ['1.2.3.4:80', '[::1]', '[::1]:443', 'unknown', 'fe80::1%eth0', '1.2.3.4, ', '', ' ', '01.2.3.4', '_hidden', `1.2.3.4, ${'9'.repeat(10_000)}`, '1.2.3.4 5.6.7.8']) {
      expect(forwardedClient(xff(v), PEER), JSON.stringify(v.slice(0, 40))).toBe(PEER);
    }
  });
  it('whatever a client sends, the answer is the peer or an IP literal it contains', () => {
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 80 }), { maxLength: 4 }), fc.integer({ min: 1, max: 4 }), (lines, hops) => {
      const got = forwardedClient(xff(...lines), PEER, hops);
      expect(got === PEER || (isIP(got) !== 0 && lines.some((l) => l.includes(got)))).toBe(true);
    }));
  });
});
