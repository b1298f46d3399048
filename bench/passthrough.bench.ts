// Scenario `passthrough`: no auth, one route to the cheap upstream. Measures in one run, in
// alternating rounds, direct upstream vs Portcullis vs HAProxy: max throughput (closed loop)
// and the latency each proxy adds at a fixed offered load (DESIGN §6 targets).
// CPU split (cpu-plan.ts): on 2 cores the loader runs alone on CPU 0 and the proxy under test
// (Portcullis workers: 1, or HAProxy nbthread 1) shares CPU 1 with the upstream.
import { availableParallelism } from 'node:os';
import { cpuPlan } from './cpu-plan.js';
import { haproxyForwardforFromEnv, startHaproxy } from './haproxy.js';
import { DEFAULT_FIXED_RATE_FLAGS, DEFAULT_LOAD_FLAGS, runFixedRate, runLoad, type FixedRateFlags, type FixedRateResult, type LoadFlags } from './load.js';
import { hasTaskset, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { pairedDiff, pairedRatio, roundOrder, summarise, type LoadResult, type LoadSummary } from './stats.js';
import { PIPELINING_ENV, withPipelining } from './build-compare.bench.js';
import { PortcullisUnavailable, passthroughConfigYaml, probe, startPortcullis, startUpstreamProcess } from './targets.js';

export type TargetName = 'direct' | 'portcullis' | 'haproxy';
export const TARGETS: readonly TargetName[] = ['direct', 'portcullis', 'haproxy'];

interface LiveTarget { name: TargetName; url: string; pid: number }

export interface PassthroughSummary {
  throughput: Partial<Record<TargetName, LoadSummary>>;
  fixedRate: Partial<Record<TargetName, LoadSummary>>;
  ratios: { portcullisOverHaproxy: number | null; portcullisOverDirect: number | null; haproxyOverDirect: number | null };
  /** Latency added over direct at the fixed offered load, ms (median over rounds of the per-round difference). */
  added: Partial<Record<'portcullis' | 'haproxy', { p50: number | null; p99: number | null }>>;
}

/** Pure: fold per-target rounds into summaries, paired ratios and added latency. */
export function summarisePassthrough(closed: Partial<Record<TargetName, LoadResult[]>>, fixed: Partial<Record<TargetName, LoadResult[]>>): PassthroughSummary {
  const fold = (m: Partial<Record<TargetName, LoadResult[]>>): Partial<Record<TargetName, LoadSummary>> =>
    Object.fromEntries(Object.entries(m).filter(([, rs]) => rs !== undefined && rs.length > 0).map(([k, rs]) => [k, summarise(rs!)]));
  const rps = (t: TargetName): number[] | undefined => closed[t]?.map((r) => r.rps);
  const lat = (t: TargetName, p: 'p50' | 'p99'): number[] | undefined => fixed[t]?.map((r) => r[p]);
  const added: PassthroughSummary['added'] = {};
  for (const t of ['portcullis', 'haproxy'] as const) {
    if (fixed[t] !== undefined && fixed.direct !== undefined) added[t] = { p50: pairedDiff(lat(t, 'p50'), lat('direct', 'p50')), p99: pairedDiff(lat(t, 'p99'), lat('direct', 'p99')) };
  }
  return {
    throughput: fold(closed),
    fixedRate: fold(fixed),
    ratios: {
      portcullisOverHaproxy: pairedRatio(rps('portcullis'), rps('haproxy')),
      portcullisOverDirect: pairedRatio(rps('portcullis'), rps('direct')),
      haproxyOverDirect: pairedRatio(rps('haproxy'), rps('direct')),
    },
    added,
  };
}

/** Foreign CPU (cores) above which a measurement counts as disturbed by other processes. */
export const FOREIGN_CPU_LIMIT = 0.1;

/** Pure: warnings that make a run's numbers untrustworthy (other processes busy, fixed rate not reached). */
export function passthroughWarnings(s: PassthroughSummary, offeredRps: number): string[] {
  const w: string[] = [];
  const foreign = Math.max(0, ...[...Object.values(s.throughput), ...Object.values(s.fixedRate)].map((x) => x?.foreignCores ?? 0));
  if (foreign > FOREIGN_CPU_LIMIT) w.push(`other processes used up to ${foreign.toFixed(2)} cores during a measurement: numbers are disturbed, rerun on a quiet machine`);
  for (const t of TARGETS) {
    const x = s.fixedRate[t];
    if (x !== undefined && x.rps < offeredRps * 0.98) w.push(`${t} reached ${x.rps.toFixed(0)} of ${offeredRps} rps offered: saturated or stalled, its latency is not "at ${offeredRps} rps"`);
  }
  return w;
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function passthroughTables(s: PassthroughSummary, skipped: Partial<Record<TargetName, string>>, load: LoadFlags, rate: FixedRateFlags, warnings: readonly string[] = []): string {
  const skipRow = (t: TargetName): string[] => [t, `skipped: ${skipped[t] ?? 'not run'}`];
  const tp = markdownTable(
    ['target', 'rps', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'non-2xx', 'CPU µs/req', 'foreign CPU'],
    TARGETS.map((t) => {
      const x = s.throughput[t];
      return x === undefined ? skipRow(t) : [t, cell(x.rps, 0), cell(x.p50), cell(x.p99), cell(x.p999), cell(x.errors, 0), cell(x.non2xx, 0), cell(x.cpuUsPerReq, 1), cell(x.foreignCores)];
    }),
    [false, true, true, true, true, true, true, true, true],
  );
  const ratios = markdownTable(['ratio (rps, median of per-round ratios)', 'value'], [
    ['portcullis / haproxy', cell(s.ratios.portcullisOverHaproxy)],
    ['portcullis / direct', cell(s.ratios.portcullisOverDirect)],
    ['haproxy / direct', cell(s.ratios.haproxyOverDirect)],
  ], [false, true]);
  const fx = markdownTable(
    ['target', 'achieved rps', 'p50 ms', 'p99 ms', 'p99.9 ms', 'added p50 ms', 'added p99 ms', 'errors + non-2xx', 'foreign CPU'],
    TARGETS.map((t) => {
      const x = s.fixedRate[t];
      if (x === undefined) return skipRow(t);
      const a = t === 'direct' ? undefined : s.added[t];
      return [t, cell(x.rps, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.p999, 3), t === 'direct' ? '(baseline)' : cell(a?.p50, 3), t === 'direct' ? '(baseline)' : cell(a?.p99, 3), cell(x.errors + x.non2xx, 0), cell(x.foreignCores)];
    }),
    [false, true, true, true, true, true, true, true, true],
  );
  return [
    `**Throughput** — closed loop, autocannon ${load.connections} connections, pipelining ${load.pipelining}, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds; CPU µs/req is the hop's process (direct: the upstream itself); foreign CPU = cores used by other processes (worst round).`,
    '', tp, '', ratios, '',
    `**Added latency at a fixed offered load** — ${rate.rate} rps, ${rate.engine} engine (latency from each request's scheduled send), ${rate.durationS} s (+${rate.warmupS} s warmup) per round; added = median over rounds of (target − direct).`,
    '', fx,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Run the scenario: start upstream, Portcullis and HAProxy, load them in alternating rounds, stop them all. */
export async function passthrough(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlan(availableParallelism());
  const roundsN = opts.rounds;
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1 };
  // 2 s warmup at the fixed rate: the generator's own JIT and first GCs settle in its first second.
  const rate: FixedRateFlags = { ...DEFAULT_FIXED_RATE_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 2 };
  const skipped: Partial<Record<TargetName, string>> = {};
  const peers: Record<string, string> = {};
  const stops: Array<() => Promise<void>> = [];
  const restoreAffinity = pinSelf(plan.loader);
  try {
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const live: LiveTarget[] = [{ name: 'direct', url: upstream.url, pid: upstream.process.pid }];

    try {
      const pc = await startPortcullis(withPipelining(passthroughConfigYaml(upstream.port), process.env[PIPELINING_ENV]), plan.proxy);
      stops.push(() => pc.stop());
      live.push({ name: 'portcullis', url: pc.url, pid: pc.process.pid });
    } catch (err) {
      if (!(err instanceof PortcullisUnavailable)) throw err;
      skipped.portcullis = err.message;
      say(`skip portcullis: ${err.message}`);
    }

    const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: plan.proxy.length, cpus: plan.proxy, forwardfor: haproxyForwardforFromEnv() });
    if (hp.skipped) skipped.haproxy = hp.reason;
    else {
      stops.push(() => hp.stop());
      peers.haproxy = hp.version;
      live.push({ name: 'haproxy', url: hp.url, pid: hp.process.pid });
    }

    // A target that does not answer `200 hello` would be benchmarked on its error path.
    for (const t of live) {
      const r = await probe(t.url + load.path);
      if (r.status !== 200 || r.body !== 'hello') throw new Error(`${t.name} (${t.url}) answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))} instead of 200 "hello"`);
    }

    const ownPids = [...new Set(live.map((t) => t.pid))];
    const closed: Partial<Record<TargetName, LoadResult[]>> = {};
    const fixed: Partial<Record<TargetName, FixedRateResult[]>> = {};
    for (let round = 0; round < roundsN; round++) {
      for (const t of roundOrder(live, round)) {
        const r = await runLoad(t.url, load, { cpuPid: t.pid, ownPids });
        (closed[t.name] ??= []).push(r);
        say(`  throughput round ${round + 1}/${roundsN} ${t.name.padEnd(10)} ${r.rps.toFixed(0).padStart(7)} rps  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  non-2xx ${r.non2xx}  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
      }
    }
    for (let round = 0; round < roundsN; round++) {
      for (const t of roundOrder(live, round)) {
        const r = await runFixedRate(t.url, rate, { cpuPid: t.pid, ownPids });
        (fixed[t.name] ??= []).push(r);
        say(`  ${rate.rate} rps round ${round + 1}/${roundsN} ${t.name.padEnd(10)} p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  p99.9 ${r.p999.toFixed(3)} ms  achieved ${r.rps.toFixed(0)} rps  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
      }
    }

    const summary = summarisePassthrough(closed, fixed);
    const warnings = [...passthroughWarnings(summary, rate.rate), ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply'])];
    return {
      scenario: 'passthrough',
      quick: opts.quick,
      flags: { throughput: load, fixedRate: rate, rounds: roundsN, order: 'rotated each round', ...(process.env[PIPELINING_ENV] ? { upstreamPipelining: Number(process.env[PIPELINING_ENV]) } : {}) },
      cpuPlan: plan,
      peers,
      skipped,
      rounds: { throughput: closed, fixedRate: fixed },
      summary,
      warnings,
      table: passthroughTables(summary, skipped, load, rate, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    restoreAffinity();
  }
}
