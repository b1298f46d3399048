// Scenario `policy-propagation` (issue 11: push → every member applied, p99 ≤ 50 ms on this
// machine; no throughput dip while pushing). A 3-node nats-server cluster (JetStream, the
// policy bucket R3) and three Portcullis members with `cluster.policy.source: cluster`, one
// per NATS node, each under a fixed background load with a warm token. Then N pushes, one at a
// time, paced: t0 just before the bench's own `pushPolicy` (read latest + compare-and-set put,
// as `portcullis policy push` does after validating), applied = the first heartbeat of each
// member naming the new version (members beat at once when their policy status changes),
// heard by a plain NATS subscriber in the bench — one clock, nothing subtracted. Background
// load is measured in three windows of its own process: quiet, while pushing, quiet again.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { preparePolicy, PolicyStore, policyBucket, pushPolicy } from '../cluster/policy/index.js';
import { BusAuth, Codec, subjects } from '../cluster/protocol/index.js';
import { BENCH_BUS_KEY, BUS_KEY_ENV, runPrefix, startMembers, waitReady, type Member } from './cluster-targets.js';
import type { CpuPlan } from './cpu-plan.js';
import { startNatsClusterProcesses } from './nats-process.js';
import { parsePacedLoadReport, type PacedLoadReport, type PacedLoadSpec } from './paced-load-process.js';
import { compiledRoot } from './paths.js';
import { startProcess, watchForeignCpu } from './processes.js';
import { envInt, quantiles, type Quantiles } from './revocation-propagation.bench.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { startUpstreamProcess } from './targets.js';
import { ADMIN_TOKEN_ENV, BENCH_AUDIENCE, BENCH_SCOPE, startAuthServerProcess, tokenConfigEnv, waitUntilServing } from './token-targets.js';

const MEMBER_IDS = ['bench-a', 'bench-b', 'bench-c'] as const;
/** The first pushes, reported apart from the rest (summary `phases`). */
export const WARMUP_PUSHES = 25;
/** A member that has not reported a version this long after its push is counted as not applied. */
const GIVE_UP_MS = 5_000;

export interface PolicyPropagationFlags {
  pushes: number;
  /** Background load per member, requests per second (paced, own process). */
  ratePerMember: number;
  loadConnections: number;
  /** Length of each quiet load window (before and after the pushes), s. */
  quietS: number;
  /** Pause after every member applied a version: fixed + uniform random jitter, ms. */
  gapMs: number;
  gapJitterMs: number;
  /** Routes in every pushed policy besides the load route (each push changes one: a new digest). */
  fillerRoutes: number;
  clock: string;
}

export const DEFAULT_POLICY_PROPAGATION_FLAGS: PolicyPropagationFlags = {
  pushes: 100, ratePerMember: 300, loadConnections: 8, quietS: 10, gapMs: 50, gapJitterMs: 50, fillerRoutes: 100,
  clock: 'performance.now() in the bench process; t0 = just before pushPolicy (read latest, compare-and-set put); applied = first heartbeat of the member naming the version, received by the bench',
};

/** One push: its version, when the bucket acknowledged it and when each member said it applied it (ms after t0; null: not within GIVE_UP_MS). */
export interface PushSample { version: number; ackMs: number; appliedMs: Array<number | null>; stages?: Array<Record<string, number> | null> }

/** The stage timings a member logs with "policy applied" (cluster/policy/policy-watcher.ts), in the order they happen. */
export const STAGES = ['delivery_ms', 'queue_ms', 'open_ms', 'check_ms', 'prepare_ms', 'commit_ms', 'beat_ms', 'persist_ms', 'loop_max_ms'] as const;

/** Pure: the stage timings of `version` from a member's log output (null when its line is not there). */
export function stagesOf(output: string, version: number): Record<string, number> | null {
  const needle = `"version":${version},`;
  for (const line of output.split('\n')) {
    if (!line.includes('"msg":"policy applied"') || !line.includes(needle)) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.version !== version) continue;
      const out: Record<string, number> = {};
      for (const k of STAGES) if (typeof o[k] === 'number') out[k] = o[k] as number;
      return out;
    } catch { /* a partial line */ }
  }
  return null;
}

export interface LoadWindow { name: string; report: PacedLoadReport | null }

export interface PolicyPropagationSummary {
  ack: Quantiles;
  perMember: Quantiles[];
  slowest: Quantiles;
  /** Every member applied, from the bucket's acknowledgement of the put (the version exists) instead of from push start. */
  slowestFromAck: Quantiles;
  /** Per stage at the members (all members' samples pooled), from their "policy applied" log lines. */
  stages: Record<string, Quantiles>;
  /** The first WARMUP_PUSHES pushes against the rest (a member's check path warming up shows here): every member applied, and its check + prepare stages. */
  phases?: Array<{ name: string; slowest: Quantiles; check: Quantiles; prepare: Quantiles; loopMax: Quantiles }>;
  notApplied: number;
  windows: LoadWindow[];
  foreignCores: number | null;
}

/** Pure: the policy of version `n` — the load route, `fillers` routes, one of them naming `n`. */
export function policyFor(n: number, issuer: string, upstreamPort: number, fillers: number): Record<string, unknown> {
  const routes: unknown[] = [];
  for (let i = 0; i < fillers; i++) routes.push({ name: `filler-${i}`, match: { path: i === 0 ? `/filler/${i}/v${n}/*` : `/filler/${i}/*` }, upstream: 'app', auth: { scopes: { all: [`filler:${i}`] } } });
  routes.push({ name: 'api', match: { path: '/*' }, upstream: 'app', auth: { scopes: { all: [BENCH_SCOPE] } } });
  return {
    issuers: { bench: { issuer, audiences: [BENCH_AUDIENCE], algorithms: ['ES256'] } },
    upstreams: { app: { targets: [`http://127.0.0.1:${upstreamPort}`] } },
    routes,
    verifier: { pool_size: 1, cache_entries: 200_000 },
  };
}

/** Pure: one member's local part (JSON is YAML): listeners, admin, its NATS node, cluster policy. */
export function localPart(natsUrl: string, prefix: string, memberId: string): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, workers: 1 },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: ADMIN_TOKEN_ENV },
    cluster: { nats: { servers: [natsUrl] }, subject_prefix: prefix, member_id: memberId, auth: { key_env: BUS_KEY_ENV }, policy: { source: 'cluster' } },
    log: { level: 'info', access: false },
  };
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function policyPropagationTables(s: PolicyPropagationSummary, f: PolicyPropagationFlags, warnings: readonly string[] = []): string {
  const q = (name: string, x: Quantiles): string[] => [name, cell(x.n, 0), cell(x.p50, 2), cell(x.p99, 2), cell(x.max, 2)];
  const push = markdownTable(
    ['push → applied (bench clock)', 'n', 'p50 ms', 'p99 ms', 'max ms'],
    [
      q('bucket acknowledged the put (R3)', s.ack),
      ...s.perMember.map((x, i) => q(`${MEMBER_IDS[i]} reports it applied`, x)),
      q('**every member applied (slowest of 3 per push)**', s.slowest),
      q('every member applied, from the put acknowledgement', s.slowestFromAck),
    ],
    [false, true, true, true, true],
  );
  const rows = s.windows.flatMap((w) => (w.report === null ? [[w.name, '—', '—', '—', '—', '—', '—', '—']] : w.report.targets.map((t, i) => [
    `${w.name} · ${MEMBER_IDS[i] ?? t.url}`, cell(w.report!.elapsedS, 1), cell(t.ok / w.report!.elapsedS, 1), cell(t.non2xx, 0), cell(t.errors, 0), cell(t.p50Ms, 3), cell(t.p99Ms, 3), cell(t.maxMs, 3),
  ])));
  const stages = markdownTable(
    ['stage at a member (log of "policy applied", 3 members pooled)', 'n', 'p50 ms', 'p99 ms', 'max ms'],
    STAGES.filter((k) => s.stages[k] !== undefined).map((k) => q(k.replace(/_ms$/, ''), s.stages[k]!)),
    [false, true, true, true, true],
  );
  const phases = s.phases === undefined ? [] : ['', markdownTable(
    ['pushes (p50 / p99 ms)', 'n', 'every member applied', 'check at a member', 'prepare at a member', 'loop_max at a member'],
    s.phases.map((ph) => [ph.name, cell(ph.slowest.n, 0), `${cell(ph.slowest.p50, 1)} / ${cell(ph.slowest.p99, 1)}`, `${cell(ph.check.p50, 1)} / ${cell(ph.check.p99, 1)}`, `${cell(ph.prepare.p50, 1)} / ${cell(ph.prepare.p99, 1)}`, `${cell(ph.loopMax.p50, 1)} / ${cell(ph.loopMax.p99, 1)}`]),
    [false, true, true, true, true, true],
  )];
  const load = markdownTable(['background load window · member', 's', 'achieved rps', 'non-2xx', 'errors', 'p50 ms', 'p99 ms', 'max ms'], rows, [false, true, true, true, true, true, true, true]);
  return [
    `**Policy propagation** — 3-node nats-server cluster (policy bucket R3), 3 members (one per node, \`cluster.policy.source: cluster\`), ${f.pushes} pushes of a ${f.fillerRoutes + 1}-route policy, one at a time, ${f.gapMs}–${f.gapMs + f.gapJitterMs} ms apart after every member applied; each member under ${f.ratePerMember} rps of background load (warm token, paced, own process). Clock: ${f.clock}. Target: every member p99 ≤ 50 ms; no throughput dip while pushing. Not applied within ${GIVE_UP_MS} ms: ${s.notApplied}. Foreign CPU (cores used by processes outside the bench): ${cell(s.foreignCores)}.`,
    '', push, '',
    '**Where a version\'s time goes at a member** — delivery: pusher clock (before its read + put) → the watch hands it over; queue: waiting behind the previous version; open: MAC; check: decode + validate (on the event loop when the policy is ≤ INLINE_MAX_BYTES, else the validation thread\'s round trip); prepare: build the snapshot; commit: the swap; beat: heartbeat sent; persist: state file; loop_max: the longest event-loop delay while the version was processed (what a request waiting behind it felt)',
    '', stages, ...phases, '',
    '**Background load** — quiet window, the window of the pushes, quiet again (offered rate fixed: a dip shows as achieved rps below it, non-2xx/errors, or a latency tail)',
    '', load,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run the scenario: NATS cluster, AS, upstream, three members, background load; N pushes; stop everything. */
export async function policyPropagation(opts: ScenarioOptions): Promise<ScenarioReport> {
  const f: PolicyPropagationFlags = {
    ...DEFAULT_POLICY_PROPAGATION_FLAGS,
    pushes: envInt('PORTCULLIS_BENCH_PUSHES', 1) ?? (opts.quick ? 10 : DEFAULT_POLICY_PROPAGATION_FLAGS.pushes),
    ratePerMember: envInt('PORTCULLIS_BENCH_CLUSTER_RATE', 1) ?? DEFAULT_POLICY_PROPAGATION_FLAGS.ratePerMember,
    quietS: opts.quick ? 2 : DEFAULT_POLICY_PROPAGATION_FLAGS.quietS,
  };
  const plan: CpuPlan = { loader: [], upstream: [], proxy: [], note: 'no pinning: 3 members, 3 nats-servers, AS, upstream, background-load process and the bench (pusher, heartbeat observer) share every core' };
  const stops: Array<() => Promise<void>> = [];
  let bench: NatsConnection | null = null;
  try {
    const nats = await startNatsClusterProcesses(3);
    stops.push(() => nats.stop());
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const upstream = await startUpstreamProcess();
    stops.push(() => upstream.stop());
    const { env } = tokenConfigEnv();
    const prefix = runPrefix();
    const auth = new BusAuth({ key: Buffer.from(BENCH_BUS_KEY, 'utf8') });
    const locals = MEMBER_IDS.map((id, i) => localPart(nats.urls[i]!, prefix, id));
    // every version is validated here first (as `policy push` does), outside the timed window
    const versions: Array<Record<string, unknown>> = [];
    for (let n = 1; n <= f.pushes + 1; n++) {
      const p = preparePolicy(locals[0], policyFor(n, as.issuer, upstream.port, f.fillerRoutes));
      if (!p.ok) throw new Error(`bench policy ${n} invalid: ${p.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
      versions.push(p.policy as Record<string, unknown>);
    }
    bench = await natsConnect({ servers: nats.urls, name: 'bench pusher' });
    const store = await PolicyStore.open(bench, { bucket: policyBucket(prefix), history: 16, replicas: 3 });
    await pushPolicy(store, auth, versions[0]!, { by: 'bench' });

    const members: Member[] = await startMembers(MEMBER_IDS, (id) => JSON.stringify(locals[MEMBER_IDS.indexOf(id as typeof MEMBER_IDS[number])]), env);
    for (const m of members) stops.push(() => m.stop());
    await Promise.all(members.map((m) => waitReady(m, 30_000)));
    const [loadToken] = await as.mint({ kind: 'jwt', alg: 'ES256', count: 1 });
    for (const m of members) await waitUntilServing(m.id, m.url + '/', { authorization: `Bearer ${loadToken!}` });

    // heartbeat observer: when each member first names each version
    const seen = new Map<number, Map<string, number>>();
    const codec = new Codec();
    const membersSubject = subjects(prefix).members;
    bench.subscribe(membersSubject, {
      callback: (err, m) => {
        if (err !== null) return;
        const at = performance.now();
        const o = auth.open(m.subject, m.data, true);
        const msg = o.ok ? codec.decode(o.payload) : null;
        if (msg?.type !== 'member.heartbeat' || msg.v !== 2 || msg.policy === null) return;
        let byMember = seen.get(msg.policy.version);
        if (byMember === undefined) { byMember = new Map(); seen.set(msg.policy.version, byMember); }
        if (!byMember.has(msg.id)) byMember.set(msg.id, at);
      },
    });
    await bench.flush();

    const spec: PacedLoadSpec = { urls: members.map((m) => m.url), rate: f.ratePerMember, path: '/', headers: { authorization: `Bearer ${loadToken!}` }, connections: f.loadConnections };
    const window = async (name: string, during: () => Promise<void>): Promise<LoadWindow> => {
      const { process: loader } = await startProcess({
        name: `paced-load ${name}`, command: process.execPath, args: [join(compiledRoot(), 'bench', 'paced-load-process.js'), JSON.stringify(spec)],
        ready: (line) => (line.includes('"ready":true') ? true : undefined),
      });
      try { await during(); } finally { await loader.stop(); }
      return { name, report: parsePacedLoadReport(loader.output()) };
    };
    say(`  warmup: ${f.quietS} s of background load`);
    await window('warmup', () => sleep(f.quietS * 1000));

    const ownPids = [...nats.processes.map((p) => p.pid), as.process.pid, upstream.process.pid, ...members.map((m) => m.process.pid)];
    const foreign = watchForeignCpu(ownPids);
    const samples: PushSample[] = [];
    const windows: LoadWindow[] = [];
    windows.push(await window('quiet (before)', () => sleep(f.quietS * 1000)));
    windows.push(await window('pushing', async () => {
      for (let i = 1; i <= f.pushes; i++) {
        const t0 = performance.now();
        const e = await pushPolicy(store, auth, versions[i]!, { by: 'bench' });
        const ackMs = performance.now() - t0;
        const until = t0 + GIVE_UP_MS;
        while ((seen.get(e.version)?.size ?? 0) < MEMBER_IDS.length && performance.now() < until) await sleep(1);
        const byMember = seen.get(e.version) ?? new Map<string, number>();
        // the log line follows the heartbeat at once; read it after the pause below
        await sleep(f.gapMs + Math.random() * f.gapJitterMs);
        samples.push({ version: e.version, ackMs, appliedMs: MEMBER_IDS.map((id) => { const at = byMember.get(id); return at === undefined ? null : at - t0; }), stages: members.map((m) => stagesOf(m.process.output(), e.version)) });
        if (i % 25 === 0 || i === f.pushes) {
          const last = samples.slice(-25).map((s) => (s.appliedMs.some((x) => x === null) ? null : Math.max(...(s.appliedMs as number[]))));
          const q = quantiles(last);
          say(`  ${i}/${f.pushes} pushes  every member applied (last ${last.length}): p50 ${cell(q.p50, 2)} ms  p99 ${cell(q.p99, 2)} ms  max ${cell(q.max, 2)} ms`);
        }
      }
    }));
    windows.push(await window('quiet (after)', () => sleep(f.quietS * 1000)));
    const foreignCores = foreign() ?? null;

    const summary: PolicyPropagationSummary = {
      ack: quantiles(samples.map((s) => s.ackMs)),
      perMember: MEMBER_IDS.map((_, i) => quantiles(samples.map((s) => s.appliedMs[i] ?? null))),
      slowest: quantiles(samples.map((s) => (s.appliedMs.some((x) => x === null) ? null : Math.max(...(s.appliedMs as number[]))))),
      slowestFromAck: quantiles(samples.map((s) => (s.appliedMs.some((x) => x === null) ? null : Math.max(...(s.appliedMs as number[])) - s.ackMs))),
      stages: Object.fromEntries(STAGES.map((k) => [k, quantiles(samples.flatMap((s) => (s.stages ?? []).flatMap((st) => (st?.[k] === undefined ? [] : [st[k]!]))))]).filter(([, x]) => (x as Quantiles).n > 0)),
      phases: [['first ' + WARMUP_PUSHES, samples.slice(0, WARMUP_PUSHES)], ['the rest', samples.slice(WARMUP_PUSHES)]].filter(([, part]) => part.length > 0).map(([name, part]) => {
        const stage = (k: string): Quantiles => quantiles((part as PushSample[]).flatMap((x) => (x.stages ?? []).flatMap((st) => (st?.[k] === undefined ? [] : [st[k]!]))));
        return { name: name as string, slowest: quantiles((part as PushSample[]).map((x) => (x.appliedMs.some((y) => y === null) ? null : Math.max(...(x.appliedMs as number[]))))), check: stage('check_ms'), prepare: stage('prepare_ms'), loopMax: stage('loop_max_ms') };
      }),
      notApplied: samples.reduce((n, s) => n + s.appliedMs.filter((x) => x === null).length, 0),
      windows, foreignCores,
    };
    const warnings: string[] = [];
    if (foreignCores !== null && foreignCores > 0.1) warnings.push(`other processes used ${foreignCores.toFixed(2)} cores during the measurement: the machine was shared, tails are disturbed`);
    if (summary.notApplied > 0) warnings.push(`${summary.notApplied} member report(s) of a pushed version missing after ${GIVE_UP_MS} ms`);
    for (const w of windows) for (const [i, t] of (w.report?.targets ?? []).entries()) {
      if (t.non2xx + t.errors > 0) warnings.push(`${w.name} at ${MEMBER_IDS[i]}: ${t.non2xx} non-2xx, ${t.errors} errors`);
      if (t.ok / w.report!.elapsedS < f.ratePerMember * 0.95) warnings.push(`${w.name} at ${MEMBER_IDS[i]} reached ${(t.ok / w.report!.elapsedS).toFixed(0)} of ${f.ratePerMember} rps`);
    }
    return {
      scenario: 'policy-propagation', quick: opts.quick, flags: { ...f, giveUpMs: GIVE_UP_MS, members: MEMBER_IDS.length, natsNodes: 3 },
      cpuPlan: plan, peers: { 'nats-server': nats.version }, skipped: {},
      rounds: { samples }, summary, warnings, table: policyPropagationTables(summary, f, warnings),
    };
  } finally {
    await bench?.close().catch(() => {});
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}
