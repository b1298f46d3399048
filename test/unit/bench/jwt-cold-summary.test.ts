// The jwt-cold scenario's pure parts: the --workers row (its aggregated counters, the closed-loop
// connections, CPU charged over the process tree, the paired re-run's row pick) and the summary's
// ratios, CPU per request and verdict tables. Split from token-scenarios.test.ts (one concept a file).
import { describe, it, expect } from 'vitest';
import type { LoadResult } from '../../../bench/stats.js';
import { metricsTokenCounters } from '../../../bench/token-targets.js';
import { pathMicroTable } from '../../../bench/verifier-path-micro.js';
import { AUTO_TARGET, baselineTarget, baselineWorkersTarget, coldCounters, coldTargetsFromEnv, connectionsFromEnv, cpuRatio, jwtColdTables, poolTarget, summariseJwtCold, workersTarget } from '../../../bench/jwt-cold.bench.js';
import { poolVerdict, microTable, type MicroResult } from '../../../bench/verify-micro.js';
import { DEFAULT_LOAD_FLAGS } from '../../../bench/load.js';
import { cpuSeconds, processTree, startProcess } from '../../../bench/processes.js';

function run(rps: number, p50 = 1, p99 = 2, extra: Partial<LoadResult> = {}): LoadResult {
  return { rps, p50, p99, p999: p99 * 2, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5, ...extra };
}

describe('jwt-cold workers row', () => {
  it('reads a --workers primary\'s counters from its aggregated /metrics text', () => {
    const text = [
      '# HELP portcullis_jwt_verified_total x', '# TYPE portcullis_jwt_verified_total counter', 'portcullis_jwt_verified_total 300',
      'portcullis_jwt_cache_lookups_total{result="hit"} 5', 'portcullis_jwt_cache_lookups_total{result="miss"} 300',
      'portcullis_jwt_verifications_total{where="inline"} 290', 'portcullis_jwt_verifications_total{where="pool"} 10',
      'portcullis_jwt_inline_budget_spills_total 10', 'portcullis_verifier_pool_tokens_total 10', 'portcullis_verifier_pool_batches_total 4',
      'portcullis_jwt_verified_total_other 7',
    ].join('\n');
    expect(metricsTokenCounters(text)).toEqual({ verifyOk: 300, cacheHits: 5, cacheMisses: 300, poolTasks: 10, poolBatches: 4, verifyInline: 290, inlineSpills: 10 });
    expect(metricsTokenCounters('')).toEqual({ verifyOk: 0, cacheHits: 0, cacheMisses: 0, poolTasks: 0, poolBatches: 0, verifyInline: 0, inlineSpills: 0 });
  });

  it('PORTCULLIS_BENCH_CONNECTIONS sets the closed-loop connections; junk is refused', () => {
    expect(connectionsFromEnv({}, 50)).toBe(50);
    expect(connectionsFromEnv({ PORTCULLIS_BENCH_CONNECTIONS: '64' }, 50)).toBe(64);
    for (const bad of ['0', '-1', '64k', '1001', ' 64']) expect(() => connectionsFromEnv({ PORTCULLIS_BENCH_CONNECTIONS: bad }, 50)).toThrow(/PORTCULLIS_BENCH_CONNECTIONS/);
  });

  it('a process is charged the CPU of its child processes (a --workers primary and its workers)', async () => {
    // the parent idles; its child burns ≥ 0.3 s of CPU, then says so and waits
    const child = 'const t=process.cpuUsage();while(process.cpuUsage(t).user<300000);console.log("burnt");setInterval(()=>{},1000)';
    const parent = `const c=require("node:child_process").spawn(process.execPath,["-e",${JSON.stringify(child)}],{stdio:["ignore","inherit","inherit"]});process.on("SIGTERM",()=>{c.kill();process.exit(0)});setInterval(()=>{},1000)`;
    const { process: p } = await startProcess({ name: 'tree', command: process.execPath, args: ['-e', parent], ready: (l) => (l === 'burnt' ? true : undefined) });
    try {
      const tree = processTree(p.pid);
      expect(tree).toHaveLength(2);
      expect(tree[0]).toBe(p.pid);
      expect(cpuSeconds(tree[1]!)!).toBeGreaterThanOrEqual(0.29);
      expect(cpuSeconds(p.pid)!).toBeGreaterThanOrEqual(cpuSeconds(tree[1]!)!);
    } finally {
      await p.stop();
    }
  });

  it('PORTCULLIS_BENCH_COLD_TARGETS picks rows for a paired re-run; unset or empty = every row', () => {
    expect(coldTargetsFromEnv({})).toBeNull();
    expect(coldTargetsFromEnv({ PORTCULLIS_BENCH_COLD_TARGETS: ' , ' })).toBeNull();
    expect([...coldTargetsFromEnv({ PORTCULLIS_BENCH_COLD_TARGETS: 'portcullis-workers-2, haproxy' })!]).toEqual(['portcullis-workers-2', 'haproxy']);
  });

  it('the workers row is compared with HAProxy by rps and by CPU per request', () => {
    const closed = { [poolTarget(1)]: [run(400)], [poolTarget(2)]: [{ ...run(600), cpuUsPerReq: 80 }], [workersTarget(2)]: [{ ...run(900), cpuUsPerReq: 60 }], haproxy: [{ ...run(1000), cpuUsPerReq: 48 }], 'haproxy-min': [run(1200)], direct: [run(3000)] };
    const s = summariseJwtCold(closed, [1, 2], {}, null);
    expect(Object.fromEntries(s.ratios.map((x) => [x[0], x[1]]))[`${workersTarget(2)} / haproxy`]).toBeCloseTo(0.9, 10);
    expect(Object.fromEntries(s.cpuRatios.map((x) => [x[0], x[1]]))[`${workersTarget(2)} / haproxy`]).toBeCloseTo(1.25, 10);
  });
});

describe('jwt-cold summary', () => {
  const closed = {
    direct: [run(2000)], [poolTarget(1)]: [run(400)], [poolTarget(2)]: [run(600)], haproxy: [run(800)], 'haproxy-min': [run(1000)],
  };
  const micro: MicroResult = {
    alg: 'RS256', tokens: 1000, inFlight: 256,
    inline: { usPerToken: 40, tokensPerS: 25_000 },
    pools: [
      { size: 1, tokensPerS: 20_000, mainUsPerToken: 6, cpuUsPerToken: 60, batchMean: 30, roundTripUs: 100 },
      { size: 2, tokensPerS: 30_000, mainUsPerToken: 8, cpuUsPerToken: 62, batchMean: 30, roundTripUs: 120 },
    ],
  };

  it('reports pool scaling and Portcullis vs HAProxy', () => {
    const s = summariseJwtCold(closed, [1, 2], { [poolTarget(1)]: { verifyOk: 100, cacheHits: 0, cacheMisses: 100, poolTasks: 100, poolBatches: 10 } }, micro);
    const r = Object.fromEntries(s.ratios.map((x) => [x[0], x[1]]));
    expect(r['portcullis-pool-2 / portcullis-pool-1 (pool scaling)']).toBeCloseTo(1.5, 10);
    expect(r['portcullis-pool-2 / haproxy']).toBeCloseTo(0.75, 10);
    expect(r['portcullis-pool-1 / haproxy']).toBeCloseTo(0.5, 10);
    expect(s.portcullis[poolTarget(1)]!.verificationsPerRequest).toBe(1);
    const md = jwtColdTables(s, ['direct', poolTarget(1), poolTarget(2), 'haproxy', 'haproxy-min'], {}, DEFAULT_LOAD_FLAGS, 20_000, 'RS256', 'split');
    expect(md).toContain('| portcullis-pool-1 | 1.000 | 0 | 100 | 100 | 0 | 0 | 10.0 |');
    expect(md).toContain('20000 RS256 tokens sent in rotation');
    expect(md).toContain('| pool (piscina, node:crypto) | 2 | 30000 |');
  });

  it('compares the auto placement and another build by rps and by CPU per request', () => {
    const cpu = (us: number) => ({ ...run(500), cpuUsPerReq: us });
    const withExtras = { ...closed, haproxy: [{ ...run(800), cpuUsPerReq: 50 }], [poolTarget(2)]: [cpu(120)], [AUTO_TARGET]: [cpu(60)], [baselineTarget(2)]: [cpu(150)] };
    expect(cpuRatio(withExtras, AUTO_TARGET, baselineTarget(2))).toBeCloseTo(0.4, 10);
    expect(cpuRatio(closed, poolTarget(1), 'haproxy')).toBeNull(); // no CPU samples
    const s = summariseJwtCold(withExtras, [1, 2], {}, null);
    const c = Object.fromEntries(s.cpuRatios.map((x) => [x[0], x[1]]));
    expect(c[`${AUTO_TARGET} / haproxy`]).toBeCloseTo(1.2, 10);
    expect(c[`${AUTO_TARGET} / ${baselineTarget(2)}`]).toBeCloseTo(0.4, 10);
    expect(s.ratios.map(([k]) => k)).toContain(`${AUTO_TARGET} / haproxy`);
    const md = jwtColdTables(s, ['direct', poolTarget(1), poolTarget(2), AUTO_TARGET, baselineTarget(2), 'haproxy'], {}, DEFAULT_LOAD_FLAGS, 20_000, 'RS256', 'split');
    expect(md).toContain('ratio (CPU µs/req, median of per-round ratios; < 1 = cheaper)');
    expect(md).toContain(`| ${AUTO_TARGET} / ${baselineTarget(2)} | 0.40 |`);
  });

  it('pairs portcullis-workers-N with the baseline build run the same way (rps and CPU per request)', () => {
    const cpu = (rps: number, us: number) => ({ ...run(rps), cpuUsPerReq: us });
    const m = { ...closed, haproxy: [cpu(1000, 50)], [workersTarget(2)]: [cpu(750, 100)], [baselineWorkersTarget(2)]: [cpu(700, 110)] };
    const s = summariseJwtCold(m, [1, 2], {}, null);
    const r = Object.fromEntries(s.ratios.map((x) => [x[0], x[1]]));
    const c = Object.fromEntries(s.cpuRatios.map((x) => [x[0], x[1]]));
    expect(r[`${workersTarget(2)} / ${baselineWorkersTarget(2)}`]).toBeCloseTo(750 / 700, 10);
    expect(r[`${baselineWorkersTarget(2)} / haproxy`]).toBeCloseTo(0.7, 10);
    expect(c[`${workersTarget(2)} / ${baselineWorkersTarget(2)}`]).toBeCloseTo(100 / 110, 10);
    // without the baseline row, no such ratios
    const plain = summariseJwtCold({ ...closed, haproxy: [cpu(1000, 50)], [workersTarget(2)]: [cpu(750, 100)] }, [1, 2], {}, null);
    expect(plain.ratios.map(([k]) => k).filter((k) => k.includes(baselineWorkersTarget(2)))).toEqual([]);
  });

  it('the miss-path table compares every variant with the first row by CPU per token', () => {
    const md = pathMicroTable({ tokensPerRound: 1000, inFlight: 50, rounds: 4, variants: [
      { name: 'baseline, pool (2 threads)', cpuUsPerToken: 80, loopUsPerToken: 50, tokensPerS: 10_000 },
      { name: 'this build, inline', cpuUsPerToken: 40, loopUsPerToken: 40, tokensPerS: 20_000 },
    ] });
    expect(md).toContain('| this build, inline | 40.0 | 40.0 | 20000 | 0.50 |');
  });

  it('a single-CPU split has no scaling ratio', () => {
    const s = summariseJwtCold(closed, [1], {}, null);
    expect(s.ratios.map(([k]) => k)).not.toContain('portcullis-pool-1 / portcullis-pool-1 (pool scaling)');
    expect(s.ratios[0]![0]).toBe('portcullis-pool-1 / haproxy');
  });

  it('verifications per request below 1 mean part of the load was cache hits; none without lookups', () => {
    expect(coldCounters({ verifyOk: 50, cacheHits: 50, cacheMisses: 50, poolTasks: 0, poolBatches: 0 }).verificationsPerRequest).toBe(0.5);
    expect(coldCounters({ verifyOk: 0, cacheHits: 0, cacheMisses: 0, poolTasks: 0, poolBatches: 0 }).verificationsPerRequest).toBeNull();
  });

  it('the verdict says where the pool pays off, in either direction', () => {
    const v = poolVerdict(micro);
    expect(v).toContain('holds the event loop 40.0 µs');
    expect(v).toContain('frees 34.0 µs of event loop per cold token');
    expect(v).toContain('(×1.50 from 1 to 2)');
    const cheap = poolVerdict({ ...micro, inline: { usPerToken: 4, tokensPerS: 250_000 } });
    expect(cheap).toContain('costs the event loop more than verifying inline');
    expect(microTable(micro).split('\n')).toHaveLength(5);
  });
});
