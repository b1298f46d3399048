// The byte bound a token cache really gets: `verifier.cache_bytes`, held within this process's V8 heap
// limit (`--max-old-space-size`, less the young generation `--max-semi-space-size` sets), so a cache that
// fills evicts instead of ending the process.
import { getHeapStatistics } from 'node:v8';

const MiB = 1024 * 1024;
/** V8's semi-space on 64-bit Node 20 unless --max-semi-space-size says otherwise, MiB; the young generation is 3 of them. */
const DEFAULT_SEMI_SPACE_MB = 16;
/** The proxy's own old-space working set beside its caches (config, routes, pools, modules). */
const BASELINE_BYTES = 16 * MiB;
const SEMI_SPACE_FLAG = /^--max[-_]semi[-_]space[-_]size(?:=(.*))?$/;

/**
 * The young generation counted in `heap_size_limit`, bytes: 3 × the last `--max-semi-space-size` of NODE_OPTIONS
 * then the command line (that order: the command line wins) as V8 sizes it (a power of two), else 3 × 16 MiB. Before, 48 MiB was assumed whatever
 * the flag said: under `--max-old-space-size=64 --max-semi-space-size=64` the limit is 256 MiB and a cache got
 * 96 MiB of a 64 MiB old space — the out-of-memory end the bound is there to prevent.
 */
export function youngGenerationBytes(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): number {
  let semiMb = DEFAULT_SEMI_SPACE_MB;
  const args = [...nodeOptions.split(/\s+/).filter((a) => a.length > 0), ...execArgv];
  for (let i = 0; i < args.length; i++) {
    const m = SEMI_SPACE_FLAG.exec(args[i]!);
    if (m === null) continue;
    const n = Number(m[1] ?? args[++i]);
    // V8 takes 0 as its default and rounds any other size up to a power of two (20 → 32, 100 → 128): before, the
    // size as written was counted and under `--max-semi-space-size=20` a cache got 26 MiB of a 32 MiB old space
    if (Number.isFinite(n) && n >= 0) semiMb = n === 0 ? DEFAULT_SEMI_SPACE_MB : 2 ** Math.ceil(Math.log2(n));
  }
  return 3 * semiMb * MiB;
}

/**
 * `configured` bytes, or half of the old space left beside the proxy's own working set when that is less:
 * (`heapLimit` − young generation − 16 MiB) / 2 — 8 MiB at `--max-old-space-size=32`, 24 MiB at 64,
 * ~2 GiB at Node's 4 GiB default. Before, a `cache_bytes` over the heap was taken as written: distinct valid
 * tokens filled the cache past it and V8 ended the process (`FATAL ERROR: Reached heap limit`) before it evicted.
 */
export function heapBoundedCacheBytes(configured: number, heapLimit = getHeapStatistics().heap_size_limit, youngBytes = youngGenerationBytes()): number {
  return Math.min(configured, Math.max(0, Math.floor((heapLimit - youngBytes - BASELINE_BYTES) / 2)));
}
