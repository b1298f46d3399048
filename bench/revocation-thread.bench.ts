// Scenario `revocation-thread`: the `revocation-propagation` scenario in paired, interleaved
// rounds — `cluster.revocation.receiver: main`, then `thread` (order alternating per pair: AB BA
// AB…), fresh members every round — and one table of the pairs: members' publish → visible (the
// enforcement moment) and → applied, POST → first 401 at every member, the fraction ≤ 5 ms, the
// members' CPU per response and the foreign CPU. `PORTCULLIS_BENCH_REVOCATION_DIRECT=1` runs both arms with the direct push.
import { markdownTable, cell } from './results.js';
import { envInt, revocationPropagation, type PropagationSummary, type ProxyHistogram } from './revocation-propagation.bench.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** One round's figures (ms; fractions 0..1). */
export interface ThreadRound {
  pair: number;
  receiver: 'main' | 'thread';
  /** Members' publish → visible / → applied: the median of the members' p50, the highest member p99, the merged ≤ 5 ms fraction. */
  visible: { p50: number | null; p99: number | null; le5: number | null };
  applied: { p50: number | null; p99: number | null; le5: number | null };
  /** POST sent → first 401 at every member (slowest of 3 per revocation). */
  everyP50: number | null;
  everyP99: number | null;
  everyLe5: number | null;
  firstThread: number;
  firstLive: number;
  cpuUsPerRequest: number | null;
  /** Of it, the receiver threads' own CPU. */
  threadCpuUsPerRequest: number | null;
  foreignCores: number | null;
  warnings: number;
}

function fold(hs: readonly ProxyHistogram[] | undefined, merged: ProxyHistogram | undefined): ThreadRound['visible'] {
  const p50s = (hs ?? []).map((p) => p.p50).filter((x): x is number => x !== null).sort((a, b) => a - b);
  const p99s = (hs ?? []).map((p) => p.p99).filter((x): x is number => x !== null);
  return { p50: p50s.length === 0 ? null : p50s[Math.floor(p50s.length / 2)]!, p99: p99s.length === 0 ? null : Math.max(...p99s), le5: merged?.le5 ?? null };
}

function roundOf(pair: number, receiver: 'main' | 'thread', s: PropagationSummary, warnings: number): ThreadRound {
  return {
    pair, receiver, visible: fold(s.visible, s.visibleMerged), applied: fold(s.proxies, s.proxiesMerged),
    everyP50: s.prober.slowest.p50, everyP99: s.prober.slowest.p99, everyLe5: s.prober.slowest.within5,
    firstThread: s.firstArrivals?.thread ?? 0, firstLive: s.firstArrivals?.live ?? 0, cpuUsPerRequest: s.memberCpuUsPerRequest ?? null, threadCpuUsPerRequest: s.receiverThreadCpuUsPerRequest ?? null, foreignCores: s.foreignCores, warnings,
  };
}

const pct = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);
const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);

/** Pure: the per-round table and the pairs' ratios (thread / main; < 1 = the thread faster or cheaper). */
export function threadTables(rounds: readonly ThreadRound[], revocations: number, direct: boolean): string {
  const per = markdownTable(
    ['pair', 'receiver', 'visible p50 ms', 'visible p99 ms (worst member)', 'visible ≤ 5 ms', 'applied p50 ms', 'applied p99 ms', 'applied ≤ 5 ms', 'POST → 401 every member p50 ms', 'p99 ms', '≤ 5 ms', 'first arrivals thread / NATS', 'members CPU µs/response', 'of it receiver threads', 'foreign CPU'],
    rounds.map((r) => [String(r.pair), r.receiver, cell(r.visible.p50, 3), cell(r.visible.p99, 3), pct(r.visible.le5), cell(r.applied.p50, 3), cell(r.applied.p99, 3), pct(r.applied.le5),
      cell(r.everyP50, 3), cell(r.everyP99, 3), pct(r.everyLe5), `${r.firstThread} / ${r.firstLive}`, cell(r.cpuUsPerRequest, 1), cell(r.threadCpuUsPerRequest, 1), cell(r.foreignCores)]),
    [false, false, true, true, true, true, true, true, true, true, true, false, true, true, true],
  );
  const pairs = [...new Set(rounds.map((r) => r.pair))].map((p) => ({ p, m: rounds.find((r) => r.pair === p && r.receiver === 'main'), t: rounds.find((r) => r.pair === p && r.receiver === 'thread') }))
    .filter((x): x is { p: number; m: ThreadRound; t: ThreadRound } => x.m !== undefined && x.t !== undefined);
  const ratios = markdownTable(
    ['pair', 'visible p50 thread/main', 'visible p99', 'every-member 401 p50', 'every-member 401 p99', 'CPU µs/response', 'visible ≤ 5 ms: main → thread'],
    pairs.map(({ p, m, t }) => [String(p), cell(ratio(t.visible.p50, m.visible.p50), 2), cell(ratio(t.visible.p99, m.visible.p99), 2), cell(ratio(t.everyP50, m.everyP50), 2), cell(ratio(t.everyP99, m.everyP99), 2),
      cell(ratio(t.cpuUsPerRequest, m.cpuUsPerRequest), 3), `${pct(m.visible.le5)} → ${pct(t.visible.le5)}`]),
    [false, true, true, true, true, true, false],
  );
  return [
    `**Receiver thread vs main thread** — the \`revocation-propagation\` scenario (${revocations} revocations per round, 3 members, background load; see its own table for the method; direct push ${direct ? 'on' : 'off'} in both arms), in ${pairs.length} pairs of interleaved rounds, order alternating per pair, fresh members every round. Visible: publish stamp at the origin → the receiver thread's ring write (every check drains the ring first), else the apply; applied: → applied on the main thread (first arrival only). CPU: members' process CPU (thread included) per response in the window. Ratios < 1: the thread faster or cheaper.`,
    '', per, '', ratios,
  ].join('\n');
}

/** Run `PORTCULLIS_BENCH_PAIRS` (default 4, quick 1) pairs of rounds, `PORTCULLIS_BENCH_REVOCATIONS` (default 100, quick 20) revocations each. */
export async function revocationThread(opts: ScenarioOptions): Promise<ScenarioReport> {
  const pairs = envInt('PORTCULLIS_BENCH_PAIRS', 1) ?? (opts.quick ? 1 : 4);
  const revocations = envInt('PORTCULLIS_BENCH_REVOCATIONS', 1) ?? (opts.quick ? 20 : 100);
  const direct = process.env.PORTCULLIS_BENCH_REVOCATION_DIRECT === '1';
  const saved = process.env.PORTCULLIS_BENCH_REVOCATIONS;
  process.env.PORTCULLIS_BENCH_REVOCATIONS = String(revocations);
  const rounds: ThreadRound[] = [];
  const warnings: string[] = [];
  const raw: unknown[] = [];
  try {
    for (let p = 1; p <= pairs; p++) {
      for (const receiver of p % 2 === 1 ? (['main', 'thread'] as const) : (['thread', 'main'] as const)) {
        say(`pair ${p}/${pairs}: receiver ${receiver}`);
        const r = await revocationPropagation(opts, direct, receiver);
        rounds.push(roundOf(p, receiver, r.summary as PropagationSummary, r.warnings.length));
        warnings.push(...r.warnings.map((w) => `pair ${p} ${receiver}: ${w}`));
        raw.push({ pair: p, receiver, summary: r.summary });
      }
    }
  } finally {
    if (saved === undefined) delete process.env.PORTCULLIS_BENCH_REVOCATIONS; else process.env.PORTCULLIS_BENCH_REVOCATIONS = saved;
  }
  return {
    scenario: 'revocation-thread', quick: opts.quick, flags: { pairs, revocations, direct, order: 'AB BA AB BA…' }, cpuPlan: { loader: [], upstream: [], proxy: [], note: 'as revocation-propagation: no pinning' },
    peers: {}, skipped: {}, rounds: raw, summary: rounds, warnings, table: threadTables(rounds, revocations, direct),
  };
}
