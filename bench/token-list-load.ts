// Closed-loop load over a list of tokens, for exactly one pass: request n carries
// tokens[floor(n / repeat)], `connections` requests in flight (undici Pool), and the pass ends
// with its last answer. Used where autocannon's `amount` mode cannot time a short pass: it
// notices completion on its 1 s ticker, so a 2 s pass reads as 2 or 3 s.
import { createHistogram, performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface ListLoadOptions {
  connections: number;
  /** Consecutive requests sharing one token (they go out at once on different connections); default 1. */
  repeat?: number;
  path: string;
  /** Header value prefix, e.g. `Bearer `. */
  prefix?: string;
  timeoutS: number;
}

export interface ListLoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** First send to last answer, performance.now() ms. */
  startedAt: number;
  endedAt: number;
  /** Latency of 2xx answers, ms. */
  p50: number;
  p99: number;
}

/** Send tokens.length × repeat requests to `url`; resolves when every one is answered (or failed). */
export async function runTokenList(url: string, tokens: readonly string[], o: ListLoadOptions): Promise<ListLoadResult> {
  const repeat = o.repeat ?? 1;
  const total = tokens.length * repeat;
  const pool = new Pool(new URL(url).origin, { connections: o.connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: o.timeoutS * 1000, bodyTimeout: o.timeoutS * 1000 });
  const h = createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
  const r: ListLoadResult = { requests: total, ok: 0, non2xx: 0, errors: 0, startedAt: performance.now(), endedAt: 0, p50: Number.NaN, p99: Number.NaN };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total) {
      const n = next++;
      const sent = performance.now();
      try {
        const res = await pool.request({ path: o.path, method: 'GET', headers: { authorization: (o.prefix ?? '') + tokens[Math.floor(n / repeat)]! } });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          r.ok++;
          h.record(Math.max(1, Math.round((performance.now() - sent) * 1000)));
        } else r.non2xx++;
      } catch {
        r.errors++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.connections, total) }, lane));
  } finally {
    r.endedAt = performance.now();
    await pool.close().catch(() => {});
  }
  if (h.count > 0) { r.p50 = h.percentile(50) / 1000; r.p99 = h.percentile(99) / 1000; }
  return r;
}
