// Scenario `introspection-cluster` (DESIGN §6: authorization-server calls per distinct token
// per TTL across 3 instances under concurrent load = 1). Three Portcullis members on one
// nats-server share introspection results (owner-based single-flight); per round, N fresh
// opaque tokens are requested at all three members at once (one closed-loop client per member,
// each walking the same token list from the start, so every token reaches the three members within
// moments of each other). Compared with one standalone instance (no cluster) receiving the same
// 3 × N requests, each token three times back to back on different connections. Then both again
// on warm caches. Target columns: AS calls per distinct token (1.00) and throughput.
// CPU: no pinning — members, nats-server, AS, upstream and the loader share every core.
import { performance } from 'node:perf_hooks';
import { clusterMetrics, memberConfigYaml, startClusterPeers, startMembers, waitMembership, waitReady, type Member } from './cluster-targets.js';
import type { CpuPlan } from './cpu-plan.js';
import { natsServerBin } from './nats-process.js';
import { watchForeignCpu } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { median } from './stats.js';
import { runTokenList, type ListLoadResult } from './token-list-load.js';
import { waitUntilServing, type AuthServerProcess } from './token-targets.js';

const MEMBER_IDS = ['bench-a', 'bench-b', 'bench-c'] as const;

export interface IntrospectionClusterFlags {
  /** Distinct opaque tokens per round. */
  tokens: number;
  /** Connections per member (the single instance gets members × this). */
  connectionsPerMember: number;
  rounds: number;
  timeoutS: number;
  /** Positive-result TTL at every instance, s (longer than a round: each token is introspected once per TTL). */
  introspectionTtlS: number;
}

export const DEFAULT_INTROSPECTION_CLUSTER_FLAGS: Omit<IntrospectionClusterFlags, 'rounds'> = { tokens: 2_000, connectionsPerMember: 16, timeoutS: 10, introspectionTtlS: 600 };

/** One pass: every request answered, counted over the pass. */
export interface Pass {
  target: 'cluster' | 'single';
  phase: 'cold' | 'warm';
  tokens: number;
  requests: number;
  /** Introspection requests the authorization server received during the pass. */
  asCalls: number;
  callsPerToken: number;
  /** Wall time from the first request to the last answer, s. */
  elapsedS: number;
  rps: number;
  /** Per member (cluster) or the instance (single): p50/p99 ms of its 2xx answers. */
  latency: Array<{ p50: number; p99: number }>;
  non2xx: number;
  errors: number;
  foreignCores: number | null;
  /** Cluster passes: per member deltas of the shared-cache counters. */
  members?: Array<{ id: string; calls: number; remoteHits: number; leaseWaits: number; fallbackCalls: number; ownerFailovers: number }>;
}

export interface IntrospectionClusterSummary {
  /** Medians over rounds; `callsPerToken` max over rounds (the target is exact). */
  rows: Array<{ target: Pass['target']; phase: Pass['phase']; rps: number; callsPerTokenMax: number; callsPerTokenMedian: number; p99: number; failures: number; foreignCores: number | null }>;
  clusterOverSingle: { cold: number | null; warm: number | null };
  /** Calls made per member over every cold cluster pass (who called the AS). */
  callsByMember: Record<string, number>;
}

/** Pure: fold passes into rows and ratios. */
export function summariseIntrospectionCluster(passes: readonly Pass[]): IntrospectionClusterSummary {
  const rows: IntrospectionClusterSummary['rows'] = [];
  const ratio: IntrospectionClusterSummary['clusterOverSingle'] = { cold: null, warm: null };
  for (const phase of ['cold', 'warm'] as const) {
    for (const target of ['cluster', 'single'] as const) {
      const ps = passes.filter((p) => p.phase === phase && p.target === target);
      if (ps.length === 0) continue;
      const foreign = ps.map((p) => p.foreignCores).filter((x): x is number => x !== null);
      rows.push({
        target, phase, rps: median(ps.map((p) => p.rps)), callsPerTokenMax: Math.max(...ps.map((p) => p.callsPerToken)), callsPerTokenMedian: median(ps.map((p) => p.callsPerToken)),
        p99: median(ps.map((p) => Math.max(...p.latency.map((l) => l.p99)))), failures: ps.reduce((n, p) => n + p.non2xx + p.errors, 0),
        foreignCores: foreign.length === 0 ? null : Math.max(...foreign),
      });
    }
    const c = passes.filter((p) => p.phase === phase && p.target === 'cluster');
    const s = passes.filter((p) => p.phase === phase && p.target === 'single');
    if (c.length > 0 && c.length === s.length) ratio[phase] = median(c.map((p, i) => p.rps / s[i]!.rps));
  }
  const callsByMember: Record<string, number> = {};
  for (const p of passes) if (p.target === 'cluster' && p.phase === 'cold') for (const m of p.members ?? []) callsByMember[m.id] = (callsByMember[m.id] ?? 0) + m.calls;
  return { rows, clusterOverSingle: ratio, callsByMember };
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function introspectionClusterTables(s: IntrospectionClusterSummary, f: IntrospectionClusterFlags, warnings: readonly string[] = []): string {
  const t = markdownTable(
    ['pass', 'requests / pass', 'rps (all instances)', 'AS calls per distinct token (max over rounds)', 'median', 'p99 ms (worst instance)', 'non-2xx + errors', 'foreign CPU'],
    s.rows.map((r) => [
      `${r.target === 'cluster' ? '3 members (NATS)' : '1 instance'} — ${r.phase}`, cell(3 * f.tokens, 0), cell(r.rps, 0),
      r.phase === 'cold' ? `**${cell(r.callsPerTokenMax, 3)}**` : cell(r.callsPerTokenMax, 3), cell(r.callsPerTokenMedian, 3), cell(r.p99, 2), cell(r.failures, 0), cell(r.foreignCores),
    ]),
    [false, true, true, true, true, true, true, true],
  );
  const ratios = markdownTable(['ratio (rps, median of per-round ratios)', 'value'], [
    ['3 members / 1 instance, cold', cell(s.clusterOverSingle.cold)],
    ['3 members / 1 instance, warm', cell(s.clusterOverSingle.warm)],
  ], [false, true]);
  const who = Object.entries(s.callsByMember).map(([id, n]) => `${id} ${n}`).join(', ');
  return [
    `**Introspection across 3 members** — per round ${f.tokens} fresh opaque tokens; cluster: one closed-loop undici client per member (${f.connectionsPerMember} connections each, bench/token-list-load.ts), every member gets every token once, all three walk the list together; single: one instance (no cluster), the same ${3 * f.tokens} requests, each token 3× back to back (${3 * f.connectionsPerMember} connections). Warm: the same again on filled caches. ${f.rounds} round(s), order alternating; introspection cache_ttl_s ${f.introspectionTtlS}. Target: AS calls per distinct token = 1.00 in the cold cluster pass. AS calls made by member (cold cluster passes): ${who || '—'}.`,
    '', t, '', ratios,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

const SHARED_COUNTERS = {
  calls: 'cluster_introspection_calls_total', remoteHits: 'cluster_introspection_remote_hits_total', leaseWaits: 'cluster_introspection_lease_waits_total',
  fallbackCalls: 'cluster_introspection_fallback_calls_total', ownerFailovers: 'cluster_introspection_owner_failovers_total',
} as const;

interface PassDeps { as: AuthServerProcess; ownPids: number[]; adminToken: string; f: IntrospectionClusterFlags }

async function clusterPass(d: PassDeps, members: readonly Member[], tokens: readonly string[], phase: Pass['phase']): Promise<Pass> {
  const calls0 = (await d.as.counters()).introspection;
  const m0 = await Promise.all(members.map((m) => clusterMetrics(m, d.adminToken)));
  const foreign = watchForeignCpu(d.ownPids);
  const t0 = performance.now();
  const results: ListLoadResult[] = await Promise.all(members.map((m) => runTokenList(m.url, tokens, {
    connections: d.f.connectionsPerMember, timeoutS: d.f.timeoutS, path: '/', prefix: 'Bearer ',
  })));
  const elapsedS = (Math.max(...results.map((r) => r.endedAt)) - t0) / 1000;
  const foreignCores = foreign() ?? null;
  const asCalls = (await d.as.counters()).introspection - calls0;
  const m1 = await Promise.all(members.map((m) => clusterMetrics(m, d.adminToken)));
  const requests = tokens.length * members.length;
  const delta = (i: number, k: string): number => (m1[i]![k] ?? 0) - (m0[i]![k] ?? 0);
  return {
    target: 'cluster', phase, tokens: tokens.length, requests, asCalls, callsPerToken: asCalls / tokens.length, elapsedS, rps: results.reduce((n, r) => n + r.ok, 0) / elapsedS,
    latency: results.map((r) => ({ p50: r.p50, p99: r.p99 })), non2xx: results.reduce((n, r) => n + r.non2xx, 0), errors: results.reduce((n, r) => n + r.errors, 0), foreignCores,
    members: members.map((m, i) => ({
      id: m.id, calls: delta(i, SHARED_COUNTERS.calls), remoteHits: delta(i, SHARED_COUNTERS.remoteHits), leaseWaits: delta(i, SHARED_COUNTERS.leaseWaits),
      fallbackCalls: delta(i, SHARED_COUNTERS.fallbackCalls), ownerFailovers: delta(i, SHARED_COUNTERS.ownerFailovers),
    })),
  };
}

async function singlePass(d: PassDeps, single: Member, tokens: readonly string[], phase: Pass['phase'], repeat: number): Promise<Pass> {
  const calls0 = (await d.as.counters()).introspection;
  const foreign = watchForeignCpu(d.ownPids);
  const t0 = performance.now();
  const r = await runTokenList(single.url, tokens, {
    connections: d.f.connectionsPerMember * repeat, repeat, timeoutS: d.f.timeoutS, path: '/', prefix: 'Bearer ',
  });
  const elapsedS = (r.endedAt - t0) / 1000;
  const foreignCores = foreign() ?? null;
  const asCalls = (await d.as.counters()).introspection - calls0;
  return {
    target: 'single', phase, tokens: tokens.length, requests: tokens.length * repeat, asCalls, callsPerToken: asCalls / tokens.length, elapsedS, rps: r.ok / elapsedS,
    latency: [{ p50: r.p50, p99: r.p99 }], non2xx: r.non2xx, errors: r.errors, foreignCores,
  };
}

/** Run the scenario: nats-server, AS, upstream, three members and one standalone instance; cold and warm passes per round. */
export async function introspectionCluster(opts: ScenarioOptions): Promise<ScenarioReport> {
  const f: IntrospectionClusterFlags = { ...DEFAULT_INTROSPECTION_CLUSTER_FLAGS, rounds: opts.rounds, tokens: opts.quick ? 500 : DEFAULT_INTROSPECTION_CLUSTER_FLAGS.tokens };
  const plan: CpuPlan = { loader: [], upstream: [], proxy: [], note: 'no pinning: 3 members (or the single instance), nats-server, AS, upstream and the loader (bench process) share every core' };
  if (natsServerBin() === undefined) throw new Error('introspection-cluster needs nats-server: apt-get install -y nats-server');
  const stops: Array<() => Promise<void>> = [];
  try {
    const { nats, as, upstream, env, adminToken, prefix } = await startClusterPeers(stops);
    const base = { upstreamPort: upstream.port, issuer: as.issuer, algorithms: ['ES256'], introspection: true, introspectionTtlS: f.introspectionTtlS };
    const members = await startMembers(MEMBER_IDS, (id) => memberConfigYaml({ ...base, cluster: { natsUrl: nats.url, prefix, memberId: id } }), env);
    for (const m of members) stops.push(() => m.stop());
    const [single] = await startMembers(['single'], () => memberConfigYaml(base), env);
    stops.push(() => single!.stop());
    await Promise.all([...members, single!].map((m) => waitReady(m)));
    await waitMembership(members, adminToken, members.length);
    const [probeToken] = await as.mint({ kind: 'opaque', count: 1 });
    for (const m of [...members, single!]) await waitUntilServing(m.id, m.url + '/', { authorization: `Bearer ${probeToken!}` });

    const d: PassDeps = { as, adminToken, f, ownPids: [nats.process.pid, as.process.pid, upstream.process.pid, ...members.map((m) => m.process.pid), single!.process.pid] };
    const passes: Pass[] = [];
    const show = (p: Pass, round: number): void => say(`  round ${round + 1}/${f.rounds} ${p.target.padEnd(7)} ${p.phase}  ${p.rps.toFixed(0).padStart(6)} rps  AS calls/token ${p.callsPerToken.toFixed(3)}  p99 ${Math.max(...p.latency.map((l) => l.p99)).toFixed(2)} ms  non-2xx ${p.non2xx}  errors ${p.errors}  foreign CPU ${p.foreignCores?.toFixed(2) ?? '?'}`);
    for (let round = 0; round < f.rounds; round++) {
      const tokens = await as.mint({ kind: 'opaque', count: f.tokens });
      const order = round % 2 === 0 ? (['cluster', 'single'] as const) : (['single', 'cluster'] as const);
      for (const phase of ['cold', 'warm'] as const) {
        for (const target of order) {
          const p = target === 'cluster' ? await clusterPass(d, members, tokens, phase) : await singlePass(d, single!, tokens, phase, members.length);
          passes.push(p);
          show(p, round);
        }
      }
    }
    const summary = summariseIntrospectionCluster(passes);
    const warnings: string[] = [];
    const foreign = Math.max(0, ...passes.map((p) => p.foreignCores ?? 0));
    if (foreign > 0.1) warnings.push(`other processes used up to ${foreign.toFixed(2)} cores during a pass: throughput is disturbed (AS calls per token are not)`);
    for (const r of summary.rows) {
      if (r.phase === 'cold' && r.callsPerTokenMax !== 1) warnings.push(`${r.target} cold: ${r.callsPerTokenMax.toFixed(3)} AS calls per distinct token (target 1.000)`);
      if (r.phase === 'warm' && r.callsPerTokenMax !== 0) warnings.push(`${r.target} warm: ${r.callsPerTokenMax.toFixed(3)} AS calls per token on a filled cache (expected 0)`);
      if (r.failures > 0) warnings.push(`${r.target} ${r.phase}: ${r.failures} non-2xx answers or errors`);
    }
    return {
      scenario: 'introspection-cluster', quick: opts.quick, flags: { ...f, members: members.length, order: 'cluster/single alternating by round; cold then warm' },
      cpuPlan: plan, peers: { 'nats-server': nats.version }, skipped: {},
      rounds: passes, summary, warnings, table: introspectionClusterTables(summary, f, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}
