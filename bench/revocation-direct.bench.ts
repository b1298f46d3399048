// Scenario `revocation-direct`: the `revocation-propagation` scenario run in paired, interleaved
// rounds — NATS only, then the same with `cluster.revocation.direct` (order alternating per pair:
// AB BA AB…), each round a fresh set of members — and one table of the pairs. The machine is
// shared: read the per-pair ratios and the fraction ≤ 5 ms, not one round's tail.
import { markdownTable, cell } from './results.js';
import { envInt, revocationPropagation, type PropagationSummary } from './revocation-propagation.bench.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** One round's figures (ms; fractions 0..1). */
export interface DirectRound {
  pair: number;
  direct: boolean;
  /** Members' own publish → applied: the median of the members' p50, the highest member p99, merged ≤ 5 ms fraction. */
  appliedP50: number | null;
  appliedP99: number | null;
  appliedLe5: number | null;
  /** POST sent → first 401 at every member (slowest of 3 per revocation). */
  everyP50: number | null;
  everyP99: number | null;
  everyLe5: number | null;
  /** POST sent → first 401 at each non-origin member. */
  othersP50: number | null;
  othersP99: number | null;
  firstDirect: number;
  firstLive: number;
  foreignCores: number | null;
  warnings: number;
}

function roundOf(pair: number, direct: boolean, s: PropagationSummary, warnings: number): DirectRound {
  const p50s = s.proxies.map((p) => p.p50).filter((x): x is number => x !== null).sort((a, b) => a - b);
  const p99s = s.proxies.map((p) => p.p99).filter((x): x is number => x !== null);
  return {
    pair, direct,
    appliedP50: p50s.length === 0 ? null : p50s[Math.floor(p50s.length / 2)]!, appliedP99: p99s.length === 0 ? null : Math.max(...p99s), appliedLe5: s.proxiesMerged.le5,
    everyP50: s.prober.slowest.p50, everyP99: s.prober.slowest.p99, everyLe5: s.prober.slowest.within5,
    othersP50: s.prober.others.p50, othersP99: s.prober.others.p99,
    firstDirect: s.firstArrivals?.direct ?? 0, firstLive: s.firstArrivals?.live ?? 0, foreignCores: s.foreignCores, warnings,
  };
}

/** Pure: the per-round table and the pairs' ratios (direct / NATS only; < 1 = direct faster). */
export function directTables(rounds: readonly DirectRound[], revocations: number): string {
  const pct = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);
  const per = markdownTable(
    ['pair', 'path', 'members publish → applied p50 ms', 'p99 ms (worst member)', '≤ 5 ms', 'POST → 401 every member p50 ms', 'p99 ms', '≤ 5 ms', 'other members p50 ms', 'p99 ms', 'first arrivals direct / NATS', 'foreign CPU'],
    rounds.map((r) => [String(r.pair), r.direct ? 'direct + NATS' : 'NATS only', cell(r.appliedP50, 3), cell(r.appliedP99, 3), pct(r.appliedLe5), cell(r.everyP50, 3), cell(r.everyP99, 3), pct(r.everyLe5), cell(r.othersP50, 3), cell(r.othersP99, 3), `${r.firstDirect} / ${r.firstLive}`, cell(r.foreignCores)]),
    [true, false, true, true, true, true, true, true, true, true, false, true],
  );
  const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);
  const pairs = [...new Set(rounds.map((r) => r.pair))].map((p) => ({ p, n: rounds.find((r) => r.pair === p && !r.direct), d: rounds.find((r) => r.pair === p && r.direct) }))
    .filter((x) => x.n !== undefined && x.d !== undefined) as Array<{ p: number; n: DirectRound; d: DirectRound }>;
  const ratios = markdownTable(
    ['pair', 'applied p50 direct/NATS', 'applied p99', 'every-member 401 p50', 'every-member 401 p99', '≤ 5 ms every member: NATS → direct'],
    pairs.map(({ p, n, d }) => [String(p), cell(ratio(d.appliedP50, n.appliedP50), 2), cell(ratio(d.appliedP99, n.appliedP99), 2), cell(ratio(d.everyP50, n.everyP50), 2), cell(ratio(d.everyP99, n.everyP99), 2), `${pct(n.everyLe5)} → ${pct(d.everyLe5)}`]),
    [true, true, true, true, true, false],
  );
  return [
    `**Direct revocation push vs NATS only** — the \`revocation-propagation\` scenario (${revocations} revocations per round, 3 members, background load; see its own table for the method), in ${pairs.length} pairs of interleaved rounds, order alternating per pair, fresh members every round. Members' histogram: publish stamp at the origin → applied at the receiver (first arrival only). Ratios < 1: direct faster.`,
    '', per, '', ratios,
  ].join('\n');
}

/** Run `PORTCULLIS_BENCH_PAIRS` (default 4, quick 1) pairs of rounds, `PORTCULLIS_BENCH_REVOCATIONS` (default 100, quick 20) revocations each. */
export async function revocationDirect(opts: ScenarioOptions): Promise<ScenarioReport> {
  const pairs = envInt('PORTCULLIS_BENCH_PAIRS', 1) ?? (opts.quick ? 1 : 4);
  const revocations = envInt('PORTCULLIS_BENCH_REVOCATIONS', 1) ?? (opts.quick ? 20 : 100);
  const saved = process.env.PORTCULLIS_BENCH_REVOCATIONS;
  process.env.PORTCULLIS_BENCH_REVOCATIONS = String(revocations);
  const rounds: DirectRound[] = [];
  const warnings: string[] = [];
  const raw: unknown[] = [];
  try {
    for (let p = 1; p <= pairs; p++) {
      for (const direct of p % 2 === 1 ? [false, true] : [true, false]) {
        say(`pair ${p}/${pairs}: ${direct ? 'direct + NATS' : 'NATS only'}`);
        const r = await revocationPropagation(opts, direct);
        rounds.push(roundOf(p, direct, r.summary as PropagationSummary, r.warnings.length));
        warnings.push(...r.warnings.map((w) => `pair ${p} ${direct ? 'direct' : 'NATS only'}: ${w}`));
        raw.push({ pair: p, direct, summary: r.summary });
      }
    }
  } finally {
    if (saved === undefined) delete process.env.PORTCULLIS_BENCH_REVOCATIONS; else process.env.PORTCULLIS_BENCH_REVOCATIONS = saved;
  }
  return {
    scenario: 'revocation-direct', quick: opts.quick, flags: { pairs, revocations, order: 'AB BA AB BA…' }, cpuPlan: { loader: [], upstream: [], proxy: [], note: 'as revocation-propagation: no pinning' },
    peers: {}, skipped: {}, rounds: raw, summary: rounds, warnings, table: directTables(rounds, revocations),
  };
}
