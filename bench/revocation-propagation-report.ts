// The pure half of the revocation-propagation scenario (bench/revocation-propagation.bench.ts):
// its flags, the samples it collects, quantiles, the members' histogram deltas, the per-stage
// breakdown and the printed tables (also what goes into bench/RESULTS.md). No I/O here.
import { PROBE_SCOPE } from './cluster-targets.js';
import type { PacedLoadReport } from './paced-load-process.js';
import { cell, markdownTable } from './results.js';

export const MEMBER_IDS = ['bench-a', 'bench-b', 'bench-c'] as const;
/** A prober that has not seen a 401 this long after the POST gives up: the revocation did not arrive. */
export const GIVE_UP_MS = 2_000;
/** Requests each prober sends after its first 401: every one must be refused too. */
export const CHECKS_AFTER = 5;
/** Where the probers ask: a route requiring a scope the tokens lack (403 before, 401 once revoked; no upstream hop). */
export const PROBE_PATH = '/probe/x';

export interface PropagationFlags {
  revocations: number;
  /** Background load per member, requests per second (paced, own process). */
  ratePerMember: number;
  loadConnections: number;
  /**
   * Closed-loop requests per member before the window (8 connections, the load token): grows the
   * members' young generation to its working size, so the window does not time the first,
   * slow scavenges (measured 12–64 ms on this VM, then 1–2 ms).
   */
  warmupRequestsPerMember: number;
  /** Prober cadence per member, ms between sends (one request in flight); 0 = back to back. */
  probeIntervalMs: number;
  /** Pause between revocations: fixed + uniform random jitter, ms (no phase lock with 1 s heartbeats or timers). */
  gapMs: number;
  gapJitterMs: number;
  alg: 'ES256';
  /** What the prober timestamps: send of POST /revocations → first 401 response headers at each member. */
  clock: string;
  /** Scheduling of the child processes during the window (`PORTCULLIS_BENCH_SCHED`, bench/sched-priority.ts); "default" = all nice 0, SCHED_OTHER. */
  sched: string;
  /** Members run `cluster.revocation.direct` (the origin also pushes each revocation straight to its peers over TCP). */
  direct: boolean;
  /** `cluster.revocation.receiver` of the members (`PORTCULLIS_BENCH_REVOCATION_RECEIVER`): main thread only, or the receiver thread too. */
  receiver: 'main' | 'thread';
  /** Which build the members run: `this` (default) or `baseline` ($PORTCULLIS_BENCH_BASELINE's CLI). */
  build?: 'this' | 'baseline';
}

export const DEFAULT_PROPAGATION_FLAGS: PropagationFlags = {
  revocations: 200, ratePerMember: 200, loadConnections: 8, warmupRequestsPerMember: 15_000, probeIntervalMs: 1, gapMs: 20, gapJitterMs: 30, alg: 'ES256',
  clock: 'performance.now() in the bench process; t0 = just before POST /revocations is sent; refusal = first 401 answer received, nothing subtracted',
  sched: 'default',
  direct: false,
  receiver: 'main',
};

/** One revocation: where it was sent and when each member first refused (ms after t0; null: not within GIVE_UP_MS). */
export interface PropagationSample {
  origin: number;
  /** POST /revocations answered 201 (after the JetStream ack), ms after t0. */
  postMs: number;
  refusedMs: Array<number | null>;
  /** Refusals each member's prober failed to get again after its first 401. */
  acceptedAfter: number[];
  /** Origin's `publishedAt` stamp (inside the message), ms after t0: the admin path at the origin. */
  publishedMs: number | null;
  /** A plain NATS subscriber in the bench process got the live message, ms after t0. */
  observedMs: number | null;
  /** An otherwise idle subscriber process (bench/bus-observer-process.ts) got it, ms after t0 (absent in older results). */
  idleObservedMs?: number | null;
}

export interface Quantiles { n: number; p50: number | null; p99: number | null; max: number | null; within5: number | null }

/** Pure: nearest-rank quantiles over `xs` (null entries count as misses, ranked above every number). */
export function quantiles(xs: ReadonlyArray<number | null>): Quantiles {
  const n = xs.length;
  if (n === 0) return { n: 0, p50: null, p99: null, max: null, within5: null };
  const sorted = xs.map((x) => (x === null ? Number.POSITIVE_INFINITY : x)).sort((a, b) => a - b);
  const at = (q: number): number | null => { const v = sorted[Math.max(0, Math.ceil(q * n) - 1)]!; return Number.isFinite(v) ? v : null; };
  return { n, p50: at(0.5), p99: at(0.99), max: at(1), within5: sorted.filter((x) => x <= 5).length / n };
}

export interface ProxyHistogram {
  member: string;
  /** Samples in the measured window (bucket delta); p50/p99/max are the member's ring (every sample since start). */
  samples: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** Fraction of the window's samples ≤ 1, 2, 5 ms (cumulative bucket deltas). */
  le1: number | null;
  le2: number | null;
  le5: number | null;
}

export interface PropagationSummary {
  prober: { origin: Quantiles; others: Quantiles; slowest: Quantiles; post: Quantiles; notRefused: number; acceptedAfterRefusal: number };
  /** Round trip of every prober request, ms: the prober's resolution (a refusal is seen up to ~2 round trips after it took effect). */
  proberRtt: Quantiles;
  /** Where the time goes, per revocation (ms): t0 → origin stamps publishedAt; publishedAt → observer has it; observer → each other member's first 401. */
  breakdown: { admin: Quantiles; bus: Quantiles; idleBus: Quantiles; observedToRefusal: Quantiles };
  proxies: ProxyHistogram[];
  proxiesMerged: ProxyHistogram;
  load: PacedLoadReport | null;
  loopDelay: Array<{ member: string; p50: number; p99: number; p999: number; max: number; gc: { count: number; totalMs: number; maxMs: number } } | null>;
  foreignCores: number | null;
  /** Revocations the receivers applied on first arrival by path, summed over members (the window's counter deltas). */
  firstArrivals?: { live: number; direct: number; thread?: number };
  /** The members' publish → visible histograms (`portcullis_revocation_visible_seconds`; equal to applied without the receiver thread); absent in older results. */
  visible?: ProxyHistogram[];
  visibleMerged?: ProxyHistogram;
  /** Members' process CPU (user + system, the thread included) per response they served in the window, µs; null when unreadable. */
  memberCpuUsPerRequest?: number | null;
  /** Of it, the receiver threads' own CPU (their metric, 10 ms ticks), µs per response; null without the thread. */
  receiverThreadCpuUsPerRequest?: number | null;
}

/**
 * Pure: a member's histogram over the window between two metric snapshots. `name`: the flat
 * metric prefix — `revocation_propagation_ms` (publish → applied) or `revocation_visible_ms` (publish → visible).
 */
export function proxyHistogram(member: string, before: Record<string, number>, after: Record<string, number>, name = 'revocation_propagation_ms'): ProxyHistogram {
  const d = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
  const samples = d(`${name}_count`);
  const frac = (b: string): number | null => (samples > 0 ? d(`${name}_bucket_le_${b}`) / samples : null);
  const v = (k: string): number | null => (samples > 0 ? after[`${name}_${k}`] ?? null : null);
  return { member, samples, p50: v('p50'), p99: v('p99'), max: v('max'), le1: frac('1'), le2: frac('2'), le5: frac('5') };
}

/** Pure: merge members' bucket fractions (weighted by samples); ring quantiles cannot be merged, max can. */
export function mergeHistograms(hs: readonly ProxyHistogram[]): ProxyHistogram {
  const samples = hs.reduce((n, h) => n + h.samples, 0);
  const w = (f: (h: ProxyHistogram) => number | null): number | null => (samples === 0 ? null : hs.reduce((s, h) => s + (f(h) ?? 0) * h.samples, 0) / samples);
  const maxes = hs.map((h) => h.max).filter((x): x is number => x !== null);
  return { member: 'all receivers', samples, p50: null, p99: null, max: maxes.length === 0 ? null : Math.max(...maxes), le1: w((h) => h.le1), le2: w((h) => h.le2), le5: w((h) => h.le5) };
}

/** Pure: fold the samples into the prober's rows. */
export function summariseProber(samples: readonly PropagationSample[]): PropagationSummary['prober'] {
  const origin = samples.map((s) => s.refusedMs[s.origin] ?? null);
  const others = samples.flatMap((s) => s.refusedMs.filter((_, i) => i !== s.origin));
  const slowest = samples.map((s) => (s.refusedMs.some((x) => x === null) ? null : Math.max(...(s.refusedMs as number[]))));
  return {
    origin: quantiles(origin), others: quantiles(others), slowest: quantiles(slowest), post: quantiles(samples.map((s) => s.postMs)),
    notRefused: samples.reduce((n, s) => n + s.refusedMs.filter((x) => x === null).length, 0),
    acceptedAfterRefusal: samples.reduce((n, s) => n + s.acceptedAfter.reduce((a, b) => a + b, 0), 0),
  };
}

/** Pure: the per-stage rows (samples without an observed message are left out of the bus rows). */
export function breakdown(samples: readonly PropagationSample[]): PropagationSummary['breakdown'] {
  const seen = samples.filter((s) => s.publishedMs !== null && s.observedMs !== null);
  return {
    admin: quantiles(seen.map((s) => s.publishedMs!)),
    bus: quantiles(seen.map((s) => s.observedMs! - s.publishedMs!)),
    idleBus: quantiles(samples.filter((s) => s.publishedMs !== null && s.idleObservedMs != null).map((s) => s.idleObservedMs! - s.publishedMs!)),
    observedToRefusal: quantiles(seen.flatMap((s) => s.refusedMs.filter((_, i) => i !== s.origin).map((x) => (x === null ? null : x - s.observedMs!)))),
  };
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function propagationTables(s: PropagationSummary, f: PropagationFlags, warnings: readonly string[] = []): string {
  const q = (name: string, x: Quantiles, extra: string[]): string[] => [name, cell(x.n, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.max, 3), x.within5 === null ? '—' : `${(x.within5 * 100).toFixed(1)} %`, ...extra];
  const prober = markdownTable(
    ['external prober: POST /revocations sent → first 401', 'n', 'p50 ms', 'p99 ms', 'max ms', '≤ 5 ms'],
    [
      q('origin member (took the POST)', s.prober.origin, []),
      q('other members (each)', s.prober.others, []),
      q('**every member (slowest of 3 per revocation)**', s.prober.slowest, []),
      q('POST /revocations answered 201 (JetStream ack)', s.prober.post, []),
      q('(prober round trip, every request)', s.proberRtt, []),
    ],
    [false, true, true, true, true, true],
  );
  const stages = markdownTable(
    ['where the time goes (per revocation)', 'n', 'p50 ms', 'p99 ms', 'max ms', '≤ 5 ms'],
    [
      q('POST sent → origin stamps publishedAt (origin\'s admin path, store applied)', s.breakdown.admin, []),
      q('publishedAt → a plain NATS subscriber in the bench has it (origin publish + nats-server)', s.breakdown.bus, []),
      q('publishedAt → an otherwise idle subscriber process has it (the floor for any receiver here)', s.breakdown.idleBus, []),
      q('bench subscriber has it → first 401 at each other member (member receive + apply + prober)', s.breakdown.observedToRefusal, []),
    ],
    [false, true, true, true, true, true],
  );
  const pct = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);
  const proxies = markdownTable(
    ['member: publish → applied (own metric)', 'samples', 'p50 ms', 'p99 ms', 'max ms', '≤ 1 ms', '≤ 2 ms', '≤ 5 ms'],
    [...s.proxies, s.proxiesMerged].map((h) => [h.member, cell(h.samples, 0), cell(h.p50, 3), cell(h.p99, 3), cell(h.max, 3), pct(h.le1), pct(h.le2), pct(h.le5)]),
    [false, true, true, true, true, true, true, true],
  );
  const visible = s.visible === undefined || s.visibleMerged === undefined ? null : markdownTable(
    ['member: publish → visible (own metric)', 'samples', 'p50 ms', 'p99 ms', 'max ms', '≤ 1 ms', '≤ 2 ms', '≤ 5 ms'],
    [...s.visible, s.visibleMerged].map((h) => [h.member, cell(h.samples, 0), cell(h.p50, 3), cell(h.p99, 3), cell(h.max, 3), pct(h.le1), pct(h.le2), pct(h.le5)]),
    [false, true, true, true, true, true, true, true],
  );
  const load = s.load === null ? '(background load report missing)' : markdownTable(
    ['member', 'offered rps', 'achieved rps', 'non-2xx', 'errors', 'p50 ms', 'p99 ms', 'max ms', 'loop delay p99 ms', 'loop delay max ms', 'GC pauses', 'longest GC ms'],
    s.load.targets.map((t, i) => {
      const ld = s.loopDelay[i] ?? null;
      return [MEMBER_IDS[i] ?? t.url, cell(f.ratePerMember, 0), cell(t.ok / s.load!.elapsedS, 0), cell(t.non2xx, 0), cell(t.errors, 0), cell(t.p50Ms, 3), cell(t.p99Ms, 3), cell(t.maxMs, 3), cell(ld?.p99, 2), cell(ld?.max, 2), cell(ld?.gc.count, 0), cell(ld?.gc.maxMs, 2)];
    }),
    [false, true, true, true, true, true, true, true, true, true, true, true],
  );
  return [
    `**Revocation propagation** — 3 members on one nats-server (JetStream), ${f.revocations} revocations by jti, origin rotating over the members, ${f.gapMs}–${f.gapMs + f.gapJitterMs} ms apart; each member under ${f.ratePerMember} rps of background load (warm token, paced, own process); one prober per member on \`${PROBE_PATH}\` (${f.probeIntervalMs === 0 ? 'back to back' : `one request every ${f.probeIntervalMs} ms, or back to back when an answer takes longer`}) (requires scope \`${PROBE_SCOPE}\` the tokens lack: 403 until revoked, then 401 \`revoked\`, no upstream hop). Prober: ${f.clock}.${f.build === 'baseline' ? ' Members: the baseline build ($PORTCULLIS_BENCH_BASELINE).' : ''} Scheduling: ${f.sched}. Direct push: ${f.direct ? 'on' : 'off'}. Receiver: ${f.receiver ?? 'main'}${s.firstArrivals === undefined ? '' : ` (first arrivals at the receivers: ${s.firstArrivals.direct} direct, ${s.firstArrivals.thread ?? 0} thread, ${s.firstArrivals.live} NATS on main)`}. Members' CPU per response: ${cell(s.memberCpuUsPerRequest ?? null, 1)} µs (of it the receiver threads: ${cell(s.receiverThreadCpuUsPerRequest ?? null, 1)} µs). Target: every member p99 ≤ 5 ms. Revoked tokens accepted after a member's first refusal: ${s.prober.acceptedAfterRefusal}; refusals missing after ${GIVE_UP_MS} ms: ${s.prober.notRefused}. Foreign CPU (cores used by processes outside the bench): ${cell(s.foreignCores)}.`,
    '', prober, '', stages, '',
    '**Members\' own histogram** — `portcullis_revocation_propagation_seconds` (publish timestamp at the origin, before the JetStream publish → applied to the store at the receiver; origins do not record their own). Fractions over this run\'s samples; p50/p99/max over the member\'s recent-sample ring.',
    '', proxies, '',
    ...(visible === null ? [] : ['**Publish → visible** — `portcullis_revocation_visible_seconds`: the receiver thread\'s ring write when that copy came first (every revocation check drains the ring before judging: the enforcement moment), else the apply.', '', visible, '']),
    '**Background load, event-loop delay and GC** (member process, the measured window only; loop delay = how late a 10 ms timer fired; latency of the load from each request\'s send)',
    '', load,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}


/** An integer ≥ `min` from the environment, undefined when unset; throws on anything else. */
export function envInt(name: string, min: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}
