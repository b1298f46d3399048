// The token scenarios' pure parts: the matched HAProxy JWT config, the Portcullis token config
// (validated by the real schema), header rotation arithmetic, the CPU split for scaling runs,
// and the summaries, warnings and tables of jwt-warm and introspection (jwt-cold's: jwt-cold-summary.test.ts).
// No load is generated here; the scenarios run end to end with `npm run bench -- NAME --quick`.
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { identitySchema, validateConfig } from '../../../node/config/index.js';
import { cpuPlanSpread } from '../../../bench/cpu-plan.js';
import { haproxyJwtRules } from '../../../bench/haproxy.js';
import { headerRotation, rotationValue } from '../../../bench/load.js';
import { resolveScenarios, scenarioOptions } from '../../../bench/run.js';
import { foldRounds, quietRounds, ratioBasis, ratioTable, redactHeaders, rpsRatio, sideBySideWarnings } from '../../../bench/side-by-side.js';
import type { LoadResult } from '../../../bench/stats.js';
import {
  BENCH_SCOPE, IDENTITY_HEADERS, IDENTITY_STRIP_PREFIX, checksTable, counterDelta, haproxyJwtChecks, tamperSignature, tokenConfigYaml, tokenCounters,
} from '../../../bench/token-targets.js';
import { jwtWarmTables, peerWorkLine, pipelinedTarget, summariseJwtWarm } from '../../../bench/jwt-warm.bench.js';
import { coldPoolSizes } from '../../../bench/jwt-cold.bench.js';
import { introspectionTables, introspectionWarnings, nextPassTokens, summariseIntrospection, type ColdPass } from '../../../bench/introspection.bench.js';
import { DEFAULT_FIXED_RATE_FLAGS, DEFAULT_LOAD_FLAGS } from '../../../bench/load.js';

function run(rps: number, p50 = 1, p99 = 2, extra: Partial<LoadResult> = {}): LoadResult {
  return { rps, p50, p99, p999: p99 * 2, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5, ...extra };
}

describe('matched HAProxy JWT config', () => {
  const rules = haproxyJwtRules(haproxyJwtChecks('/k/RS256.pem', 'RS256', 'http://127.0.0.1:9/', true));

  it('requires the scope as a whole word of the claim, answering 403 insufficient_scope', () => {
    const scope = rules.find((r) => r.includes('$.scope'))!;
    expect(scope).toBe(`http-request deny deny_status 403 hdr WWW-Authenticate 'Bearer realm="portcullis-bench", error="insufficient_scope", scope="orders:read"' unless { var(txn.bearer),jwt_payload_query('$.scope') -m reg '(^| )orders:read( |$)' }`);
    // a dot in a scope is a literal dot, not "any character"
    const dotted = haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], scope: 'api.read' });
    expect(dotted.at(-1)).toContain("'(^| )api[.]read( |$)'");
  });

  it('strips client identity headers before setting them from the verified claims, after every check', () => {
    const del = rules.indexOf(`http-request del-header ${IDENTITY_STRIP_PREFIX} -m beg`);
    const lastDeny = rules.map((r, i) => (r.includes('deny') ? i : -1)).reduce((a, b) => Math.max(a, b));
    expect(del).toBeGreaterThan(lastDeny);
    const sets = rules.slice(del + 1);
    expect(sets).toEqual(Object.entries(IDENTITY_HEADERS).map(([h, c]) => `http-request set-header ${h} %[var(txn.bearer),jwt_payload_query('$.${c}')]`));
  });

  it('mirrors Portcullis: same identity mapping as the config default, same scope as the bench route', () => {
    expect(IDENTITY_HEADERS).toEqual(identitySchema.parse({}).headers);
    expect(identitySchema.parse({}).strip_prefixes).toEqual([IDENTITY_STRIP_PREFIX]);
    const c = parse(tokenConfigYaml({ upstreamPort: 1, issuer: 'http://127.0.0.1:2', algorithms: ['RS256'], poolSize: 1, cacheEntries: 10 })) as Record<string, any>;
    expect(c.routes[0].auth).toEqual({ scopes: { all: [BENCH_SCOPE] } });
  });

  it('the minimal peer checks signature, exp, iss and aud only', () => {
    const min = haproxyJwtRules(haproxyJwtChecks('/k.pem', 'ES256', 'http://i', false));
    expect(min.some((r) => r.includes('$.scope') || r.includes('set-header') || r.includes('del-header'))).toBe(false);
    for (const claim of ['$.exp', '$.iss', '$.aud']) expect(min.some((r) => r.includes(claim))).toBe(true);
  });

  it('refuses scope, header and claim names that would break or widen the config', () => {
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], scope: 'a b' })).toThrow(/scope/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], scope: "x'" })).toThrow(/scope/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], identity: { stripPrefix: 'x auth', headers: {} } })).toThrow(/strip prefix/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], identity: { stripPrefix: 'x-auth-', headers: { 'X Bad': 'sub' } } })).toThrow(/header name/);
    expect(() => haproxyJwtRules({ pubkeyPath: '/k.pem', algs: ['RS256'], identity: { stripPrefix: 'x-auth-', headers: { 'X-A': 'a.b' } } })).toThrow(/claim/);
  });
});

describe('Portcullis token config', () => {
  it('is accepted by the product schema, with and without introspection', () => {
    process.env.PORTCULLIS_BENCH_ADMIN_TOKEN ??= 'x';
    for (const introspection of [false, true]) {
      const yaml = tokenConfigYaml({ upstreamPort: 41234, issuer: 'http://127.0.0.1:5555', algorithms: ['ES256'], poolSize: 2, cacheEntries: 1024, introspection });
      const v = validateConfig(parse(yaml));
      expect(v.ok, JSON.stringify(!v.ok && v.errors)).toBe(true);
      if (!v.ok) continue;
      expect(v.config.verifier).toMatchObject({ pool_size: 2, cache_entries: 1024 });
      expect(v.config.server.workers).toBe(1);
      expect(v.config.log.access).toBe(false);
      expect(v.config.issuers.bench!.algorithms).toEqual(['ES256']);
      expect(v.config.issuers.bench!.introspection !== undefined).toBe(introspection);
      // secrets by *_env only
      expect(yaml).not.toMatch(/secret:|portcullis-secret/);
    }
    const two = validateConfig(parse(tokenConfigYaml({ upstreamPort: 41234, issuer: 'http://127.0.0.1:5555', algorithms: ['RS256'], poolSize: 2, cacheEntries: 1024, workers: 2 })));
    expect(two.ok && two.config.server.workers).toBe(2);
  });
});

describe('bad-token probes', () => {
  it('tamperSignature changes one signature character and nothing before it', () => {
    const t = 'aaa.bbb.' + 'A'.repeat(20);
    const x = tamperSignature(t);
    expect(x).not.toBe(t);
    expect(x.length).toBe(t.length);
    expect(x.slice(0, 8)).toBe('aaa.bbb.');
    expect([...x].filter((c, i) => c !== t[i])).toEqual(['B']);
    expect(() => tamperSignature('a.b.c')).toThrow(/signature/);
  });
});

describe('header rotation', () => {
  it('gives each request the next value, `repeat` requests per value, wrapping around', () => {
    const r = headerRotation('authorization', ['a', 'b', 'c'], { prefix: 'Bearer ', repeat: 2 });
    expect(Array.from({ length: 8 }, (_, n) => rotationValue(r, n))).toEqual(['Bearer a', 'Bearer a', 'Bearer b', 'Bearer b', 'Bearer c', 'Bearer c', 'Bearer a', 'Bearer a']);
    expect(r.sent).toBe(0);
    expect(() => headerRotation('x', [])).toThrow(/at least one/);
    expect(() => headerRotation('x', ['a'], { repeat: 0 })).toThrow(/repeat/);
  });
});

describe('cpu plan for scaling runs', () => {
  it('2 cores: loader on 0, upstream on 1, the proxy may use both', () => {
    expect(cpuPlanSpread(2)).toMatchObject({ loader: [0], upstream: [1], proxy: [0, 1] });
  });
  it('≥ 4 cores: the proxy gets every CPU but the loader\'s and the upstream\'s; 1 core: all on 0', () => {
    expect(cpuPlanSpread(6)).toMatchObject({ loader: [0], upstream: [1], proxy: [2, 3, 4, 5] });
    expect(cpuPlanSpread(3).proxy).toEqual([0, 1, 2]);
    expect(cpuPlanSpread(1)).toMatchObject({ loader: [0], upstream: [0], proxy: [0] });
  });
  it('jwt-cold compares pool size 1 with the proxy\'s CPU count', () => {
    expect(coldPoolSizes(2)).toEqual([1, 2]);
    expect(coldPoolSizes(1)).toEqual([1]);
  });
});

describe('jwt-warm summary', () => {
  const closed = {
    direct: [run(1000), run(900)],
    portcullis: [run(600), run(500)],
    haproxy: [run(500), run(500)],
    'haproxy-min': [run(600), run(1000)],
    'nginx-cached': [run(1200), run(250)],
  };
  const fixed = { direct: [run(2000, 0.1, 0.5), run(2000, 0.1, 0.5)], portcullis: [run(2000, 0.2, 0.9), run(2000, 0.2, 1.5)], haproxy: [run(2000, 0.15, 0.6), run(2000, 0.15, 0.6)] };

  it('pairs ratios per round and measures added latency over direct', () => {
    const s = summariseJwtWarm(closed, fixed, null);
    const r = Object.fromEntries(s.ratios.map((x) => [x[0], x[1]]));
    expect(r['portcullis / haproxy']).toBeCloseTo(1.1, 10); // median of 1.2 and 1.0
    expect(r['portcullis / haproxy-min']).toBeCloseTo(0.75, 10); // median of 1.0 and 0.5
    expect(r['portcullis / nginx-cached']).toBeCloseTo(1.25, 10); // median of 0.5 and 2.0
    expect(s.added.portcullis.p99).toBeCloseTo(0.7, 10);
    expect(s.added.haproxy.p50).toBeCloseTo(0.05, 10);
  });

  it('tables name every target, both HAProxy ratios, what each side checks, and the cache counters', () => {
    const c = counterDelta(tokenCounters({ 'jwt.verify_ok': 2, 'jwt.cache_hits': 10 }), tokenCounters({ 'jwt.verify_ok': 2, 'jwt.cache_hits': 5010, 'jwt.cache_misses': 0 }));
    expect(c).toEqual({ verifyOk: 0, cacheHits: 5000, cacheMisses: 0, poolTasks: 0, poolBatches: 0, verifyInline: 0, inlineSpills: 0 });
    const md = jwtWarmTables(summariseJwtWarm(closed, fixed, c), {}, DEFAULT_LOAD_FLAGS, DEFAULT_FIXED_RATE_FLAGS, 'ES256', ['w1']);
    for (const row of ['| direct |', '| portcullis |', '| haproxy |', '| haproxy-min |', '| portcullis / haproxy | 1.10 | 2 of 2 quiet |', '| portcullis / haproxy-min | 0.75 | 2 of 2 quiet |', '| nginx-cached |', '| portcullis / nginx-cached | 1.25 | 2 of 2 quiet |']) expect(md).toContain(row);
    expect(md).toContain('one ES256 token repeated');
    expect(md).toContain('| alg allowlist (ES256) |');
    expect(md).toContain('0 signature verifications, 5000 cache hits');
    expect(md).toContain('> **Warning:** w1');
    expect(checksTable('RS256', 'x').split('\n')).toHaveLength(12);
  });

  it('PORTCULLIS_BENCH_PIPELINING adds a pipelining variant compared with every peer and with the default build', () => {
    expect(pipelinedTarget(undefined)).toBeNull();
    expect(pipelinedTarget('')).toBeNull();
    expect(pipelinedTarget('8')).toBe('portcullis-pipelining-8');
    expect(() => pipelinedTarget('0')).toThrow(/PORTCULLIS_BENCH_PIPELINING: an integer 1–64/);
    expect(() => pipelinedTarget('65')).toThrow(/an integer 1–64/);
    const p = 'portcullis-pipelining-8';
    const s = summariseJwtWarm({ ...closed, [p]: [run(1500), run(500)] }, { ...fixed, [p]: [run(2000, 0.3, 1.0), run(2000, 0.3, 1.0)] }, null, [], p);
    const r = Object.fromEntries(s.ratios.map((x) => [x[0], x[1]]));
    expect(r[`${p} / nginx-cached`]).toBeCloseTo(1.625, 10); // median of 1.25 and 2.0
    expect(r[`${p} / haproxy`]).toBeCloseTo(2, 10); // median of 3.0 and 1.0
    expect(r[`${p} / portcullis`]).toBeCloseTo(1.75, 10); // median of 2.5 and 1.0
    expect(s.added[p]!.p99).toBeCloseTo(0.5, 10);
    const md = jwtWarmTables(s, {}, DEFAULT_LOAD_FLAGS, DEFAULT_FIXED_RATE_FLAGS, 'RS256', [], [p]);
    expect(md).toContain(`| ${p} |`);
    expect(md).toContain(`| ${p} / nginx-cached | 1.63 |`);
  });

  it('the work line says who appends X-Forwarded-For: matched with it, matched without it (PORTCULLIS_BENCH_XFF=off), or unmatched', () => {
    expect(peerWorkLine(true)).toMatch(/^\*\*Matched work\*\*.*every proxy appends/);
    expect(peerWorkLine(false, 'off')).toMatch(/^\*\*Matched work without the client address\*\*.*no proxy appends/);
    expect(peerWorkLine(true, 'off')).toMatch(/^\*\*Unmatched work\*\*: Portcullis forwards no X-Forwarded-For/);
    expect(peerWorkLine(false)).toMatch(/^\*\*Unmatched work\*\*: Portcullis appends/);
  });
});

describe('introspection summary', () => {
  const pass = (tokens: number, asCalls: number, rps: number, extra: Partial<LoadResult> = {}): ColdPass => ({
    tokens, requests: tokens * 4, asCalls, callsPerToken: asCalls / tokens, singleflightWaits: tokens * 3, result: run(rps, 5, 20, extra), asCpuUsPerCall: 300,
  });

  it('sizes passes from the last rate, within 100 and what is left', () => {
    expect(nextPassTokens(4000, 5, 4, 1e6)).toBe(5000);
    expect(nextPassTokens(10, 5, 4, 1e6)).toBe(100);
    expect(nextPassTokens(4000, 5, 4, 700)).toBe(700);
    expect(nextPassTokens(4000, 5, 4, 0)).toBe(0);
  });

  it('AS calls per token are summed over passes; any pass off 1.0 is a warning', () => {
    const closed = { direct: [run(1000)], 'portcullis-jwt-warm': [run(500)], 'portcullis-opaque-warm': [run(550)] };
    const good = summariseIntrospection(closed, pass(100, 100, 500), [pass(1000, 1000, 900), pass(2000, 2000, 1100)], 1);
    expect(good.cold.callsPerToken).toBe(1);
    expect(good.cold.rps).toBe(1000);
    expect(introspectionWarnings(good)).toEqual([]);
    expect(good.ratios[0]).toEqual(['portcullis-opaque-warm / portcullis-jwt-warm', expect.closeTo(1.1, 10), '1 of 1 quiet']);
    const bad = summariseIntrospection(closed, pass(100, 100, 500), [pass(1000, 1003, 900, { non2xx: 2 })], 0);
    expect(bad.cold.callsPerToken).toBeCloseTo(1.003, 10);
    const w = introspectionWarnings(bad);
    expect(w[0]).toMatch(/^cold pass 1: the authorization server saw 1003 calls for 1000 distinct tokens/);
    expect(w[1]).toBe('cold pass 1: 0 errors and 2 non-2xx responses');
    const md = introspectionTables(good, {}, DEFAULT_LOAD_FLAGS);
    expect(md).toContain('| calibration | 100 | 400 | 100 | 1.0000 | 300 | 500 | 5.00 | 20.00 | 0 | — | 300.0 | — |');
    expect(md).toContain('**AS calls per distinct token: 1.0000** (target 1)');
    expect(md).toContain('received 1 introspection call over the warm rounds');
  });
});

describe('shared side-by-side helpers', () => {
  it('ratios use only the rounds where both sides were quiet, when there is one', () => {
    const m = {
      a: [run(100, 1, 2, { foreignCores: 0.0 }), run(50, 1, 2, { foreignCores: 0.9 }), run(120, 1, 2, { foreignCores: 0.05 })],
      b: [run(100, 1, 2, { foreignCores: 0.0 }), run(100, 1, 2, { foreignCores: 0.0 }), run(100, 1, 2, { foreignCores: 0.5 })],
    };
    expect(quietRounds(m, 'a', 'b')).toEqual([0]);
    expect(rpsRatio(m, 'a', 'b')).toBe(1);
    expect(ratioBasis(m, 'a', 'b')).toBe('1 of 3 quiet');
    // no quiet round: every round counts, and the basis says so
    const noisy = { a: [run(50, 1, 2, { foreignCores: 1 })], b: [run(100, 1, 2, { foreignCores: 1 })] };
    expect(rpsRatio(noisy, 'a', 'b')).toBe(0.5);
    expect(ratioBasis(noisy, 'a', 'b')).toBe('all 1 (none quiet)');
    expect(ratioTable([['x', 1.5, '2 of 3 quiet']])).toBe('| ratio (rps, median of per-round ratios) | value | rounds used |\n|---|---:|---|\n| x | 1.50 | 2 of 3 quiet |');
    expect(ratioTable([['x', null]])).toBe('| ratio (rps, median of per-round ratios) | value |\n|---|---:|\n| x | — |');
  });

  it('warns about foreign CPU, unreached rates and failed requests', () => {
    const closed = foldRounds({ a: [run(100, 1, 2, { foreignCores: 0.5 })], b: [run(100, 1, 2, { errors: 1 })] });
    const fixed = foldRounds({ a: [run(1500)] });
    const w = sideBySideWarnings(closed, fixed, 2000);
    expect(w[0]).toMatch(/other processes used up to 0\.50 cores/);
    expect(w[1]).toMatch(/^a reached 1500 of 2000 rps offered/);
    expect(w[2]).toBe('b: 1 errors and 0 non-2xx responses under load: its rps counts only the 2xx');
    expect(sideBySideWarnings(foldRounds({ a: [run(1)] }))).toEqual([]);
  });

  it('keeps tokens out of result files', () => {
    expect(redactHeaders({ Authorization: 'Bearer eyJ.secret', 'x-a': '1' }, 'one RS256 token')).toEqual({ Authorization: 'Bearer <one RS256 token>', 'x-a': '1' });
    expect(redactHeaders(undefined, 'x')).toBeUndefined();
  });
});

describe('scenario registry and options', () => {
  it('registers the token scenarios', () => {
    expect(resolveScenarios([])).toEqual(expect.arrayContaining(['passthrough', 'jwt-warm', 'jwt-cold', 'introspection']));
  });

  it('the JWT alg comes from the option, else PORTCULLIS_BENCH_JWT_ALG, else RS256', () => {
    expect(scenarioOptions({}, { PORTCULLIS_BENCH_JWT_ALG: 'ES256' }).jwtAlg).toBe('ES256');
    expect(scenarioOptions({ jwtAlg: 'RS256' }, { PORTCULLIS_BENCH_JWT_ALG: 'ES256' }).jwtAlg).toBe('RS256');
    expect(() => scenarioOptions({}, { PORTCULLIS_BENCH_JWT_ALG: 'HS256' })).toThrow(/RS256 or ES256/);
  });
});

describe('profile summary', () => {
  it('sums self time per function (name, file, line), drops idle from the shares, largest first', async () => {
    const { selfTimes, selfTimeTable } = await import('../../../bench/profile-top.js');
    const frame = (id: number, functionName: string, url = '', lineNumber = 0) => ({ id, callFrame: { functionName, url, lineNumber } });
    const rows = selfTimes({
      nodes: [frame(1, '(idle)'), frame(2, 'verify', 'file:///w/dist/node/jwt/jwt-verifier.js', 99), frame(3, 'verify', 'file:///w/dist/node/jwt/jwt-verifier.js', 99), frame(4, 'writeLatin1String')],
      samples: [1, 2, 3, 4, 1],
      timeDeltas: [5000, 1000, 1000, 2000, 5000],
    });
    expect(rows).toEqual([
      { frame: 'verify (node/jwt/jwt-verifier.js:100)', ms: 2, share: 0.5 },
      { frame: 'writeLatin1String', ms: 2, share: 0.5 },
    ]);
    expect(selfTimeTable(rows, 1)).toBe('| function (self time) | ms | % of busy |\n|---|---:|---:|\n| verify (node/jwt/jwt-verifier.js:100) | 2 | 50.0 |');
  });
});
