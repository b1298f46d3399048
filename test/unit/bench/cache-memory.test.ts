import { describe, expect, it } from 'vitest';
import { cacheMemoryTable, summariseCacheMemory } from '../../../bench/cache-memory.bench.js';
import type { CacheMemoryResult } from '../../../bench/cache-memory-child.js';

const MiB = 2 ** 20;
const result = (tokens: number, perToken: number, churnGrowth = 0): CacheMemoryResult => ({
  tokens, churnTokens: 1.5 * tokens, churnPassTokens: tokens / 2, poolSize: 2, cacheEntriesFull: tokens, cacheEntriesAfterChurn: tokens,
  cacheBytesEstimate: tokens * 700,
  before: { heapUsed: 10 * MiB, heapTotal: 16 * MiB, external: 4 * MiB, rss: 100 * MiB },
  full: { heapUsed: 10 * MiB + tokens * perToken, heapTotal: 16 * MiB + tokens * perToken, external: 4 * MiB, rss: 100 * MiB + tokens * perToken * 1.3 },
  churn: [1, 2, 3].map((p) => ({ heapUsed: 10 * MiB + tokens * perToken + (churnGrowth * p) / 3, heapTotal: 16 * MiB + tokens * perToken, external: 4 * MiB, rss: 100 * MiB + tokens * perToken * 1.3 })),
  fillTokensPerS: 9000,
});

describe('cache-memory summary', () => {
  it('projects the heap per token to one million and judges the 1 GiB target', () => {
    const ok = summariseCacheMemory(result(50_000, 700));
    expect(ok.heapPerToken).toBeCloseTo(700, 5);
    expect(ok.heapPerMillion).toBeCloseTo(700e6, 0);
    expect(ok.meetsTarget).toBe(true);
    expect(ok.estimatePerToken).toBe(700);
    const over = summariseCacheMemory(result(50_000, 1200));
    expect(over.meetsTarget).toBe(false);
    expect(cacheMemoryTable(over, result(50_000, 1200))).toContain('NOT met');
  });

  it('reports growth under churn and says when the figure is measured rather than projected', () => {
    const s = summariseCacheMemory(result(1_000_000, 700, 3 * MiB));
    expect(s.churnHeapGrowth).toBe(3 * MiB);
    expect(s.lateHeapGrowth).toBe(2 * MiB);
    const table = cacheMemoryTable(s, result(1_000_000, 700, 3 * MiB));
    expect(table).toContain('(measured)');
    expect(table).toContain('+3.0 MiB');
  });
});
