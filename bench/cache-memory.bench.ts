// Scenario `cache-memory`: DESIGN §6's memory target — ≥ 1,000,000 cached tokens in ≤ 1 GiB
// per process, no growth — measured on the verifier's own path (JWKS over HTTP, piscina
// pool, verified-token cache) in a child process (cache-memory-child.ts): N distinct EdDSA
// tokens fill the cache, three passes of N/2 more churn it through eviction. Heap after a forced GC is
// what the cache costs; RSS is what the process costs.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { CacheMemoryResult, MemorySample } from './cache-memory-child.js';
import { cacheMemoryChildPath } from './paths.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export interface CacheMemorySummary {
  tokens: number;
  /** Heap of the cache per token, bytes (full − before). */
  heapPerToken: number;
  /** The cache's own estimate per token (what verifier.cache_bytes bounds), bytes. */
  estimatePerToken: number;
  /** Heap for 1,000,000 tokens at the measured rate, bytes (the measurement itself when N = 1,000,000). */
  heapPerMillion: number;
  /** Process RSS when full, bytes. */
  rssFull: number;
  /** Heap change from full to after the last churn pass (3 × N/2 more tokens through the full cache), bytes. */
  churnHeapGrowth: number;
  churnRssGrowth: number;
  /** Heap change from the first churn pass to the last: ~0 when memory has levelled off, bytes. */
  lateHeapGrowth: number;
  lateRssGrowth: number;
  fillTokensPerS: number;
  /** heapPerMillion ≤ 1 GiB. */
  meetsTarget: boolean;
}

/** Pure: the figures a reader wants from one child run. */
export function summariseCacheMemory(r: CacheMemoryResult): CacheMemorySummary {
  const heapOf = (m: MemorySample): number => m.heapUsed + m.external;
  const heap = heapOf(r.full) - heapOf(r.before);
  const first = r.churn[0] ?? r.full;
  const last = r.churn[r.churn.length - 1] ?? r.full;
  const heapPerToken = heap / r.tokens;
  const heapPerMillion = heapPerToken * 1_000_000;
  return {
    tokens: r.tokens,
    heapPerToken,
    estimatePerToken: r.cacheBytesEstimate / Math.max(1, r.cacheEntriesFull),
    heapPerMillion,
    rssFull: r.full.rss,
    churnHeapGrowth: heapOf(last) - heapOf(r.full),
    churnRssGrowth: last.rss - r.full.rss,
    lateHeapGrowth: heapOf(last) - heapOf(first),
    lateRssGrowth: last.rss - first.rss,
    fillTokensPerS: r.fillTokensPerS,
    meetsTarget: heapPerMillion <= GiB,
  };
}

const mib = (b: number): string => `${b >= 0 ? '+' : ''}${cell(b / MiB, 1)} MiB`;

/** Pure: the markdown for RESULTS.md. */
export function cacheMemoryTable(s: CacheMemorySummary, r: CacheMemoryResult): string {
  const table = markdownTable(
    ['tokens cached', 'heap B/token', 'estimate B/token', 'heap for 1M tokens', 'RSS full', 'churn: heap (full → last pass)', 'RSS', 'heap (first → last pass)', 'RSS', 'fill tokens/s'],
    [[
      String(r.cacheEntriesFull), cell(s.heapPerToken, 0), cell(s.estimatePerToken, 0), `${cell(s.heapPerMillion / MiB, 0)} MiB`,
      `${cell(s.rssFull / MiB, 0)} MiB`, mib(s.churnHeapGrowth), mib(s.churnRssGrowth), mib(s.lateHeapGrowth), mib(s.lateRssGrowth), cell(s.fillTokensPerS, 0),
    ]],
    [true, true, true, true, true, true, true, true, true, true],
  );
  const verdict = `Target (DESIGN §6: ≥ 1,000,000 cached tokens in ≤ 1 GiB per process): ${s.meetsTarget ? 'met' : 'NOT met'} — ${cell(s.heapPerMillion / MiB, 0)} MiB of heap for 1,000,000 tokens${r.tokens === 1_000_000 ? ' (measured)' : ` (from ${r.tokens} measured)`}; set \`verifier.cache_entries\` and \`verifier.cache_bytes\` (≈ ${cell(s.estimatePerToken, 0)} B per token by the cache's estimate) to allow that many.`;
  return `**Verified-token cache memory** — ${r.tokens} distinct EdDSA tokens (9 claims, 312-char payload) verified through the product's JwtVerifier (pool ${r.poolSize}), then ${r.churn.length} passes of ${r.churnPassTokens} more through the full cache (eviction); heap = heapUsed + external after forced GC.\n\n${table}\n\n${verdict}`;
}

function runChild(tokens: number, pool: number): Promise<CacheMemoryResult> {
  const script = cacheMemoryChildPath();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, '--tokens', String(tokens), '--pool', String(pool)], { maxBuffer: 1 << 20, timeout: 30 * 60_000 }, (err, stdout, stderr) => {
      if (err !== null) { reject(new Error(`cache-memory child failed: ${err.message}\n${stderr}`)); return; }
      try { resolve(JSON.parse(stdout.trim().split('\n').pop()!) as CacheMemoryResult); } catch (e) { reject(new Error(`cache-memory child printed no result: ${(e as Error).message}\n${stdout}\n${stderr}`)); }
    });
  });
}

export async function cacheMemory(opts: ScenarioOptions): Promise<ScenarioReport> {
  const tokens = opts.quick ? 50_000 : Number(process.env.PORTCULLIS_BENCH_CACHE_TOKENS ?? 1_000_000);
  const pool = availableParallelism();
  const r = await runChild(tokens, pool);
  const summary = summariseCacheMemory(r);
  const warnings = r.cacheEntriesFull !== r.tokens ? [`the cache held ${r.cacheEntriesFull} of ${r.tokens} tokens`] : [];
  return {
    scenario: 'cache-memory', quick: opts.quick, flags: { tokens, churn: r.churnTokens, pool, alg: 'EdDSA' },
    cpuPlan: { loader: [], upstream: [], proxy: [], note: 'no pinning: one process (verifier and its pool), no HTTP load' },
    peers: {}, skipped: {}, rounds: [r], summary, warnings, table: cacheMemoryTable(summary, r),
  };
}
