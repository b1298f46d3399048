// Max-Forwards reading (node/pipeline/max-forwards.ts): which methods count hops, and which values
// are a hop count (one line of digits) rather than something forwarded as sent.
import { describe, it, expect } from 'vitest';
import { countsHops, hopCount, maxForwardsLines } from '../../../node/pipeline/max-forwards.js';

describe('Max-Forwards', () => {
  it('counts hops on OPTIONS and TRACE only', () => {
    expect(['OPTIONS', 'TRACE'].map(countsHops)).toEqual([true, true]);
    expect(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'options'].map(countsHops)).toEqual([false, false, false, false, false, false, false]);
  });

  it('reads one line of digits; anything else is no count', () => {
    expect(hopCount(['0'])).toBe(0);
    expect(hopCount([' 7 '])).toBe(7);
    expect(hopCount(['007'])).toBe(7);
    expect(hopCount(['999999999999999'])).toBe(999_999_999_999_999);
    for (const bad of [[], ['1', '2'], ['1, 2'], ['-1'], ['+1'], ['1.0'], [''], ['abc'], ['0x1'], ['9999999999999999']]) expect(hopCount(bad), JSON.stringify(bad)).toBeNull();
  });

  it('collects the lines of a flat header list in order', () => {
    expect(maxForwardsLines(['host', 'a', 'max-forwards', '3', 'x', 'y', 'max-forwards', '0'])).toEqual(['3', '0']);
    expect(maxForwardsLines(['host', 'a'])).toEqual([]);
  });
});
