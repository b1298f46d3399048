// The analysis of bench/h1-hop-trace.ts (pure functions): the client-side latency distribution of a
// closed-loop round, how slow responses cluster in time and over connections (a stall every client
// shares vs connections served unevenly), the proxy's per-step times and what the slow responses overlapped.
import type { HopDump } from './h1-hop-trace-preload.js';

/** One response as the loader saw it: completion time (epoch ms), latency ms, client connection index. */
export interface ClientSample { end: number; ms: number; client: number }

/** Pure: the q-quantile of xs (sorted copy), NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const f2 = (x: number): string => (Number.isNaN(x) ? '—' : x.toFixed(2));

/** An interval of time (epoch ms) in which responses at or above the slow threshold were outstanding. */
export interface Episode { start: number; end: number; responses: number; clients: number }

/** Pure: slow responses (ms ≥ slowMs) merged into episodes of overlapping [end − ms, end] intervals. */
export function episodes(samples: readonly ClientSample[], slowMs: number): Episode[] {
  const slow = samples.filter((s) => s.ms >= slowMs).map((s) => ({ a: s.end - s.ms, b: s.end, c: s.client })).sort((x, y) => x.a - y.a);
  const out: Episode[] = [];
  let cur: { start: number; end: number; n: number; clients: Set<number> } | null = null;
  for (const s of slow) {
    if (cur !== null && s.a <= cur.end) {
      cur.end = Math.max(cur.end, s.b); cur.n++; cur.clients.add(s.c);
      continue;
    }
    if (cur !== null) out.push({ start: cur.start, end: cur.end, responses: cur.n, clients: cur.clients.size });
    cur = { start: s.a, end: s.b, n: 1, clients: new Set([s.c]) };
  }
  if (cur !== null) out.push({ start: cur.start, end: cur.end, responses: cur.n, clients: cur.clients.size });
  return out;
}

/** Pure: 1 ms bins over the window in which no response completed, and the longest run of them (ms). */
export function emptyBins(samples: readonly ClientSample[]): { empty: number; longest: number; bins: number } {
  if (samples.length === 0) return { empty: 0, longest: 0, bins: 0 };
  let lo = Infinity, hi = -Infinity;
  for (const s of samples) { lo = Math.min(lo, s.end); hi = Math.max(hi, s.end); }
  const bins = new Uint32Array(Math.floor(hi - lo) + 1);
  for (const s of samples) bins[Math.floor(s.end - lo)]!++;
  let empty = 0, run = 0, longest = 0;
  for (const b of bins) {
    if (b === 0) { empty++; run++; longest = Math.max(longest, run); } else run = 0;
  }
  return { empty, longest, bins: bins.length };
}

type Span = readonly [number, number, ...number[]];
/** Pure: the spans (process-relative start, duration) shifted to epoch ms. */
const toEpoch = (d: HopDump | null, xs: (d: HopDump) => readonly Span[]): Array<[number, number]> =>
  d === null ? [] : xs(d).map((s) => [d.timeOrigin + s[0], s[1]]);

/** Pure: GC pauses of a dump by kind: count, total ms, longest ms. */
export function gcSummary(d: HopDump): string {
  const KIND: Record<number, string> = { 1: 'scavenge', 4: 'mark-compact', 8: 'incremental', 16: 'weak cb' };
  const parts = [1, 4, 8, 16].map((k) => {
    const xs = d.gc.filter((g) => g[2] === k).map((g) => g[1]);
    return xs.length === 0 ? '' : `${KIND[k]} ${xs.length} (${xs.reduce((a, b) => a + b, 0).toFixed(1)} ms, longest ${Math.max(...xs).toFixed(2)})`;
  }).filter((p) => p !== '');
  const st = d.stalls.map((s) => s[1]);
  return `GC ${parts.join(', ') || 'none'}; loop stalls ≥ 3 ms: ${st.length} (${st.reduce((a, b) => a + b, 0).toFixed(1)} ms, longest ${st.length === 0 ? 0 : Math.max(...st).toFixed(1)})`;
}

/** Pure: the proxy's per-step percentiles (ms) of the requests it traced. */
export function stepLines(d: HopDump): string[] {
  const steps: Array<[string, number, number]> = [['handler → upstream write', 0, 1], ['upstream write → upstream head', 1, 2], ['upstream head → end', 2, 3], ['handler → end (in the proxy)', 0, 3]];
  return steps.map(([label, a, b]) => {
    const xs: number[] = [];
    for (const r of d.requests) if (r[a]! >= 0 && r[b]! >= 0) xs.push(r[b]! - r[a]!);
    return `${label.padEnd(32)} n ${String(xs.length).padStart(6)}  p50 ${f2(quantile(xs, 0.5))}  p99 ${f2(quantile(xs, 0.99))}  p99.9 ${f2(quantile(xs, 0.999))}  max ${f2(quantile(xs, 1))} ms`;
  });
}

/** The dumps of one traced round: the proxy's (null for HAProxy) and the upstream's. */
export interface RoundDumps { proxy: HopDump | null; upstream: HopDump | null }

/** Pure: the report of one target's round. */
export function roundReport(samples: readonly ClientSample[], dumps: RoundDumps, slowMs: number): string[] {
  const ms = samples.map((s) => s.ms);
  const out = [`client: n ${samples.length}  p50 ${f2(quantile(ms, 0.5))}  p99 ${f2(quantile(ms, 0.99))}  p99.9 ${f2(quantile(ms, 0.999))}  max ${f2(quantile(ms, 1))} ms`];
  const per = new Map<number, { n: number; slow: number }>();
  for (const s of samples) { const c = per.get(s.client) ?? { n: 0, slow: 0 }; c.n++; if (s.ms >= slowMs) c.slow++; per.set(s.client, c); }
  const counts = [...per.values()].map((c) => c.n);
  const slowCounts = [...per.values()].map((c) => c.slow).sort((a, b) => b - a);
  const slowAll = slowCounts.reduce((a, b) => a + b, 0);
  out.push(`fairness: responses per connection min ${Math.min(...counts)} / median ${quantile(counts, 0.5)} / max ${Math.max(...counts)}; responses ≥ ${slowMs} ms: ${slowAll} on ${slowCounts.filter((x) => x > 0).length} connections, the 5 worst connections hold ${slowAll === 0 ? 0 : ((100 * slowCounts.slice(0, 5).reduce((a, b) => a + b, 0)) / slowAll).toFixed(0)} %`);
  const eps = episodes(samples, slowMs);
  const e = emptyBins(samples);
  out.push(`time shape: ${eps.length} episodes with a response ≥ ${slowMs} ms outstanding, connections per episode median ${quantile(eps.map((x) => x.clients), 0.5)} / max ${eps.length === 0 ? 0 : Math.max(...eps.map((x) => x.clients))}, episode length median ${f2(quantile(eps.map((x) => x.end - x.start), 0.5))} ms; 1 ms bins with no completion ${e.empty} of ${e.bins}, longest run ${e.longest} ms`);
  const overlap = (spans: Array<[number, number]>): number => eps.filter((ep) => spans.some(([s, d]) => s < ep.end && s + d > ep.start)).reduce((a, ep) => a + ep.responses, 0);
  const share = (n: number): string => (slowAll === 0 ? '—' : `${((100 * n) / slowAll).toFixed(0)} %`);
  const pg = toEpoch(dumps.proxy, (d) => d.gc), ps = toEpoch(dumps.proxy, (d) => d.stalls);
  const ug = toEpoch(dumps.upstream, (d) => d.gc), us = toEpoch(dumps.upstream, (d) => d.stalls);
  out.push(`slow responses in episodes overlapping: proxy GC ${share(overlap(pg))}, proxy loop stall ${share(overlap(ps))}, upstream GC ${share(overlap(ug))}, upstream loop stall ${share(overlap(us))}, any of these ${share(overlap([...pg, ...ps, ...ug, ...us]))}`);
  if (dumps.proxy !== null) { out.push(`proxy ${gcSummary(dumps.proxy)}`); out.push(...stepLines(dumps.proxy)); }
  if (dumps.upstream !== null) out.push(`upstream ${gcSummary(dumps.upstream)}`);
  return out;
}
