// The HTTP/2 scenarios' pure parts: h2load's summary and per-request log, the refusal to run
// without h2load (naming the package), HAProxy's h2 frontend/backend lines, the Portcullis h2c
// config (validated by the real schema) and the h2 / grpc summaries and tables.
// No load is generated here; the scenarios run end to end with `npm run bench -- h2 grpc --quick`.
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../../node/config/index.js';
import { haproxyConfig } from '../../../bench/haproxy.js';
import { H2LoadMissing, h2loadVersion, logPercentiles, parseH2loadSummary, type H2LoadResult } from '../../../bench/h2load.js';
import { h2TokenConfigYaml } from '../../../bench/h2-targets.js';
import { FLOOR, H2_CLOSED_FLAGS, H2_FIXED_FLAGS, h2Tables, summariseH2 } from '../../../bench/h2.bench.js';
import { GRPC_CLOSED_FLAGS, GRPC_FIXED_FLAGS, grpcRate, grpcTables, summariseGrpc } from '../../../bench/grpc.bench.js';

const H2LOAD_OUT = `finished in 5.00s, 12345.60 req/s, 1.23MB/s
requests: 61728 total, 61778 started, 61728 done, 61700 succeeded, 28 failed, 20 errored, 8 timeout
status codes: 61690 2xx, 0 3xx, 10 4xx, 0 5xx
`;

function r(rps: number, p99: number, hop: number | undefined, upstream: number): H2LoadResult {
  return { rps, p50: p99 / 2, p99, p999: p99 * 2, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5, cpuUsPerReqOf: { ...(hop !== undefined ? { hop } : {}), upstream }, ...(hop !== undefined ? { cpuUsPerReq: hop } : {}) };
}

describe('h2load', () => {
  it('reads the summary: completed, failed and 2xx counts', () => {
    expect(parseH2loadSummary(H2LOAD_OUT)).toEqual({ rps: 12345.6, done: 61728, succeeded: 61700, failed: 28, errored: 20, timeout: 8, status2xx: 61690 });
    expect(() => parseH2loadSummary('h2load: connection refused')).toThrow(/h2load output not understood/);
  });

  it('reads a run shorter than a second (h2load prints its time in ms then)', () => {
    expect(parseH2loadSummary(H2LOAD_OUT.replace('finished in 5.00s', 'finished in 999.20ms')).rps).toBe(12345.6);
  });

  it('reads percentiles from the per-request log (µs → ms)', () => {
    const log = Array.from({ length: 1000 }, (_, i) => `1796287059658955\t200\t${(i + 1) * 10}`).join('\n') + '\n';
    const p = logPercentiles(log);
    expect(p.n).toBe(1000);
    expect(p.p50).toBeCloseTo(5.01, 2);
    expect(p.p99).toBeCloseTo(9.91, 2);
    expect(p.p999).toBeCloseTo(10, 2);
  });

  it('a missing h2load stops the scenario with a message naming it and its package', () => {
    expect(() => h2loadVersion('/nonexistent/h2load')).toThrow(H2LoadMissing);
    expect(() => h2loadVersion('/nonexistent/h2load')).toThrow(/h2load not found at \/nonexistent\/h2load.*apt-get install -y nghttp2-client/);
  });
});

describe('HAProxy over HTTP/2', () => {
  it('binds h2c with prior knowledge and talks h2 to the upstream when asked; HTTP/1.1 otherwise', () => {
    const h2 = haproxyConfig({ bind: { host: '127.0.0.1', port: 1 }, upstream: { host: '127.0.0.1', port: 2 }, nbthread: 1, proto: { bind: 'h2', server: 'h2' } });
    expect(h2).toContain('  bind 127.0.0.1:1 proto h2\n');
    expect(h2).toContain('  server app 127.0.0.1:2 proto h2\n');
    const h1 = haproxyConfig({ bind: { host: '127.0.0.1', port: 1 }, upstream: { host: '127.0.0.1', port: 2 }, nbthread: 1 });
    expect(h1).not.toContain('proto h2');
  });
});

describe('the Portcullis h2c config', () => {
  it('is valid: HTTP/2 listener, h2c upstream, scope route, one worker, access log off', () => {
    const v = validateConfig(parse(h2TokenConfigYaml({ upstreamPort: 9, issuer: 'http://127.0.0.1:8/', algorithms: ['RS256'] })));
    expect(v.ok, JSON.stringify(!v.ok && v.errors)).toBe(true);
    if (!v.ok) return;
    expect(v.config.server.http2?.listen.port).toBe(0);
    expect(v.config.upstreams.app!.protocol).toBe('h2c');
    expect(v.config.server.workers).toBe(1);
    expect(v.config.log.access).toBe(false);
  });
});

describe('summaries and tables', () => {
  it('h2: paired ratios, added latency over direct, the 0.7× target verdict and the upstream CPU column', () => {
    const closed = { direct: [r(10000, 5, undefined, 50)], portcullis: [r(3000, 20, 300, 55)], haproxy: [r(4000, 15, 50, 52)] };
    const fixed = { direct: [r(2000, 2, undefined, 50)], portcullis: [r(2000, 3.5, 200, 55)], haproxy: [r(2000, 2.5, 50, 52)] };
    const s = summariseH2(closed, fixed);
    expect(s.ratios[0]![1]).toBeCloseTo(0.75);
    expect(s.added.portcullis!.p99).toBeCloseTo(1.5);
    expect(s.upstreamCpu.throughput.portcullis).toBe(55);
    const t = h2Tables(s, {}, { ...H2_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...H2_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256');
    expect(t).toContain('portcullis / haproxy ≥ 0.70 over HTTP/2 → met (0.75)');
    expect(t).toContain('2000 rps (h2load --rps 200 × 10 connections)');
    expect(t).toMatch(/\| portcullis \| 3000 \|.*\| 300\.0 \| 55\.0 \|/);
  });

  it('h2: the node:http2 floor side by side — floor / haproxy, portcullis / floor, its added latency and the CPU above it', () => {
    const closed = { direct: [r(10000, 5, undefined, 50), r(12000, 5, undefined, 50)], [FLOOR]: [r(5000, 10, 100, 50), r(6000, 10, 110, 50)], portcullis: [r(3000, 20, 300, 55), r(3000, 20, 290, 55)], haproxy: [r(10000, 6, 40, 52), r(10000, 6, 40, 52)] };
    const fixed = { direct: [r(2000, 2, undefined, 50)], [FLOOR]: [r(2000, 2.5, 90, 50)], portcullis: [r(2000, 3.5, 200, 55)], haproxy: [r(2000, 2.5, 40, 52)] };
    const s = summariseH2(closed, fixed);
    expect(s.ratios.find((x) => x[0] === `${FLOOR} / haproxy`)![1]).toBeCloseTo(0.55);
    expect(s.ratios.find((x) => x[0] === `portcullis / ${FLOOR}`)![1]).toBeCloseTo((3000 / 5000 + 3000 / 6000) / 2);
    expect(s.added[FLOOR]!.p99).toBeCloseTo(0.5);
    expect(s.aboveFloorCpu.throughput).toBeCloseTo(295 - 105);
    expect(s.aboveFloorCpu.fixedRate).toBeCloseTo(110);
    const t = h2Tables(s, {}, { ...H2_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...H2_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256');
    // from CPU (hop + upstream): haproxy 92 µs, floor 150 / 160 µs → 0.61 / 0.575
    expect(s.cpuRatios.find((x) => x[0] === `${FLOOR} / haproxy`)![1]).toBeCloseTo((92 / 150 + 92 / 160) / 2);
    expect(t).toContain(`The stack: ${FLOOR} / haproxy = 0.55 (from CPU 0.59) — even the bare node:http2 relay (no auth) stays below 0.70: the target is blocked by node:http2 on this machine; Portcullis CPU above the floor 190.0 µs/req.`);
    expect(t).toContain(`The stack at 2000 rps: ${FLOOR} adds p99 0.500 ms (target for Portcullis ≤ 2 ms: within reach of node:http2)`);
    expect(t).toMatch(new RegExp(`\\| ${FLOOR} \\| 5500 \\|`));
    // the rps ratio says 0.80 but the CPU says 0.59: a disturbed HAProxy round; the verdict follows the CPU
    const disturbed = summariseH2({ ...closed, [FLOOR]: [r(8000, 10, 100, 50), r(8000, 10, 110, 50)] }, fixed);
    expect(h2Tables(disturbed, {}, { ...H2_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...H2_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256')).toContain('(from CPU 0.59) — even the bare node:http2 relay (no auth) stays below 0.70: the target is blocked by node:http2 on this machine (judged from CPU: the rps ratio disagrees, a sign of a disturbed run)');
    const cheap = summariseH2({ ...closed, [FLOOR]: [r(8000, 10, 70, 50), r(8000, 10, 70, 50)] }, fixed);
    expect(h2Tables(cheap, {}, { ...H2_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...H2_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256')).toContain('(from CPU 0.77) — the bare node:http2 relay reaches 0.70, so the gap to the target is ours;');
    // with the upstream on a core of its own only the hop's CPU counts
    expect(summariseH2(closed, fixed, false).cpuRatios.find((x) => x[0] === `${FLOOR} / haproxy`)![1]).toBeCloseTo((40 / 100 + 40 / 110) / 2);
  });

  it('h2: without the floor no floor lines are printed and its row says it did not run', () => {
    const s = summariseH2({ direct: [r(10000, 5, undefined, 50)], portcullis: [r(3000, 20, 300, 55)] }, { direct: [r(2000, 2, undefined, 50)], portcullis: [r(2000, 3.5, 200, 55)] });
    expect(s.ratios.map((x) => x[0])).not.toContain(`${FLOOR} / haproxy`);
    expect(s.aboveFloorCpu).toEqual({ throughput: null, fixedRate: null });
    const t = h2Tables(s, {}, { ...H2_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...H2_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256');
    expect(t).not.toContain('The stack');
    expect(t).toContain(`| ${FLOOR} | skipped: not run |`);
  });

  it('grpc: the fixed rate from PORTCULLIS_BENCH_GRPC_RATE, 500 by default, refused when not a positive integer', () => {
    expect(grpcRate(undefined)).toBe(500);
    expect(grpcRate('200')).toBe(200);
    expect(() => grpcRate('fast')).toThrow(/PORTCULLIS_BENCH_GRPC_RATE must be an integer/);
  });

  it('grpc: the added-p99 verdict against 2 ms', () => {
    const closed = { direct: [r(5000, 5, undefined, 100)], portcullis: [r(2500, 9, 250, 110)] };
    const fixed = { direct: [r(500, 1, undefined, 100)], portcullis: [r(500, 4, 250, 110)] };
    const s = summariseGrpc(closed, fixed);
    expect(s.ratios[0]![1]).toBeCloseTo(0.5);
    const t = grpcTables(s, { ...GRPC_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...GRPC_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256');
    expect(t).toContain('Target: added p99 ≤ 2 ms at 500 calls/s → NOT met (3.000 ms)');
    expect(t).not.toContain('The stack');
    const saturated = grpcTables(summariseGrpc(closed, { ...fixed, portcullis: [r(300, 4, 250, 110)] }), { ...GRPC_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...GRPC_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256');
    expect(saturated).toContain('→ not measured (portcullis did not reach the offered rate');
  });

  it('grpc: the floor calls/s against direct, portcullis / floor, its added p99 and whether the stack alone meets 2 ms', () => {
    const closed = { direct: [r(5000, 5, undefined, 100)], [FLOOR]: [r(4000, 6, 120, 105)], portcullis: [r(2500, 9, 250, 110)] };
    const fixed = { direct: [r(500, 1, undefined, 100)], [FLOOR]: [r(500, 1.8, 110, 100)], portcullis: [r(500, 4, 250, 110)] };
    const s = summariseGrpc(closed, fixed);
    expect(s.ratios.find((x) => x[0] === `${FLOOR} / direct`)![1]).toBeCloseTo(0.8);
    expect(s.ratios.find((x) => x[0] === `portcullis / ${FLOOR}`)![1]).toBeCloseTo(0.625);
    expect(s.addedFloor!.p99).toBeCloseTo(0.8);
    const t = grpcTables(s, { ...GRPC_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...GRPC_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256');
    expect(t).toContain(`The stack: ${FLOOR} (no auth) adds p99 0.800 ms at 500 calls/s — within the target: what Portcullis adds above it is ours.`);
    expect(t).toMatch(new RegExp(`\\| ${FLOOR} \\| 500 \\|.*\\| 0\\.400 \\| 0\\.800 \\|`));
    // a saturated floor does not void the Portcullis verdict
    const t2 = grpcTables(summariseGrpc(closed, { ...fixed, [FLOOR]: [r(300, 9, 110, 100)] }), { ...GRPC_CLOSED_FLAGS, durationS: 5, warmupS: 1 }, { ...GRPC_FIXED_FLAGS, durationS: 5, warmupS: 1 }, 'RS256');
    expect(t2).toContain('NOT met (3.000 ms)');
    expect(t2).toContain('already over the target: node:http2 alone does not meet it on this machine');
  });
});
