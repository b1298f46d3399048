// Scenario `websocket-relay`: messages through a proxied WebSocket vs straight to the upstream.
// The upstream is the `ws` echo server (dist/cluster/cli/demo/ws-echo-upstream.js, its own process);
// Portcullis has one `websocket: true` route with auth: none (the token is only checked at the
// handshake, which is not measured). In alternating rounds: messages/s with one message in
// flight per connection (closed loop), and the round-trip latency at a fixed offered rate.
// CPU split as in passthrough (cpu-plan.ts): loader alone on CPU 0, proxy + upstream on CPU 1.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { cpuPlan } from './cpu-plan.js';
import { compiledRoot } from './paths.js';
import { hasTaskset, jsonLine, pinSelf, startProcess } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { pairedDiff, pairedRatio, roundOrder, summarise, type LoadResult, type LoadSummary } from './stats.js';
import { PortcullisUnavailable, startPortcullis } from './targets.js';
import { DEFAULT_WS_LOAD_FLAGS, DEFAULT_WS_RATE_FLAGS, probeEcho, runWsClosedLoop, runWsFixedRate, type WsLoadFlags, type WsRateFlags } from './ws-load.js';

type TargetName = 'direct' | 'portcullis';
const TARGETS: readonly TargetName[] = ['direct', 'portcullis'];

export interface WsRelaySummary {
  throughput: Partial<Record<TargetName, LoadSummary>>;
  fixedRate: Partial<Record<TargetName, LoadSummary>>;
  /** messages/s portcullis ÷ direct, median of per-round ratios. */
  ratio: number | null;
  /** Round-trip latency the proxy adds at the fixed rate, ms (median over rounds of the per-round difference). */
  added: { p50: number | null; p99: number | null };
}

/** Pure: fold rounds into summaries, the paired ratio and the added latency. */
export function summariseWsRelay(closed: Partial<Record<TargetName, LoadResult[]>>, fixed: Partial<Record<TargetName, LoadResult[]>>): WsRelaySummary {
  const fold = (m: Partial<Record<TargetName, LoadResult[]>>): Partial<Record<TargetName, LoadSummary>> =>
    Object.fromEntries(Object.entries(m).filter(([, rs]) => rs !== undefined && rs.length > 0).map(([k, rs]) => [k, summarise(rs!)]));
  const lat = (t: TargetName, p: 'p50' | 'p99'): number[] | undefined => fixed[t]?.map((r) => r[p]);
  return {
    throughput: fold(closed),
    fixedRate: fold(fixed),
    ratio: pairedRatio(closed.portcullis?.map((r) => r.rps), closed.direct?.map((r) => r.rps)),
    added: { p50: pairedDiff(lat('portcullis', 'p50'), lat('direct', 'p50')), p99: pairedDiff(lat('portcullis', 'p99'), lat('direct', 'p99')) },
  };
}

/** Pure: reasons not to trust the numbers. */
export function wsRelayWarnings(s: WsRelaySummary, rate: number): string[] {
  const w: string[] = [];
  const foreign = Math.max(0, ...[...Object.values(s.throughput), ...Object.values(s.fixedRate)].map((x) => x?.foreignCores ?? 0));
  if (foreign > 0.1) w.push(`other processes used up to ${foreign.toFixed(2)} cores during a measurement: numbers are disturbed, rerun on a quiet machine`);
  for (const t of TARGETS) {
    const x = s.fixedRate[t];
    if (x !== undefined && x.rps < rate * 0.98) w.push(`${t} echoed ${x.rps.toFixed(0)} of ${rate} messages/s offered: saturated or stalled`);
    const e = (s.throughput[t]?.errors ?? 0) + (x?.errors ?? 0);
    if (e > 0) w.push(`${t}: ${e} connections closed or messages lost during the run`);
  }
  return w;
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function wsRelayTables(s: WsRelaySummary, skipped: Partial<Record<TargetName, string>>, load: WsLoadFlags, rate: WsRateFlags, warnings: readonly string[] = []): string {
  const skip = (t: TargetName): string[] => [t, `skipped: ${skipped[t] ?? 'not run'}`];
  const tp = markdownTable(
    ['target', 'messages/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'CPU µs/msg', 'foreign CPU'],
    TARGETS.map((t) => {
      const x = s.throughput[t];
      return x === undefined ? skip(t) : [t, cell(x.rps, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.p999, 3), cell(x.errors, 0), cell(x.cpuUsPerReq, 1), cell(x.foreignCores)];
    }),
    [false, true, true, true, true, true, true, true],
  );
  const fx = markdownTable(
    ['target', 'echoed msg/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'added p50 ms', 'added p99 ms', 'errors', 'foreign CPU'],
    TARGETS.map((t) => {
      const x = s.fixedRate[t];
      if (x === undefined) return skip(t);
      const base = t === 'direct';
      return [t, cell(x.rps, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.p999, 3), base ? '(baseline)' : cell(s.added.p50, 3), base ? '(baseline)' : cell(s.added.p99, 3), cell(x.errors, 0), cell(x.foreignCores)];
    }),
    [false, true, true, true, true, true, true, true, true],
  );
  return [
    `**Messages/s** — closed loop, ${load.connections} WebSocket connections × 1 message in flight, ${load.messageBytes}-byte binary messages echoed, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds; latency is the round trip; CPU µs/msg is the hop's process per echoed message (direct: the upstream).`,
    '', tp, '', `portcullis / direct (messages/s, median of per-round ratios): ${cell(s.ratio)}`, '',
    `**Round trip at a fixed rate** — ${rate.rate} messages/s over ${rate.connections} connections (round robin, paced; latency from each message's scheduled send), ${rate.durationS} s (+${rate.warmupS} s warmup) per round; added = median over rounds of (portcullis − direct).`,
    '', fx,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

/** Portcullis in front of the echo upstream: one websocket route, no auth, no access log. */
export function wsRelayConfigYaml(upstreamPort: number): string {
  return `server:
  listen: { host: 127.0.0.1, port: 0 }
  workers: 1
admin:
  listen: { host: 127.0.0.1, port: 0 }
upstreams:
  ws:
    targets: ["http://127.0.0.1:${upstreamPort}"]
routes:
  - name: ws
    match: { path: "/*" }
    upstream: ws
    auth: none
    websocket: true
log: { level: info, access: false }
`;
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

export async function websocketRelay(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlan(availableParallelism());
  const load: WsLoadFlags = { ...DEFAULT_WS_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1 };
  const rate: WsRateFlags = { ...DEFAULT_WS_RATE_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 2 };
  const skipped: Partial<Record<TargetName, string>> = {};
  const stops: Array<() => Promise<void>> = [];
  const restoreAffinity = pinSelf(plan.loader);
  try {
    const script = join(compiledRoot(), 'cluster', 'cli', 'demo', 'ws-echo-upstream.js');
    const { process: upProc, ready } = await startProcess({
      name: 'ws-echo-upstream', command: process.execPath, args: [script],
      ready: jsonLine<{ port: number }>((o) => typeof o.port === 'number'), cpus: plan.upstream,
    });
    stops.push(() => upProc.stop());
    const live: Array<{ name: TargetName; url: string; pid: number }> = [{ name: 'direct', url: `http://127.0.0.1:${ready.port}`, pid: upProc.pid }];
    try {
      const pc = await startPortcullis(wsRelayConfigYaml(ready.port), plan.proxy);
      stops.push(() => pc.stop());
      live.push({ name: 'portcullis', url: pc.url, pid: pc.process.pid });
    } catch (err) {
      if (!(err instanceof PortcullisUnavailable)) throw err;
      skipped.portcullis = err.message;
      say(`skip portcullis: ${err.message}`);
    }
    for (const t of live) if (!(await probeEcho(t.url))) throw new Error(`${t.name} (${t.url}) did not echo a WebSocket message`);

    const ownPids = [...new Set(live.map((t) => t.pid))];
    const closed: Partial<Record<TargetName, LoadResult[]>> = {};
    const fixed: Partial<Record<TargetName, LoadResult[]>> = {};
    for (let round = 0; round < opts.rounds; round++) {
      for (const t of roundOrder(live, round)) {
        const r = await runWsClosedLoop(t.url, load, { cpuPid: t.pid, ownPids });
        (closed[t.name] ??= []).push(r);
        say(`  messages round ${round + 1}/${opts.rounds} ${t.name.padEnd(10)} ${r.rps.toFixed(0).padStart(7)} msg/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  errors ${r.errors}  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
      }
    }
    for (let round = 0; round < opts.rounds; round++) {
      for (const t of roundOrder(live, round)) {
        const r = await runWsFixedRate(t.url, rate, { cpuPid: t.pid, ownPids });
        (fixed[t.name] ??= []).push(r);
        say(`  ${rate.rate} msg/s round ${round + 1}/${opts.rounds} ${t.name.padEnd(10)} p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  p99.9 ${r.p999.toFixed(3)} ms  echoed ${r.rps.toFixed(0)} msg/s  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
      }
    }
    const summary = summariseWsRelay(closed, fixed);
    const warnings = [...wsRelayWarnings(summary, rate.rate), ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply'])];
    return {
      scenario: 'websocket-relay', quick: opts.quick,
      flags: { closedLoop: load, fixedRate: rate, rounds: opts.rounds, order: 'rotated each round', upstream: 'ws echo (cluster/cli/demo/ws-echo-upstream.ts)', route: 'websocket: true, auth: none' },
      cpuPlan: plan, peers: {}, skipped, rounds: { closedLoop: closed, fixedRate: fixed }, summary, warnings,
      table: wsRelayTables(summary, skipped, load, rate, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    restoreAffinity();
  }
}
