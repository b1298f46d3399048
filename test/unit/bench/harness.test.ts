// The bench harness's pure parts: round summaries and ratio maths, the HAProxy configs (plain and
// JWT-checking), the Portcullis config, result files, markdown tables, CPU split, options.
// No load is generated here; the HAProxy JWT config is verified end to end by hand (see bench/RESULTS.md).
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import {
  median, summarise, ratio, pairedRatio, pairedDiff, roundOrder,
  haproxyConfig, haproxyForwardforFromEnv, haproxyJwtRules, resultFileName, markdownTable, cell, cpuPlan,
  passthroughConfigYaml, pinnedCommand, jsonLine, type LoadResult,
} from '../../../bench/harness.js';
import { summarisePassthrough, passthroughTables, passthroughWarnings } from '../../../bench/passthrough.bench.js';
import { DEFAULT_FIXED_RATE_FLAGS, DEFAULT_LOAD_FLAGS } from '../../../bench/load.js';
import { resolveScenarios, scenarioOptions } from '../../../bench/run.js';

function run(rps: number, p50 = 1, p99 = 2, extra: Partial<LoadResult> = {}): LoadResult {
  return { rps, p50, p99, p999: p99 * 2, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5, ...extra };
}

describe('stats', () => {
  it('median of odd and even counts, NaN for none, input untouched', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('summarise takes medians of rps and percentiles but sums failures', () => {
    const s = summarise([run(100, 1, 10, { errors: 1 }), run(300, 3, 30, { non2xx: 2 }), run(200, 2, 20, { errors: 4, non2xx: 1 })]);
    expect(s).toMatchObject({ rps: 200, p50: 2, p99: 20, p999: 40, errors: 5, non2xx: 3, rounds: 3 });
    expect(s.cpuUsPerReq).toBeUndefined();
    expect(summarise([run(1, 1, 1, { cpuUsPerReq: 30 }), run(1, 1, 1, { cpuUsPerReq: 10 }), run(1)]).cpuUsPerReq).toBe(20);
  });

  it('ratio is null when a side is missing or the divisor is 0', () => {
    expect(ratio(30, 20)).toBe(1.5);
    expect(ratio(30, 0)).toBeNull();
    expect(ratio(undefined, 20)).toBeNull();
    expect(ratio(30, Number.NaN)).toBeNull();
  });

  it('pairedRatio is the median of per-round ratios, not the ratio of medians', () => {
    // Round 2 ran slower for both, round 3 was disturbed for b only: per-round ratios 1.1, 1.2, 0.5.
    const a = [2200, 1200, 500];
    const b = [2000, 1000, 1000];
    expect(pairedRatio(a, b)).toBeCloseTo(1.1, 10);
    expect(ratio(median(a), median(b))).toBeCloseTo(1.2, 10);
    expect(pairedRatio(a, b.slice(1))).toBeNull();
    expect(pairedRatio(undefined, b)).toBeNull();
    expect(pairedRatio([], [])).toBeNull();
    expect(pairedRatio([1, 2], [0, 0])).toBeNull();
  });

  it('pairedDiff is the median of per-round differences', () => {
    expect(pairedDiff([1.5, 9, 2.2], [1, 1, 2])).toBeCloseTo(0.5, 10);
    expect(pairedDiff([1], undefined)).toBeNull();
  });

  it('roundOrder rotates so every target runs first once in as many rounds', () => {
    const t = ['direct', 'portcullis', 'haproxy'];
    expect(roundOrder(t, 0)).toEqual(t);
    expect(roundOrder(t, 1)).toEqual(['portcullis', 'haproxy', 'direct']);
    expect(roundOrder(t, 2)).toEqual(['haproxy', 'direct', 'portcullis']);
    expect(roundOrder(t, 3)).toEqual(t);
    expect(roundOrder([], 5)).toEqual([]);
  });
});

describe('passthrough summary', () => {
  it('gives paired ratios and added latency over direct', () => {
    const closed = { direct: [run(1000), run(800)], portcullis: [run(500), run(400)], haproxy: [run(400), run(400)] };
    const fixed = { direct: [run(2000, 0.1, 0.5), run(2000, 0.1, 0.7)], portcullis: [run(2000, 0.2, 0.9), run(2000, 0.3, 1.3)], haproxy: [run(2000, 0.15, 0.6), run(2000, 0.15, 0.8)] };
    const s = summarisePassthrough(closed, fixed);
    expect(s.ratios.portcullisOverHaproxy).toBeCloseTo(1.125, 10); // median of 1.25 and 1.0
    expect(s.ratios.portcullisOverDirect).toBeCloseTo(0.5, 10);
    expect(s.ratios.haproxyOverDirect).toBeCloseTo(0.45, 10);
    expect(s.added.portcullis!.p50).toBeCloseTo(0.15, 10);
    expect(s.added.portcullis!.p99).toBeCloseTo(0.5, 10);
    expect(s.added.haproxy!.p99).toBeCloseTo(0.1, 10);
    expect(s.throughput.portcullis!.rps).toBe(450);
  });

  it('a skipped peer yields no ratio and a row naming the reason', () => {
    const s = summarisePassthrough({ direct: [run(1000)], portcullis: [run(500)] }, { direct: [run(2000)], portcullis: [run(2000)] });
    expect(s.ratios.portcullisOverHaproxy).toBeNull();
    expect(s.ratios.portcullisOverDirect).toBe(0.5);
    expect(s.added.haproxy).toBeUndefined();
    const md = passthroughTables(s, { haproxy: 'haproxy not found at /usr/sbin/haproxy; install it with: apt-get install -y haproxy' }, DEFAULT_LOAD_FLAGS, DEFAULT_FIXED_RATE_FLAGS);
    expect(md).toContain('| haproxy | skipped: haproxy not found at /usr/sbin/haproxy; install it with: apt-get install -y haproxy |');
    expect(md).toContain('| portcullis / haproxy | — |');
    expect(md).toContain('| portcullis / direct | 0.50 |');
    expect(md).toContain('autocannon 50 connections, pipelining 1, 5 s (+1 s warmup)');
    expect(md).toContain('2000 rps, paced engine');
  });
});

describe('passthrough warnings', () => {
  it('flags other processes using CPU and a fixed rate that was not reached', () => {
    const quiet = summarisePassthrough({ direct: [run(1000, 1, 2, { foreignCores: 0.02 })] }, { direct: [run(1995, 0.1, 0.5, { foreignCores: 0.05 })] });
    expect(passthroughWarnings(quiet, 2000)).toEqual([]);
    const busy = summarisePassthrough(
      { direct: [run(1000, 1, 2, { foreignCores: 0.02 }), run(1000, 1, 2, { foreignCores: 0.8 })] },
      { direct: [run(2000)], haproxy: [run(1500)] },
    );
    const w = passthroughWarnings(busy, 2000);
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/other processes used up to 0\.80 cores/);
    expect(w[1]).toMatch(/^haproxy reached 1500 of 2000 rps offered/);
    expect(passthroughTables(busy, {}, DEFAULT_LOAD_FLAGS, DEFAULT_FIXED_RATE_FLAGS, w)).toContain('> **Warning:** other processes used up to 0.80 cores');
  });
});

describe('haproxy config', () => {
  const base = { bind: { host: '127.0.0.1', port: 8081 }, upstream: { host: '127.0.0.1', port: 9000 }, nbthread: 1 };

  it('is an HTTP keep-alive proxy with nbthread, timeouts and one server', () => {
    const cfg = haproxyConfig({ ...base, nbthread: 2 });
    const lines = cfg.split('\n').map((l) => l.trim());
    for (const l of ['nbthread 2', 'mode http', 'option http-keep-alive', 'timeout connect 5s', 'timeout client 30s', 'timeout server 30s', 'bind 127.0.0.1:8081', 'default_backend app', 'server app 127.0.0.1:9000']) {
      expect(lines).toContain(l);
    }
    expect(cfg).not.toContain('jwt_verify');
    expect(cfg).toMatch(/^global\n(?:.*\n)*defaults\n(?:.*\n)*frontend fe\n(?:.*\n)*backend app\n/m);
  });

  it('adds X-Forwarded-For (option forwardfor) only when asked, as Portcullis does at x_forwarded_for: append', () => {
    expect(haproxyConfig(base).split('\n').map((l) => l.trim())).not.toContain('option forwardfor');
    expect(haproxyConfig({ ...base, forwardfor: true }).split('\n').map((l) => l.trim())).toContain('option forwardfor');
    expect(haproxyForwardforFromEnv({ PORTCULLIS_BENCH_HAPROXY_FORWARDFOR: '1' })).toBe(true);
    expect(haproxyForwardforFromEnv({})).toBe(false);
  });

  it('rejects a thread count that is not a positive integer', () => {
    expect(() => haproxyConfig({ ...base, nbthread: 0 })).toThrow(/nbthread/);
    expect(() => haproxyConfig({ ...base, nbthread: 1.5 })).toThrow(/nbthread/);
  });

  it('JWT frontend: bearer, alg allowlist before jwt_verify, 401 otherwise', () => {
    const rules = haproxyJwtRules({ pubkeyPath: '/tmp/k/pub.pem', algs: ['RS256', 'ES256'] });
    expect(rules[0]).toBe('http-request set-var(txn.bearer) http_auth_bearer');
    expect(rules[1]).toBe("http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('$.alg')");
    const allow = rules.findIndex((r) => r.includes('unless { var(txn.jwt_alg) -m str RS256 ES256 }'));
    const verify = rules.findIndex((r) => r.includes('unless { var(txn.bearer),jwt_verify(txn.jwt_alg,"/tmp/k/pub.pem") -m int 1 }'));
    // The allowlist must come first: jwt_verify with an HMAC alg uses its key argument (here the
    // file path) as the secret, so an HS256 token keyed with the path would pass (checked on 2.6).
    expect(allow).toBeGreaterThan(1);
    expect(verify).toBeGreaterThan(allow);
    for (const r of rules.slice(2).filter((r) => r.includes(' unless '))) expect(r).toMatch(/^http-request deny deny_status 401 hdr WWW-Authenticate 'Bearer realm="portcullis-bench", error="invalid_token"' unless \{/);
    expect(rules.some((r) => r.includes("jwt_payload_query('$.exp','int'),sub(txn.now) -m int gt 0"))).toBe(true);
  });

  it('JWT frontend: optional iss/aud checks, exp check can be turned off', () => {
    const rules = haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['ES256'], issuer: 'https://issuer.example/#x', audience: 'api', checkExp: false });
    expect(rules).toContain(`http-request deny deny_status 401 hdr WWW-Authenticate 'Bearer realm="portcullis-bench", error="invalid_token"' unless { var(txn.bearer),jwt_payload_query('$.iss') -m str 'https://issuer.example/#x' }`);
    expect(rules.some((r) => r.includes("jwt_payload_query('$.aud') -m str 'api'"))).toBe(true);
    expect(rules.some((r) => r.includes('$.exp'))).toBe(false);
    const cfg = haproxyConfig({ ...base, jwt: { pubkeyPath: '/k.pem', algs: ['ES256'] } });
    expect(cfg).toContain('  http-request set-var(txn.bearer) http_auth_bearer\n');
    expect(cfg.indexOf('jwt_verify')).toBeLessThan(cfg.indexOf('default_backend'));
  });

  it('JWT frontend refuses symmetric algs, empty allowlists and values that would break the config', () => {
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['HS256' as never] })).toThrow(/unsupported alg HS256/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: [] })).toThrow(/algs/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/my keys/k.pem', algs: ['RS256'] })).toThrow(/key path/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], issuer: "it's" })).toThrow(/issuer/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], realm: 'a b' })).toThrow(/realm/);
  });
});

describe('portcullis config', () => {
  it('routes everything to the cheap upstream with one worker, no auth, no access log', () => {
    const c = parse(passthroughConfigYaml(41234)) as Record<string, any>;
    expect(c.server).toEqual({ listen: { host: '127.0.0.1', port: 0 }, workers: 1 });
    expect(c.admin).toEqual({ listen: { host: '127.0.0.1', port: 0 } });
    expect(c.upstreams).toEqual({ app: { targets: ['http://127.0.0.1:41234'] } });
    expect(c.routes).toEqual([{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }]);
    expect(c.log).toEqual({ level: 'info', access: false });
    expect((parse(passthroughConfigYaml(1, 'warn')) as Record<string, any>).log.level).toBe('warn');
  });
});

describe('results and tables', () => {
  it('names result files <scenario>-<UTC timestamp>.json without colons', () => {
    expect(resultFileName('passthrough', new Date('2025-11-28T20:47:01.123Z'))).toBe('passthrough-2025-11-28T20-47-01Z.json');
  });

  it('renders a markdown table with right-aligned numeric columns and padded short rows', () => {
    const md = markdownTable(['target', 'rps'], [['direct', cell(1234.4, 0)], ['haproxy']], [false, true]);
    expect(md).toBe('| target | rps |\n|---|---:|\n| direct | 1234 |\n| haproxy |  |');
  });

  it('formats cells: decimals, missing as an em dash, pipes escaped', () => {
    expect(cell(1.23456)).toBe('1.23');
    expect(cell(1.23456, 3)).toBe('1.235');
    expect(cell(7, 0)).toBe('7');
    expect(cell(null)).toBe('—');
    expect(cell(undefined)).toBe('—');
    expect(cell(Number.NaN)).toBe('—');
    expect(cell('a|b')).toBe('a\\|b');
  });
});

describe('process helpers', () => {
  it('pins with taskset -c when asked and available', () => {
    expect(pinnedCommand('/usr/sbin/haproxy', ['-f', 'x.cfg'], [1], true)).toEqual({ command: '/usr/bin/taskset', args: ['-c', '1', '/usr/sbin/haproxy', '-f', 'x.cfg'] });
    expect(pinnedCommand('node', ['a.js'], [0, 2], true).args.slice(0, 2)).toEqual(['-c', '0,2']);
    expect(pinnedCommand('node', ['a.js'], [1], false)).toEqual({ command: 'node', args: ['a.js'] });
    expect(pinnedCommand('node', ['a.js'], undefined, true)).toEqual({ command: 'node', args: ['a.js'] });
  });

  it('jsonLine matches the readiness line and ignores other output', () => {
    const m = jsonLine((o) => o.msg === 'listening');
    expect(m('{"level":30,"msg":"listening","port":8080,"adminPort":9901}')).toMatchObject({ port: 8080, adminPort: 9901 });
    expect(m('{"msg":"starting"}')).toBeUndefined();
    expect(m('listening on 8080')).toBeUndefined();
    expect(m('{"msg":"listening"')).toBeUndefined();
  });
});

describe('cpu plan', () => {
  it('2 cores: loader alone on CPU 0, proxy and upstream share CPU 1', () => {
    expect(cpuPlan(2)).toMatchObject({ loader: [0], upstream: [1], proxy: [1] });
  });
  it('more cores: one CPU each, the proxy stays single-core; 1 core: all on CPU 0', () => {
    expect(cpuPlan(8)).toMatchObject({ loader: [0], upstream: [1], proxy: [2] });
    expect(cpuPlan(1)).toMatchObject({ loader: [0], upstream: [0], proxy: [0] });
  });
});

describe('run options', () => {
  it('resolves all scenarios by default and rejects unknown names with the known ones', () => {
    expect(resolveScenarios([])).toContain('passthrough');
    expect(resolveScenarios(['passthrough', 'passthrough'])).toEqual(['passthrough']);
    expect(() => resolveScenarios(['nope'])).toThrow(/unknown bench scenario "nope"; known: passthrough/);
  });

  it('rounds and duration: option over environment over default; quick is 1 × 2 s', () => {
    expect(scenarioOptions({}, {})).toEqual({ quick: false, rounds: 3, durationS: 5, jwtAlg: 'RS256' });
    expect(scenarioOptions({ quick: true }, {})).toEqual({ quick: true, rounds: 1, durationS: 2, jwtAlg: 'RS256' });
    expect(scenarioOptions({}, { PORTCULLIS_BENCH_ROUNDS: '5', PORTCULLIS_BENCH_DURATION_S: '10' })).toEqual({ quick: false, rounds: 5, durationS: 10, jwtAlg: 'RS256' });
    expect(scenarioOptions({ rounds: 2 }, { PORTCULLIS_BENCH_ROUNDS: '5' }).rounds).toBe(2);
    expect(() => scenarioOptions({}, { PORTCULLIS_BENCH_ROUNDS: 'three' })).toThrow(/PORTCULLIS_BENCH_ROUNDS must be an integer/);
  });
});
