// The byte bound a token cache really gets: `verifier.cache_bytes`, held within this process's V8 heap
// limit (`--max-old-space-size`), so a cache that fills evicts instead of ending the process.
import { getHeapStatistics } from 'node:v8';

/** V8's young generation on 64-bit Node 20 (3 × the 16 MiB semi-space), counted in `heap_size_limit`. */
const YOUNG_GENERATION_BYTES = 48 * 1024 * 1024;
/** The proxy's own old-space working set beside its caches (config, routes, pools, modules). */
const BASELINE_BYTES = 16 * 1024 * 1024;

/**
 * `configured` bytes, or half of the old space left beside the proxy's own working set when that is less:
 * (`heapLimit` − 48 MiB young generation − 16 MiB) / 2 — 8 MiB at `--max-old-space-size=32`, 24 MiB at 64,
 * ~2 GiB at Node's 4 GiB default. Before, a `cache_bytes` over the heap was taken as written: distinct valid
 * tokens filled the cache past it and V8 ended the process (`FATAL ERROR: Reached heap limit`) before it evicted.
 */
export function heapBoundedCacheBytes(configured: number, heapLimit = getHeapStatistics().heap_size_limit): number {
  return Math.min(configured, Math.max(0, Math.floor((heapLimit - YOUNG_GENERATION_BYTES - BASELINE_BYTES) / 2)));
}
