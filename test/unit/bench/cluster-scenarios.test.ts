// The cluster scenarios' pure parts: the member config (validated by the real schema), metric
// parsing, quantiles over probe samples, the members' histogram deltas, the per-stage
// breakdown, the introspection-cluster fold, and the report lines of the helper processes.
// No process is started here; the scenarios run end to end with `npm run bench -- NAME --quick`.
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../../node/config/index.js';
import { componentValues, jtiOf, memberConfigYaml, PROBE_SCOPE } from '../../../bench/cluster-targets.js';
import { parseLoopDelay } from '../../../bench/loop-delay-preload.js';
import { parsePacedLoadReport } from '../../../bench/paced-load-process.js';
import { parseBusObserverReport } from '../../../bench/bus-observer-process.js';
import {
  breakdown, envInt, mergeHistograms, propagationTables, proxyHistogram, quantiles, summariseProber, DEFAULT_PROPAGATION_FLAGS, type PropagationSample, type PropagationSummary,
} from '../../../bench/revocation-propagation.bench.js';
import { directTables, type DirectRound } from '../../../bench/revocation-direct.bench.js';
import { introspectionClusterTables, summariseIntrospectionCluster, type Pass } from '../../../bench/introspection-cluster.bench.js';

describe('member config', () => {
  it('is accepted by the product schema: standalone, clustered, with introspection and the probe route', () => {
    process.env.PORTCULLIS_BENCH_ADMIN_TOKEN ??= 'x';
    process.env.PORTCULLIS_BENCH_INTROSPECTION_SECRET ??= 'y';
    const base = { upstreamPort: 1, issuer: 'http://127.0.0.1:2', algorithms: ['ES256'] };
    for (const extra of [{}, { introspection: true, introspectionTtlS: 600 }, { probeRoute: true, cluster: { natsUrl: 'nats://127.0.0.1:4222', prefix: 'bench1a2b', memberId: 'bench-a' } },
      { cluster: { natsUrl: 'nats://127.0.0.1:4222', prefix: 'bench1a2b', memberId: 'bench-a', direct: true } }]) {
      const v = validateConfig(parse(memberConfigYaml({ ...base, ...extra })));
      expect(v.ok, JSON.stringify(v.ok ? null : v.errors)).toBe(true);
    }
  });

  it('puts the probe route first: it requires a scope the bench tokens lack', () => {
    const c = parse(memberConfigYaml({ upstreamPort: 1, issuer: 'http://i', algorithms: ['ES256'], probeRoute: true })) as { routes: Array<{ name: string; match: { path: string }; auth: unknown }> };
    expect(c.routes.map((r) => r.name)).toEqual(['probe', 'api']);
    expect(c.routes[0]!.auth).toEqual({ scopes: { all: [PROBE_SCOPE] } });
    expect(c.routes[1]!.match.path).toBe('/*');
  });

  it('turns the direct revocation push on only when asked', () => {
    const cluster = { natsUrl: 'nats://127.0.0.1:4222', prefix: 'p', memberId: 'm' };
    expect(parse(memberConfigYaml({ upstreamPort: 1, issuer: 'http://i', algorithms: ['ES256'], cluster })).cluster.revocation).toBeUndefined();
    expect(parse(memberConfigYaml({ upstreamPort: 1, issuer: 'http://i', algorithms: ['ES256'], cluster: { ...cluster, direct: true } })).cluster.revocation).toEqual({ direct: { listen: '127.0.0.1:0' } });
  });

  it('has no cluster section for a standalone instance', () => {
    expect(parse(memberConfigYaml({ upstreamPort: 1, issuer: 'http://i', algorithms: ['ES256'] })).cluster).toBeUndefined();
  });
});

describe('metrics and helper output', () => {
  it('reads one component\'s values from Prometheus text', () => {
    const text = [
      '# HELP portcullis_revocation_propagation_recent_seconds x',
      'portcullis_revocation_propagation_recent_seconds{stat="p99"} 0.00325',
      'portcullis_revocation_propagation_seconds_bucket{le="0.0005"} 7',
      'portcullis_cluster_members 3',
      'portcullis_jwt_cache_lookups_total{result="hit"} 9',
    ].join('\n');
    expect(componentValues(text, 'cluster')).toEqual({ revocation_propagation_ms_p99: 3.25, 'revocation_propagation_ms_bucket_le_0.5': 7, members_live: 3 });
  });

  it('reads the jti of a JWT and refuses one without', () => {
    const jwt = (p: object): string => `e30.${Buffer.from(JSON.stringify(p)).toString('base64url')}.sig`;
    expect(jtiOf(jwt({ jti: 'abc' }))).toBe('abc');
    expect(() => jtiOf(jwt({ sub: 'x' }))).toThrow(/jti/);
  });

  it('finds the last report line among other output', () => {
    expect(parsePacedLoadReport('{"ready":true}\nnoise\n{"elapsedS":2,"targets":[]}\n')).toEqual({ elapsedS: 2, targets: [] });
    expect(parsePacedLoadReport('{"ready":true}\n')).toBeNull();
    expect(parseLoopDelay('{"msg":"listening"}\n{"loopDelay":{"p50":0.1,"p99":2,"p999":3,"max":4,"mean":0.2,"count":9,"gc":{"count":1,"totalMs":1,"maxMs":1}}}\n')?.p99).toBe(2);
  });

  it('takes integers from the environment and refuses anything else', () => {
    expect(envInt('X', 0, {})).toBeUndefined();
    expect(envInt('X', 0, { X: '0' })).toBe(0);
    expect(() => envInt('X', 1, { X: '0' })).toThrow(/X must be an integer ≥ 1/);
    expect(() => envInt('X', 0, { X: '2.5' })).toThrow();
  });
});

describe('revocation-propagation fold', () => {
  it('quantiles are nearest-rank; a miss ranks above every number', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantiles(xs)).toEqual({ n: 100, p50: 50, p99: 99, max: 100, within5: 0.05 });
    expect(quantiles([1, null])).toMatchObject({ p50: 1, p99: null, max: null, within5: 0.5 });
    expect(quantiles([])).toMatchObject({ n: 0, p50: null });
  });

  const sample = (origin: number, refusedMs: Array<number | null>, extra: Partial<PropagationSample> = {}): PropagationSample =>
    ({ origin, postMs: 3, refusedMs, acceptedAfter: [0, 0, 0], publishedMs: 1, observedMs: 2, ...extra });

  it('splits origin from the other members; the slowest member decides "every member"', () => {
    const p = summariseProber([sample(0, [1, 4, 6]), sample(1, [3, 0.5, null], { acceptedAfter: [0, 1, 0] })]);
    expect(p.origin).toMatchObject({ n: 2, max: 1 });
    expect(p.others).toMatchObject({ n: 4, max: null }); // one member never refused
    expect(p.slowest).toMatchObject({ n: 2, p50: 6, max: null });
    expect(p.notRefused).toBe(1);
    expect(p.acceptedAfterRefusal).toBe(1);
  });

  it('breaks each revocation into admin path, bus and member + prober', () => {
    const b = breakdown([sample(0, [1.5, 4, 6], { publishedMs: 1, observedMs: 2.5, idleObservedMs: 1.75 }), sample(1, [3, 2, 5], { publishedMs: null, observedMs: null })]);
    expect(b.admin).toMatchObject({ n: 1, p50: 1 });
    expect(b.bus).toMatchObject({ n: 1, p50: 1.5 });
    expect(b.idleBus).toMatchObject({ n: 1, p50: 0.75 }); // the idle subscriber process's floor
    expect(b.observedToRefusal).toMatchObject({ n: 2, p50: 1.5, max: 3.5 });
  });

  it('takes the members\' histogram over the window from cumulative buckets', () => {
    const before = { revocation_propagation_ms_count: 10, revocation_propagation_ms_bucket_le_1: 5, revocation_propagation_ms_bucket_le_2: 8, revocation_propagation_ms_bucket_le_5: 10 };
    const after = { ...before, revocation_propagation_ms_count: 20, revocation_propagation_ms_bucket_le_1: 7, revocation_propagation_ms_bucket_le_2: 14, revocation_propagation_ms_bucket_le_5: 19, revocation_propagation_ms_p99: 6, revocation_propagation_ms_max: 9 };
    const h = proxyHistogram('a', before, after);
    expect(h).toMatchObject({ samples: 10, le1: 0.2, le2: 0.6, le5: 0.9, p99: 6, max: 9 });
    const m = mergeHistograms([h, proxyHistogram('b', {}, { revocation_propagation_ms_count: 30, revocation_propagation_ms_bucket_le_5: 30, revocation_propagation_ms_max: 2 })]);
    expect(m.samples).toBe(40);
    expect(m.le5).toBeCloseTo((0.9 * 10 + 1 * 30) / 40);
    expect(m.max).toBe(9);
    expect(proxyHistogram('c', after, after)).toMatchObject({ samples: 0, p99: null, le5: null });
  });

  it('prints the target row and the warnings', () => {
    const samples = [sample(0, [1, 2, 3])];
    const s: PropagationSummary = {
      prober: summariseProber(samples), proberRtt: quantiles([0.2]), breakdown: breakdown(samples), proxies: [], proxiesMerged: mergeHistograms([]),
      load: null, loopDelay: [], foreignCores: 0.02,
    };
    const t = propagationTables(s, DEFAULT_PROPAGATION_FLAGS, ['busy machine']);
    expect(t).toMatch(/\| \*\*every member \(slowest of 3 per revocation\)\*\* \| 1 \| 3\.000 \| 3\.000 \| 3\.000 \| 100\.0 % \|/);
    expect(t).toMatch(/> \*\*Warning:\*\* busy machine/);
    expect(t).toMatch(/\| publishedAt → an otherwise idle subscriber process has it \(the floor for any receiver here\) \| 0 \| — /);
  });

  it('reads the idle observer\'s arrivals (the last report line; none → null)', () => {
    expect(parseBusObserverReport('{"ready":true}\n{"arrivals":{"j1":1700000000000.5}}\n')?.get('j1')).toBe(1700000000000.5);
    expect(parseBusObserverReport('{"ready":true}\n')).toBeNull();
  });
});

describe('introspection-cluster fold', () => {
  const pass = (target: Pass['target'], phase: Pass['phase'], rps: number, asCalls: number, extra: Partial<Pass> = {}): Pass => ({
    target, phase, tokens: 100, requests: 300, asCalls, callsPerToken: asCalls / 100, elapsedS: 300 / rps, rps,
    latency: [{ p50: 1, p99: 2 }], non2xx: 0, errors: 0, foreignCores: 0.01, ...extra,
  });

  it('reports the worst calls-per-token over rounds, paired throughput ratios and who called the AS', () => {
    const passes = [
      pass('cluster', 'cold', 900, 100, { members: [{ id: 'a', calls: 40, remoteHits: 0, leaseWaits: 0, fallbackCalls: 0, ownerFailovers: 0 }, { id: 'b', calls: 60, remoteHits: 0, leaseWaits: 0, fallbackCalls: 0, ownerFailovers: 0 }] }),
      pass('single', 'cold', 1000, 100),
      pass('cluster', 'warm', 3000, 0), pass('single', 'warm', 2000, 0),
      pass('cluster', 'cold', 800, 102), pass('single', 'cold', 1000, 100),
      pass('cluster', 'warm', 3000, 0), pass('single', 'warm', 3000, 0),
    ];
    const s = summariseIntrospectionCluster(passes);
    const coldCluster = s.rows.find((r) => r.target === 'cluster' && r.phase === 'cold')!;
    expect(coldCluster.callsPerTokenMax).toBeCloseTo(1.02);
    expect(coldCluster.callsPerTokenMedian).toBeCloseTo(1.01);
    expect(s.clusterOverSingle.cold).toBeCloseTo(0.85);
    expect(s.clusterOverSingle.warm).toBeCloseTo(1.25);
    expect(s.callsByMember).toEqual({ a: 40, b: 60 });
    const t = introspectionClusterTables(s, { tokens: 100, connectionsPerMember: 16, rounds: 2, timeoutS: 10, introspectionTtlS: 600 });
    expect(t).toMatch(/\| 3 members \(NATS\) — cold \| 300 \| 850 \| \*\*1\.020\*\* \|/);
  });
});

describe('revocation-direct tables', () => {
  it('pairs each NATS-only round with its direct round, whatever the order, and prints direct/NATS ratios', () => {
    const round = (pair: number, direct: boolean, p50: number): DirectRound => ({
      pair, direct, appliedP50: p50, appliedP99: p50 * 4, appliedLe5: 0.9, everyP50: p50 * 2, everyP99: p50 * 8, everyLe5: direct ? 0.5 : 0.25,
      othersP50: p50, othersP99: p50 * 5, firstDirect: direct ? 200 : 0, firstLive: direct ? 0 : 200, foreignCores: 0, warnings: 0,
    });
    const t = directTables([round(1, false, 4), round(1, true, 2), round(2, true, 1), round(2, false, 4)], 100);
    expect(t).toMatch(/\| 1 \| 0\.50 \| 0\.50 \| 0\.50 \| 0\.50 \| 25\.0 % → 50\.0 % \|/);
    expect(t).toMatch(/\| 2 \| 0\.25 \| 0\.25 \| 0\.25 \| 0\.25 \|/);
    expect(t).toContain('in 2 pairs of interleaved rounds');
    expect(t).toContain('| 200 / 0 |');
  });
});
