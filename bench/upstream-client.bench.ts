// Scenario `upstream-client`: is the hand-written HTTP/1.1 upstream client (node/upstream/h1-*.ts)
// worth keeping over undici? The passthrough path (no auth, one route, cheap upstream) runs in two
// Portcullis processes that differ only in their upstream client — H1Pool, or undici through the
// internal switch PORTCULLIS_UPSTREAM_CLIENT=undici — loaded in alternating rounds on the same
// upstream: throughput and CPU µs/request closed loop, and CPU µs/request at a fixed offered load.
import { availableParallelism } from 'node:os';
import { cpuPlan } from './cpu-plan.js';
import { DEFAULT_FIXED_RATE_FLAGS, DEFAULT_LOAD_FLAGS, type FixedRateFlags, type LoadFlags } from './load.js';
import { hasTaskset, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { closedLoopRounds, fixedRateRounds, foldRounds, quietGate, ratioBasis, ratioTable, rpsRatio, sideBySideWarnings, throughputTable, type LoadTarget, type RoundResults } from './side-by-side.js';
import { median, type LoadSummary } from './stats.js';
import { passthroughConfigYaml, probe, startPortcullis, startUpstreamProcess } from './targets.js';

/** Row names: the upstream alone, Portcullis with its own client, Portcullis with undici. */
export const CLIENT_TARGETS = ['direct', 'h1', 'undici'] as const;

export interface UpstreamClientSummary {
  throughput: Record<string, LoadSummary>;
  fixedRate: Record<string, LoadSummary>;
  /** Median over rounds of h1 rps / undici rps (quiet rounds only when there are any). */
  h1OverUndici: number | null;
  /** Median over rounds of (undici − h1) proxy CPU µs per request: what the own client saves. */
  cpuSavedUs: { closedLoop: number | null; fixedRate: number | null };
}

/** Pure: median of per-round (undici − h1) CPU µs/req, null when either side lacks CPU samples. */
export function pairedCpuSaving(m: RoundResults): number | null {
  const a = m.h1, b = m.undici;
  if (a === undefined || b === undefined || a.length === 0 || a.length !== b.length) return null;
  const d: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!.cpuUsPerReq, y = b[i]!.cpuUsPerReq;
    if (x === undefined || y === undefined) return null;
    d.push(y - x);
  }
  return median(d);
}

/** Pure: fold the rounds of both measurements into the summary. */
export function summariseUpstreamClient(closed: RoundResults, fixed: RoundResults): UpstreamClientSummary {
  return {
    throughput: foldRounds(closed),
    fixedRate: foldRounds(fixed),
    h1OverUndici: rpsRatio(closed, 'h1', 'undici'),
    cpuSavedUs: { closedLoop: pairedCpuSaving(closed), fixedRate: pairedCpuSaving(fixed) },
  };
}

/** Pure: the printed tables (what goes into bench/RESULTS.md). */
export function upstreamClientTables(s: UpstreamClientSummary, closed: RoundResults, load: LoadFlags, rate: FixedRateFlags, warnings: readonly string[]): string {
  const cpu = markdownTable(
    ['target', 'CPU µs/req closed loop', `CPU µs/req at ${rate.rate} rps`, `p50 ms at ${rate.rate} rps`, `p99 ms at ${rate.rate} rps`],
    CLIENT_TARGETS.map((t) => [t, cell(s.throughput[t]?.cpuUsPerReq, 1), cell(s.fixedRate[t]?.cpuUsPerReq, 1), cell(s.fixedRate[t]?.p50, 3), cell(s.fixedRate[t]?.p99, 3)]),
    [false, true, true, true, true],
  );
  return [
    `**Throughput** — closed loop, autocannon ${load.connections} connections, pipelining ${load.pipelining}, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds; CPU µs/req is the hop's process (direct: the upstream itself).`,
    '', throughputTable(CLIENT_TARGETS, s.throughput), '',
    ratioTable([['h1 / undici', s.h1OverUndici, ratioBasis(closed, 'h1', 'undici')]]), '',
    `**CPU per request** — the proxy process's CPU time per response (user + system, all threads); at a fixed offered load of ${rate.rate} rps (${rate.engine}, ${rate.durationS} s + ${rate.warmupS} s warmup per round) it does not depend on how much CPU is left over.`,
    '', cpu, '',
    markdownTable(['undici − h1, CPU µs/req (median of per-round differences)', 'value'], [
      ['closed loop', cell(s.cpuSavedUs.closedLoop, 1)],
      [`at ${rate.rate} rps`, cell(s.cpuSavedUs.fixedRate, 1)],
    ], [false, true]),
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Run the scenario: one upstream, two Portcullis processes (h1, undici), alternating rounds. */
export async function upstreamClient(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlan(availableParallelism());
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1 };
  const rate: FixedRateFlags = { ...DEFAULT_FIXED_RATE_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 2 };
  const stops: Array<() => Promise<void>> = [];
  const restoreAffinity = pinSelf(plan.loader);
  try {
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const config = passthroughConfigYaml(upstream.port);
    const h1 = await startPortcullis(config, plan.proxy);
    stops.push(() => h1.stop());
    const undici = await startPortcullis(config, plan.proxy, { PORTCULLIS_UPSTREAM_CLIENT: 'undici' });
    stops.push(() => undici.stop());
    const targets: LoadTarget[] = [
      { name: 'direct', url: upstream.url, pid: upstream.process.pid },
      { name: 'h1', url: h1.url, pid: h1.process.pid },
      { name: 'undici', url: undici.url, pid: undici.process.pid },
    ];
    for (const t of targets) {
      const r = await probe(t.url + load.path);
      if (r.status !== 200 || r.body !== 'hello') throw new Error(`${t.name} (${t.url}) answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))} instead of 200 "hello"`);
    }
    const ownPids = targets.map((t) => t.pid);
    // a shared machine: wait (up to 60 s in all) for quiet moments before measuring
    const gate = quietGate(opts.quick ? 0 : 60);
    say('closed loop');
    const closed = await closedLoopRounds(targets, load, opts.rounds, ownPids, gate);
    say(`fixed load, ${rate.rate} rps`);
    const fixed = await fixedRateRounds(targets, rate, opts.rounds, ownPids, gate);
    const summary = summariseUpstreamClient(closed, fixed);
    const warnings = [
      ...sideBySideWarnings(summary.throughput, summary.fixedRate, rate.rate),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'upstream-client',
      quick: opts.quick,
      flags: { throughput: load, fixedRate: rate, rounds: opts.rounds, order: 'rotated each round', switch: 'PORTCULLIS_UPSTREAM_CLIENT=undici on the undici process', quietWaitS: gate.waitedS },
      cpuPlan: plan,
      peers: {},
      skipped: {},
      rounds: { throughput: closed, fixedRate: fixed },
      summary,
      warnings,
      table: upstreamClientTables(summary, closed, load, rate, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    restoreAffinity();
  }
}
