// Shared by the token scenarios: load a list of targets in alternating rounds (closed loop and
// fixed offered load), fold the rounds, and render the tables. Pure apart from the two runners.
import { runFixedRate, runLoad, type FixedRateFlags, type FixedRateResult, type HeaderRotation, type LoadFlags } from './load.js';
import { parseHeapAlloc } from './heap-alloc-preload.js';
import { processTree, watchForeignCpu, type ManagedProcess } from './processes.js';
import { cell, markdownTable } from './results.js';
import { median, pairedDiff, pairedRatio, roundOrder, summarise, type LoadResult, type LoadSummary } from './stats.js';

/** One row of a side-by-side run: where to send load and what to send. */
export interface LoadTarget {
  /** Row name in the tables and JSON. */
  name: string;
  url: string;
  /** Process whose CPU time per response is recorded (all its threads). */
  pid: number;
  /** Fixed headers of every request (e.g. one warm token). */
  headers?: Record<string, string>;
  /** Per-request header values (distinct tokens); closed loop only. */
  rotation?: HeaderRotation;
  /** Request path instead of the flags' (e.g. a decision endpoint). */
  path?: string;
  /** Started with heap-alloc-preload: signalled around each closed-loop run, heap bytes/response recorded. */
  heapAlloc?: ManagedProcess;
}

export type RoundResults<R extends LoadResult = LoadResult> = Record<string, R[]>;

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/**
 * On a shared machine other processes come in bursts (test suites, builds). Before each
 * measurement the gate samples foreign CPU in 1 s windows and waits for a quiet one, spending at
 * most `budgetS` over the whole scenario; the measurement still records its own foreign CPU.
 */
export interface QuietGate {
  wait(ownPids: readonly number[]): Promise<void>;
  /** Seconds spent waiting so far. */
  readonly waitedS: number;
}

export function quietGate(budgetS: number, limit = FOREIGN_CPU_LIMIT): QuietGate {
  let waited = 0;
  return {
    get waitedS() { return waited; },
    async wait(ownPids) {
      while (waited < budgetS) {
        const foreign = watchForeignCpu(ownPids);
        await new Promise((r) => setTimeout(r, 1000));
        const f = foreign();
        if (f === undefined || f <= limit) return;
        waited += 1;
      }
    },
  };
}

const NO_GATE: QuietGate = { waitedS: 0, wait: async () => {} };

function withHeaders<F extends { headers?: Record<string, string>; path: string }>(flags: F, t: LoadTarget): F {
  const f = t.path === undefined ? flags : { ...flags, path: t.path };
  return t.headers === undefined ? f : { ...f, headers: { ...f.headers, ...t.headers } };
}

/** Closed-loop throughput: every target once per round, order rotated each round. */
export async function closedLoopRounds(targets: readonly LoadTarget[], load: LoadFlags, roundsN: number, ownPids: readonly number[], gate: QuietGate = NO_GATE): Promise<RoundResults> {
  const out: RoundResults = {};
  for (let round = 0; round < roundsN; round++) {
    for (const t of roundOrder(targets, round)) {
      await gate.wait(ownPids);
      if (t.heapAlloc !== undefined) for (const pid of processTree(t.heapAlloc.pid)) process.kill(pid, 'SIGUSR2');
      const t0 = performance.now();
      const r = await runLoad(t.url, withHeaders(load, t), { cpuPid: t.pid, ownPids }, t.rotation);
      if (t.heapAlloc !== undefined) r.heapBytesPerReq = await heapPerResponse(t.heapAlloc, r.rps * (performance.now() - t0) / 1000);
      (out[t.name] ??= []).push(r);
      say(`  throughput round ${round + 1}/${roundsN} ${t.name.padEnd(18)} ${r.rps.toFixed(0).padStart(7)} rps  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  non-2xx ${r.non2xx}  CPU ${r.cpuUsPerReq?.toFixed(1) ?? '?'} µs/req  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
    }
  }
  return out;
}

/**
 * Signal `p` and each of its descendant processes (heap-alloc-preload in every one: a `--workers`
 * primary's workers inherit NODE_OPTIONS and write to its stderr) and sum their new lines: bytes per
 * response over ≈`responses` (warmup included).
 */
async function heapPerResponse(p: ManagedProcess, responses: number): Promise<number | undefined> {
  const before = p.output().length;
  const pids = processTree(p.pid);
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  const lines = (): string[] => p.output().slice(before).split('\n').filter((l) => l.startsWith('{"heapAlloc"'));
  for (let i = 0; i < 50 && lines().length < pids.length; i++) await new Promise((r) => setTimeout(r, 20));
  // the output is capped at 64 KiB: once at the cap, offsets shift, and the last line is all we can read
  const got = lines().length > 0 ? lines() : p.output().split('\n').filter((l) => l.startsWith('{"heapAlloc"')).slice(-1);
  if (got.length === 0 || responses <= 0) return undefined;
  let bytes = 0;
  for (const l of got) bytes += parseHeapAlloc(l)?.bytes ?? 0;
  return bytes / responses;
}

/** Latency at a fixed offered load: every target once per round, order rotated each round. */
export async function fixedRateRounds(targets: readonly LoadTarget[], rate: FixedRateFlags, roundsN: number, ownPids: readonly number[], gate: QuietGate = NO_GATE): Promise<RoundResults<FixedRateResult>> {
  const out: RoundResults<FixedRateResult> = {};
  for (let round = 0; round < roundsN; round++) {
    for (const t of roundOrder(targets, round)) {
      if (t.rotation !== undefined) throw new Error(`${t.name}: the fixed-rate generator sends fixed headers only`);
      await gate.wait(ownPids);
      const r = await runFixedRate(t.url, withHeaders(rate, t), { cpuPid: t.pid, ownPids });
      (out[t.name] ??= []).push(r);
      say(`  ${rate.rate} rps round ${round + 1}/${roundsN} ${t.name.padEnd(18)} p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  p99.9 ${r.p999.toFixed(3)} ms  achieved ${r.rps.toFixed(0)} rps  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
    }
  }
  return out;
}

/** Pure: each target's rounds folded (medians; failures summed). */
export function foldRounds(m: RoundResults): Record<string, LoadSummary> {
  return Object.fromEntries(Object.entries(m).filter(([, rs]) => rs.length > 0).map(([k, rs]) => [k, summarise(rs)]));
}

/** Pure: the rounds in which neither `a` nor `b` saw foreign CPU above the limit (unknown counts as quiet). */
export function quietRounds(m: RoundResults, a: string, b: string, limit = FOREIGN_CPU_LIMIT): number[] {
  const ra = m[a];
  const rb = m[b];
  if (ra === undefined || rb === undefined || ra.length !== rb.length) return [];
  return ra.map((_, i) => i).filter((i) => (ra[i]!.foreignCores ?? 0) <= limit && (rb[i]!.foreignCores ?? 0) <= limit);
}

/**
 * Pure: median over rounds of a.rps / b.rps (null when either is missing). Only rounds where
 * both measurements were quiet count when there is at least one such round: a disturbed run
 * slows whichever target it lands on, which no pairing cancels.
 */
export function rpsRatio(m: RoundResults, a: string, b: string): number | null {
  const quiet = quietRounds(m, a, b);
  const pick = (t: string): number[] | undefined => {
    const rs = m[t]?.map((r) => r.rps);
    return rs === undefined || quiet.length === 0 ? rs : quiet.map((i) => rs[i]!);
  };
  return pairedRatio(pick(a), pick(b));
}

/** Pure: "2 of 3" — how many rounds rpsRatio(a, b) used. */
export function ratioBasis(m: RoundResults, a: string, b: string): string {
  const n = m[a]?.length ?? 0;
  const q = quietRounds(m, a, b).length;
  return q === 0 ? `all ${n} (none quiet)` : `${q} of ${n} quiet`;
}

/** Pure: latency `target` adds over `baseline` at the same offered load, ms (median of per-round differences). */
export function addedLatency(m: RoundResults, target: string, baseline: string): { p50: number | null; p99: number | null } {
  const lat = (t: string, p: 'p50' | 'p99'): number[] | undefined => m[t]?.map((r) => r[p]);
  return { p50: pairedDiff(lat(target, 'p50'), lat(baseline, 'p50')), p99: pairedDiff(lat(target, 'p99'), lat(baseline, 'p99')) };
}

/** Foreign CPU (cores) above which a measurement counts as disturbed (as in passthrough). */
export const FOREIGN_CPU_LIMIT = 0.1;

/** Pure: warnings for a run disturbed by other processes or a fixed rate a target did not reach. */
export function sideBySideWarnings(closed: Record<string, LoadSummary>, fixed: Record<string, LoadSummary> = {}, offeredRps?: number): string[] {
  const w: string[] = [];
  const foreign = Math.max(0, ...[...Object.values(closed), ...Object.values(fixed)].map((x) => x.foreignCores ?? 0));
  if (foreign > FOREIGN_CPU_LIMIT) w.push(`other processes used up to ${foreign.toFixed(2)} cores during a measurement: absolute numbers are disturbed; ratios use only the rounds where both sides were quiet (column "rounds used"), and a quiet machine gives better numbers`);
  if (offeredRps !== undefined) {
    for (const [t, x] of Object.entries(fixed)) {
      if (x.rps < offeredRps * 0.98) w.push(`${t} reached ${x.rps.toFixed(0)} of ${offeredRps} rps offered: saturated or stalled, its latency is not "at ${offeredRps} rps"`);
    }
  }
  for (const [t, x] of Object.entries(closed)) {
    if (x.errors + x.non2xx > 0) w.push(`${t}: ${x.errors} errors and ${x.non2xx} non-2xx responses under load: its rps counts only the 2xx`);
  }
  return w;
}

/** Pure: the closed-loop table; a target in `skipped` gets a row naming the reason. */
export function throughputTable(names: readonly string[], s: Record<string, LoadSummary>, skipped: Record<string, string> = {}): string {
  return markdownTable(
    ['target', 'rps', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'non-2xx', 'CPU µs/req', 'foreign CPU'],
    names.map((t) => {
      const x = s[t];
      return x === undefined ? [t, `skipped: ${skipped[t] ?? 'not run'}`] : [t, cell(x.rps, 0), cell(x.p50), cell(x.p99), cell(x.p999), cell(x.errors, 0), cell(x.non2xx, 0), cell(x.cpuUsPerReq, 1), cell(x.foreignCores)];
    }),
    [false, true, true, true, true, true, true, true, true],
  );
}

/** Pure: the fixed-rate table; `added` holds each non-baseline target's latency over `baseline` (see addedLatency). */
export function fixedRateTable(names: readonly string[], s: Record<string, LoadSummary>, added: Readonly<Record<string, { p50: number | null; p99: number | null }>>, baseline: string, skipped: Record<string, string> = {}): string {
  return markdownTable(
    ['target', 'achieved rps', 'p50 ms', 'p99 ms', 'p99.9 ms', 'added p50 ms', 'added p99 ms', 'errors + non-2xx', 'foreign CPU'],
    names.map((t) => {
      const x = s[t];
      if (x === undefined) return [t, `skipped: ${skipped[t] ?? 'not run'}`];
      const a = t === baseline ? undefined : added[t];
      return [t, cell(x.rps, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.p999, 3), a === undefined ? '(baseline)' : cell(a.p50, 3), a === undefined ? '(baseline)' : cell(a.p99, 3), cell(x.errors + x.non2xx, 0), cell(x.foreignCores)];
    }),
    [false, true, true, true, true, true, true, true, true],
  );
}

/** A named ratio and, when known, which rounds it rests on (ratioBasis). */
export type RatioRow = readonly [string, number | null] | readonly [string, number | null, string];

/** Pure: a table of named ratios, with a rounds column when any row names its basis. */
export function ratioTable(rows: ReadonlyArray<RatioRow>, heading = 'ratio (rps, median of per-round ratios)'): string {
  const basis = rows.some((r) => r.length === 3);
  return basis
    ? markdownTable([heading, 'value', 'rounds used'], rows.map((r) => [r[0], cell(r[1]), r[2] ?? '']), [false, true, false])
    : markdownTable([heading, 'value'], rows.map(([k, v]) => [k, cell(v)]), [false, true]);
}

/** Pure: `headers` with Authorization values replaced by a description, for result files (tokens stay out of JSON). */
export function redactHeaders(headers: Record<string, string> | undefined, what: string): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, k.toLowerCase() === 'authorization' ? `Bearer <${what}>` : v]));
}

/** Per target, the median over its rounds of one measured process's CPU µs per request (`proc`, e.g. "upstream"); null when never measured. */
export function cpuMedians(m: Readonly<Record<string, ReadonlyArray<{ cpuUsPerReqOf: Readonly<Record<string, number>> }>>>, proc: string): Record<string, number | null> {
  return Object.fromEntries(Object.entries(m).map(([k, rs]) => {
    const xs = rs.map((r) => r.cpuUsPerReqOf[proc]).filter((x): x is number => x !== undefined);
    return [k, xs.length === 0 ? null : median(xs)];
  }));
}
