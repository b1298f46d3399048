// heapBoundedCacheBytes: the bound a token cache gets from verifier.cache_bytes and V8's heap limit
// (heap_size_limit = old space + Node 20's 48 MiB young generation), worked for the sizes README names.
import { describe, it, expect } from 'vitest';
import { heapBoundedCacheBytes, youngGenerationBytes } from '../../node/cache-heap-bound.js';

const MiB = 1024 * 1024;
const limitFor = (oldSpaceMb: number): number => (oldSpaceMb + 48) * MiB;

describe('heapBoundedCacheBytes', () => {
  it('keeps what fits, holds what does not to half the old space beside 16 MiB', () => {
    expect(heapBoundedCacheBytes(80 * MiB, limitFor(4096))).toBe(80 * MiB); // the default under Node's default heap
    expect(heapBoundedCacheBytes(1024 * MiB, limitFor(64))).toBe(24 * MiB);
    expect(heapBoundedCacheBytes(1024 * MiB, limitFor(32))).toBe(8 * MiB);
    expect(heapBoundedCacheBytes(1024 * MiB, limitFor(4096))).toBe(1024 * MiB);
  });

  it('never goes below zero on a heap smaller than the proxy itself', () => {
    expect(heapBoundedCacheBytes(80 * MiB, limitFor(8))).toBe(0);
  });
});

describe('youngGenerationBytes', () => {
  it('reads --max-semi-space-size from the command line over NODE_OPTIONS, in either spelling and form', () => {
    expect(youngGenerationBytes([], '')).toBe(48 * MiB);
    expect(youngGenerationBytes(['--max-semi-space-size=64'], '')).toBe(192 * MiB);
    expect(youngGenerationBytes([], '--max-old-space-size=64 --max_semi_space_size=32')).toBe(96 * MiB);
    expect(youngGenerationBytes(['--max-semi-space-size', '8'], '--max-semi-space-size=32')).toBe(24 * MiB);
    expect(youngGenerationBytes(['--max-semi-space-size=junk'], '')).toBe(48 * MiB);
    // as V8 sizes it: 0 is its default, others rounded up to a power of two (node --max-old-space-size=64 --max-semi-space-size=100: heap_size_limit 448 MiB)
    expect(youngGenerationBytes(['--max-semi-space-size=0'], '')).toBe(48 * MiB);
    expect(youngGenerationBytes(['--max-semi-space-size=100'], '')).toBe(384 * MiB);
    expect(youngGenerationBytes(['--max-semi-space-size=3'], '')).toBe(12 * MiB);
  });

  it('holds a cache within the old space a larger young generation leaves', () => {
    // node --max-old-space-size=64 --max-semi-space-size=64: heap_size_limit 256 MiB (64 + 3 × 64)
    expect(heapBoundedCacheBytes(1024 * MiB, 256 * MiB, youngGenerationBytes(['--max-old-space-size=64', '--max-semi-space-size=64'], ''))).toBe(24 * MiB);
  });
});
