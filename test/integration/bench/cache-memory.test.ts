// The cache-memory benchmark's measuring process runs end to end on a small N: the product's
// JwtVerifier verifies every token, the cache ends full, and the report carries the figures
// RESULTS.md quotes. (The 1,000,000-token figure itself is a benchmark, never a test.)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CacheMemoryResult } from '../../../bench/cache-memory-child.js';
import { cacheMemoryTable, summariseCacheMemory } from '../../../bench/cache-memory.bench.js';

const CHILD = join(import.meta.dirname, '..', '..', '..', 'dist', 'bench', 'cache-memory-child.js');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CHILD, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr });
    });
  });
}

describe('cache-memory measuring process', () => {
  it('fills the cache through the real verifier, churns it, and reports memory samples', async () => {
    if (!existsSync(CHILD)) throw new Error(`compiled bench missing at ${CHILD}: run "npm run build" (npm test does it)`);
    const r = await run(['--tokens', '3000', '--pool', '1', '--passes', '2']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim()) as CacheMemoryResult;
    expect(res).toMatchObject({ tokens: 3000, churnPassTokens: 1500, churnTokens: 3000, cacheEntriesFull: 3000, cacheEntriesAfterChurn: 3000, poolSize: 1 });
    expect(res.churn).toHaveLength(2);
    expect(res.full.heapUsed).toBeGreaterThan(res.before.heapUsed);
    expect(res.cacheBytesEstimate).toBeGreaterThan(0);
    const table = cacheMemoryTable(summariseCacheMemory(res), res);
    expect(table).toMatch(/\| 3000 \| \d+ \| \d+ \|/);
  }, 70_000);

  it('refuses a token count too small to measure, with a message', async () => {
    const r = await run(['--tokens', '10']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--tokens: expected an integer ≥ 1000');
  });
});
