// Scenario `grpc`: gRPC unary calls (@grpc/grpc-js client in the bench process, grpc-js server in
// its own process, raw-bytes method /bench.Echo/Say) through Portcullis's HTTP/2 listener (h2c,
// one warm JWT in the `authorization` metadata, upstream protocol h2c) vs the server direct and vs
// the bare node:http2 relay (`node-http2-floor`, bench/h2-bare-proxy.ts, trailers relayed, no auth).
// Closed loop (max calls/s) and a fixed offered rate (added p50/p99; target added p99 ≤ 2 ms),
// alternating rounds; CPU µs per call of the proxy and of the gRPC server.
import { availableParallelism } from 'node:os';
import { cpuPlan } from './cpu-plan.js';
import { loadGrpc, runGrpcLoad, unary, type GrpcLoadFlags } from './grpc-load.js';
import { GRPC_ECHO_PATH } from './h2-upstream.js';
import type { H2LoadResult } from './h2load.js';
import { h2TokenConfigYaml, optionalBaselineCli, startBareH2ProxyProcess, startH2UpstreamProcess, startPortcullisH2 } from './h2-targets.js';
import { FLOOR } from './h2.bench.js';
import { hasTaskset, pinPid, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { addedLatency, cpuMedians, foldRounds, quietGate, ratioBasis, ratioTable, rpsRatio, sideBySideWarnings, type RatioRow } from './side-by-side.js';
import { median, roundOrder, type LoadSummary } from './stats.js';
import { jwtRefusalProbes, startAuthServerProcess, tokenConfigEnv } from './token-targets.js';

export const GRPC_TARGETS = ['direct', FLOOR, 'portcullis'] as const;
/** Added when $PORTCULLIS_BENCH_BASELINE names another build: before/after in the same rotated rounds. */
export const GRPC_BEFORE = 'portcullis-before';
/** Closed loop: 50 calls in flight on one channel (one HTTP/2 connection), 64-byte messages. */
export const GRPC_CLOSED_FLAGS: Omit<GrpcLoadFlags, 'durationS' | 'warmupS'> = { concurrency: 50, deadlineMs: 10_000, messageBytes: 64 };
/** Fixed rate: 500 calls/s — moderate for one proxy core next to the upstream (and the client on the loader core) on a 2-core machine. */
export const GRPC_FIXED_FLAGS: Omit<GrpcLoadFlags, 'durationS' | 'warmupS'> = { concurrency: 200, rate: 500, deadlineMs: 10_000, messageBytes: 64 };
/** The target for added p99 at the fixed rate, ms. */
export const GRPC_ADDED_P99_TARGET_MS = 2;

/** The fixed rate: PORTCULLIS_BENCH_GRPC_RATE (calls/s, an integer ≥ 1) or GRPC_FIXED_FLAGS' 500 — lower it where even `direct` cannot keep up. */
export function grpcRate(env: string | undefined): number {
  if (env === undefined || env === '') return GRPC_FIXED_FLAGS.rate!;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PORTCULLIS_BENCH_GRPC_RATE must be an integer ≥ 1 (calls per second), got ${JSON.stringify(env)}`);
  return n;
}

interface GrpcTarget { name: string; address: string; pid: number }
type Rounds = Record<string, H2LoadResult[]>;

export interface GrpcSummary {
  throughput: Record<string, LoadSummary>;
  fixedRate: Record<string, LoadSummary>;
  serverCpu: { throughput: Record<string, number | null>; fixedRate: Record<string, number | null> };
  ratios: RatioRow[];
  added: { p50: number | null; p99: number | null };
  /** The bare node:http2 relay's added latency, when it ran. */
  addedFloor?: { p50: number | null; p99: number | null };
  /** The baseline build's added latency, when it ran. */
  addedBefore?: { p50: number | null; p99: number | null };
}

/** Pure: medians, the paired ratio and the latency the proxy adds at the fixed rate. */
export function summariseGrpc(closed: Rounds, fixed: Rounds): GrpcSummary {
  return {
    throughput: foldRounds(closed), fixedRate: foldRounds(fixed),
    serverCpu: { throughput: cpuMedians(closed, 'upstream'), fixedRate: cpuMedians(fixed, 'upstream') },
    ratios: [
      ['portcullis / direct', rpsRatio(closed, 'portcullis', 'direct'), ratioBasis(closed, 'portcullis', 'direct')],
      ...(closed[FLOOR] !== undefined ? [[`${FLOOR} / direct`, rpsRatio(closed, FLOOR, 'direct'), ratioBasis(closed, FLOOR, 'direct')] as RatioRow, [`portcullis / ${FLOOR}`, rpsRatio(closed, 'portcullis', FLOOR), ratioBasis(closed, 'portcullis', FLOOR)] as RatioRow] : []),
      ...(closed[GRPC_BEFORE] !== undefined ? [['portcullis / portcullis-before', rpsRatio(closed, 'portcullis', GRPC_BEFORE), ratioBasis(closed, 'portcullis', GRPC_BEFORE)] as RatioRow] : []),
    ],
    added: addedLatency(fixed, 'portcullis', 'direct'),
    ...(fixed[FLOOR] !== undefined ? { addedFloor: addedLatency(fixed, FLOOR, 'direct') } : {}),
    ...(fixed[GRPC_BEFORE] !== undefined ? { addedBefore: addedLatency(fixed, GRPC_BEFORE, 'direct') } : {}),
  };
}

function table(s: Record<string, LoadSummary>, up: Record<string, number | null>, added?: GrpcSummary['added'], addedBefore?: GrpcSummary['added'], addedFloor?: GrpcSummary['added']): string {
  const head = ['target', 'calls/s', 'p50 ms', 'p99 ms', 'p99.9 ms', ...(added !== undefined ? ['added p50 ms', 'added p99 ms'] : []), 'failed calls', 'CPU µs/call proxy', 'CPU µs/call server', 'foreign CPU'];
  const names = s[GRPC_BEFORE] !== undefined ? [...GRPC_TARGETS, GRPC_BEFORE] : GRPC_TARGETS;
  return markdownTable(head, names.map((t) => {
    const x = s[t];
    if (x === undefined) return [t, 'not run'];
    const mine = t === GRPC_BEFORE ? addedBefore : t === FLOOR ? addedFloor : added;
    const a = added === undefined ? [] : t === 'direct' ? ['(baseline)', '(baseline)'] : [cell(mine?.p50, 3), cell(mine?.p99, 3)];
    return [t, cell(x.rps, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.p999, 3), ...a, cell(x.errors, 0), t === 'direct' ? '—' : cell(x.cpuUsPerReq, 1), cell(up[t], 1), cell(x.foreignCores)];
  }), head.map((_, i) => i > 0));
}

/** Pure: the printed tables. */
export function grpcTables(s: GrpcSummary, closed: GrpcLoadFlags, fixed: GrpcLoadFlags, alg: string, warnings: readonly string[] = []): string {
  const p99 = s.added.p99;
  // a target that did not reach the offered rate was saturated: its p99 is not "at that rate"
  const short = (['direct', 'portcullis'] as const).filter((t) => (s.fixedRate[t]?.rps ?? 0) < (fixed.rate ?? 0) * 0.98);
  const verdict = short.length > 0 ? `not measured (${short.join(', ')} did not reach the offered rate: saturated, disturbed machine)`
    : p99 === null ? 'not measured' : p99 <= GRPC_ADDED_P99_TARGET_MS ? `met (${p99.toFixed(3)} ms)` : `NOT met (${p99.toFixed(3)} ms)`;
  return [
    `**gRPC unary, max calls/s** — @grpc/grpc-js, one channel, ${closed.concurrency} calls in flight, ${closed.messageBytes}-byte messages, one ${alg} token in metadata; ${closed.durationS} s (+${closed.warmupS} s warmup) per round, medians of rounds.`,
    '', table(s.throughput, s.serverCpu.throughput), '',
    ratioTable(s.ratios),
    '',
    `**Added latency at ${fixed.rate} calls/s** — calls sent on a 1 ms timer (latency from the scheduled send), at most ${fixed.concurrency} in flight; added = median over rounds of (portcullis − direct).`,
    '', table(s.fixedRate, s.serverCpu.fixedRate, s.added, s.addedBefore, s.addedFloor), '',
    `Target: added p99 ≤ ${GRPC_ADDED_P99_TARGET_MS} ms at ${fixed.rate} calls/s → ${verdict}.`,
    ...(s.addedFloor?.p99 === null || s.addedFloor === undefined ? [] : [`The stack: ${FLOOR} (no auth) adds p99 ${s.addedFloor.p99.toFixed(3)} ms at ${fixed.rate} calls/s — ${s.addedFloor.p99 <= GRPC_ADDED_P99_TARGET_MS ? 'within the target: what Portcullis adds above it is ours' : 'already over the target: node:http2 alone does not meet it on this machine'}.`]),
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Run the scenario; every process it starts is stopped on the way out. */
export async function grpcBench(opts: ScenarioOptions): Promise<ScenarioReport> {
  const grpc = await loadGrpc();
  const plan = cpuPlan(availableParallelism());
  const alg = opts.jwtAlg;
  const closedFlags: GrpcLoadFlags = { ...GRPC_CLOSED_FLAGS, durationS: opts.durationS, warmupS: 1 };
  const fixedFlags: GrpcLoadFlags = { ...GRPC_FIXED_FLAGS, rate: grpcRate(process.env.PORTCULLIS_BENCH_GRPC_RATE), durationS: opts.durationS, warmupS: 1 };
  const stops: Array<() => Promise<void> | void> = [];
  let restoreAffinity = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const [token] = await as.mint({ kind: 'jwt', alg, count: 1 });
    const probes = await jwtRefusalProbes(as, alg, token!);
    pinPid(as.process.pid, plan.loader);
    restoreAffinity = pinSelf(plan.loader);
    const upstream = await startH2UpstreamProcess('grpc', plan.upstream);
    stops.push(() => upstream.stop());
    const { env } = tokenConfigEnv();
    const pc = await startPortcullisH2(h2TokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg] }), plan.proxy, env);
    stops.push(() => pc.stop());
    const targets: GrpcTarget[] = [
      { name: 'direct', address: `127.0.0.1:${upstream.port}`, pid: upstream.process.pid },
      { name: 'portcullis', address: pc.h2url.replace('http://', ''), pid: pc.process.pid },
    ];
    const floor = await startBareH2ProxyProcess(upstream.port, plan.proxy);
    stops.push(() => floor.stop());
    targets.push({ name: FLOOR, address: floor.url.replace('http://', ''), pid: floor.process.pid });
    const beforeCli = optionalBaselineCli();
    if (beforeCli !== null) {
      const pb = await startPortcullisH2(h2TokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg] }), plan.proxy, env, beforeCli);
      stops.push(() => pb.stop());
      targets.push({ name: GRPC_BEFORE, address: pb.h2url.replace('http://', ''), pid: pb.process.pid });
    }

    // the proxy must answer the call and refuse bad tokens with the gRPC statuses (16, 7) before it is loaded
    const client = new grpc.Client(targets[1]!.address, grpc.credentials.createInsecure());
    try {
      const call = async (t: string): Promise<number> => { const md = new grpc.Metadata(); md.set('authorization', `Bearer ${t}`); return unary(grpc, client, GRPC_ECHO_PATH, Buffer.from('x'), md, 5_000); };
      let code = -1;
      for (let i = 0; i < 150 && code !== grpc.status.OK; i++) { code = await call(token!); if (code !== grpc.status.OK) await new Promise((r) => setTimeout(r, 100)); }
      if (code !== grpc.status.OK) throw new Error(`portcullis did not pass a valid gRPC call within 15 s (status ${code})`);
      // the floor must carry a gRPC call (trailers relayed) or its figures would not be a call's
      const fc = new grpc.Client(floor.url.replace('http://', ''), grpc.credentials.createInsecure());
      try {
        const md = new grpc.Metadata(); md.set('authorization', `Bearer ${token!}`);
        const f = await unary(grpc, fc, GRPC_ECHO_PATH, Buffer.from('x'), md, 5_000);
        if (f !== grpc.status.OK) throw new Error(`${FLOOR} did not carry a gRPC call (status ${f})`);
      } finally { fc.close(); }
      const pbT = targets.find((t) => t.name === GRPC_BEFORE);
      if (pbT !== undefined) {
        const bc = new grpc.Client(pbT.address, grpc.credentials.createInsecure());
        try {
          const md = new grpc.Metadata(); md.set('authorization', `Bearer ${token!}`);
          let b = -1;
          for (let i = 0; i < 150 && b !== grpc.status.OK; i++) { b = await unary(grpc, bc, GRPC_ECHO_PATH, Buffer.from('x'), md, 5_000); if (b !== grpc.status.OK) await new Promise((r) => setTimeout(r, 100)); }
          if (b !== grpc.status.OK) throw new Error(`${GRPC_BEFORE} did not pass a valid gRPC call within 15 s (status ${b})`);
        } finally { bc.close(); }
      }
      for (const p of probes) {
        const want = p.status === 401 ? grpc.status.UNAUTHENTICATED : grpc.status.PERMISSION_DENIED;
        const got = await call(p.token);
        if (got !== want) throw new Error(`portcullis answered a gRPC call with a bad token (${p.what}) with status ${got}, expected ${want}`);
      }
    } finally {
      client.close();
    }

    const ownPids = [...new Set([...targets.map((t) => t.pid), as.process.pid])];
    const gate = quietGate(opts.quick ? 5 : 60);
    const md = { authorization: `Bearer ${token}` };
    const run = async (flags: GrpcLoadFlags, label: string): Promise<Rounds> => {
      const out: Rounds = {};
      for (let round = 0; round < opts.rounds; round++) {
        for (const t of roundOrder(targets, round)) {
          await gate.wait(ownPids);
          const watch: Record<string, number> = t.name === 'direct' ? { upstream: upstream.process.pid } : { hop: t.pid, upstream: upstream.process.pid };
          const r = await runGrpcLoad(t.address, GRPC_ECHO_PATH, md, flags, { watch, ownPids });
          (out[t.name] ??= []).push(r);
          say(`  ${label} round ${round + 1}/${opts.rounds} ${t.name.padEnd(16)} ${r.rps.toFixed(0).padStart(6)} calls/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  failed ${r.errors}  CPU proxy ${r.cpuUsPerReqOf.hop?.toFixed(1) ?? '—'} server ${r.cpuUsPerReqOf.upstream?.toFixed(1) ?? '?'} µs/call  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
        }
      }
      return out;
    };
    const closed = await run(closedFlags, 'closed loop');
    const fixed = await run(fixedFlags, `${fixedFlags.rate} calls/s`);
    const summary = summariseGrpc(closed, fixed);
    const warnings = [
      ...sideBySideWarnings(summary.throughput, summary.fixedRate, fixedFlags.rate),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'grpc',
      quick: opts.quick,
      flags: {
        alg, client: '@grpc/grpc-js in the bench process (loader CPU)', server: '@grpc/grpc-js, raw-bytes unary echo (bench/h2-upstream.ts --grpc)', method: GRPC_ECHO_PATH,
        throughput: closedFlags, fixedRate: fixedFlags, metadata: { authorization: `Bearer <one ${alg} token>` }, rounds: opts.rounds, order: 'rotated each round', quietWaitS: gate.waitedS,
        [FLOOR]: { process: 'node dist/bench/h2-bare-proxy.js', cpus: plan.proxy, auth: 'none', relay: 'core stream API, trailers relayed' },
        portcullis: { workers: 1, listener: 'server.http2 h2c', 'upstreams.app.protocol': 'h2c', 'verifier.pool_size': 1 },
      },
      cpuPlan: plan,
      peers: { 'grpc-js': (await import('@grpc/grpc-js/package.json', { with: { type: 'json' } }).catch(() => ({ default: { version: 'unknown' } }))).default.version },
      skipped: {},
      rounds: { throughput: closed, fixedRate: fixed },
      summary,
      warnings,
      table: grpcTables(summary, closedFlags, fixedFlags, alg, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}
