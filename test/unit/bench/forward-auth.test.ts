// The forward-auth scenario's pure parts: the nginx configs it runs (accepted by the real
// `nginx -t`; the cache only on the validator's), the Portcullis config with its decision
// endpoint (the real schema), and the summary's ratios and revocation table.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../../node/config/index.js';
import { forwardAuthConfigYaml, forwardAuthTables, summariseForwardAuth, VALIDATOR_CACHE_TTL_S } from '../../../bench/forward-auth.bench.js';
import { DEFAULT_LOAD_FLAGS } from '../../../bench/load.js';
import { NGINX_BIN, nginxAuthConfig } from '../../../bench/nginx.js';
import type { LoadResult } from '../../../bench/stats.js';
import { tokenConfigYaml } from '../../../bench/token-targets.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const run = (rps: number): LoadResult => ({ rps, p50: 1, p99: 2, p999: 4, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5 });

describe('forward-auth nginx configs', () => {
  for (const cacheTtlS of [0, VALIDATOR_CACHE_TTL_S]) {
    it(`nginx -t accepts the config with cacheTtlS ${cacheTtlS}; the cache only when asked`, () => {
      if (!existsSync(NGINX_BIN)) throw new Error(`nginx not found at ${NGINX_BIN}: apt-get install -y nginx`);
      const dir = tempDir('portcullis-bench-nginx-test-');
      for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t));
      const conf = nginxAuthConfig({ dir, port: 1, upstreamPort: 2, authPort: 3, authPath: '/_portcullis/auth', cacheTtlS });
      writeFileSync(join(dir, 'nginx.conf'), conf);
      execFileSync(NGINX_BIN, ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
      expect(conf.includes('proxy_cache auth;')).toBe(cacheTtlS > 0);
      expect(conf).toContain('auth_request /_auth;');
      expect(conf).toContain('proxy_set_header X-Original-URI $request_uri;');
    });
  }

  it('nginx -t accepts the auth service on a unix socket (how nginx+portcullis and nginx+zero reach it)', () => {
    if (!existsSync(NGINX_BIN)) throw new Error(`nginx not found at ${NGINX_BIN}: apt-get install -y nginx`);
    const dir = tempDir('portcullis-bench-nginx-test-');
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t));
    const conf = nginxAuthConfig({ dir, port: 1, upstreamPort: 2, authPort: 0, authSocket: join(dir, 'decision.sock'), authPath: '/_portcullis/auth', cacheTtlS: 0 });
    writeFileSync(join(dir, 'nginx.conf'), conf);
    execFileSync(NGINX_BIN, ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
    expect(conf).toContain(`upstream auth { server unix:${join(dir, 'decision.sock')}; keepalive 64; }`);
  });
});

describe('nginx peer with several workers (jwt-warm on the peer terms)', () => {
  it('nginx -t accepts a master with 2 workers; one process without a master by default', () => {
    if (!existsSync(NGINX_BIN)) throw new Error(`nginx not found at ${NGINX_BIN}: apt-get install -y nginx`);
    const dir = tempDir('portcullis-bench-nginx-test-');
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t));
    const conf = nginxAuthConfig({ dir, port: 1, upstreamPort: 2, authPort: 3, authPath: '/verify', cacheTtlS: 600, workers: 2 });
    writeFileSync(join(dir, 'nginx.conf'), conf);
    execFileSync(NGINX_BIN, ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
    expect(conf).toContain('master_process on;');
    expect(conf).toContain('worker_processes 2;');
    const one = nginxAuthConfig({ dir, port: 1, upstreamPort: 2, authPort: 3, authPath: '/verify', cacheTtlS: 600 });
    expect(one).toContain('master_process off;');
    expect(one).toContain('worker_processes 1;');
  });
});

describe('forward-auth Portcullis config', () => {
  it('the token config with the decision endpoint validates', () => {
    const yaml = forwardAuthConfigYaml(tokenConfigYaml({ upstreamPort: 1, issuer: 'http://127.0.0.1:9/', algorithms: ['RS256'], poolSize: 1, cacheEntries: 10 }), '/tmp/x y/decision.sock');
    const r = validateConfig(parse(yaml));
    expect(r.ok, JSON.stringify(r.ok ? null : r.errors)).toBe(true);
    if (r.ok) expect(r.config.server.decision.endpoints).toEqual([{ path: '/_portcullis/auth', dialect: 'nginx' }]);
    if (r.ok) expect(r.config.server.decision.unix_socket).toEqual({ path: '/tmp/x y/decision.sock', mode: '0660' });
  });
});

describe('forward-auth summary', () => {
  it('ratios against the cached validator and HAProxy; revocation says who honours it', () => {
    const closed = { 'nginx+portcullis': [run(900), run(1100)], 'nginx+validator': [run(1000), run(1000)], portcullis: [run(800), run(800)], haproxy: [run(500), run(500)] };
    const s = summariseForwardAuth(closed, { 'nginx+portcullis': true, portcullis: true });
    expect(s.ratios[0]!.slice(0, 2)).toEqual(['nginx+portcullis / nginx+validator', 1]);
    expect(s.ratios[1]!.slice(0, 2)).toEqual(['nginx+portcullis / haproxy', 2]);
    const table = forwardAuthTables(s, {}, DEFAULT_LOAD_FLAGS, 'RS256', []);
    expect(table).toContain('| nginx+portcullis | yes: the next request after POST /revocations got 401 |');
    expect(table).toContain(`| nginx+validator | no: the validator has no revocation, and its verdict is cached ${VALIDATOR_CACHE_TTL_S} s |`);
    expect(forwardAuthTables(summariseForwardAuth(closed, { 'nginx+portcullis': false, portcullis: null }), {}, DEFAULT_LOAD_FLAGS, 'RS256', []))
      .toContain('| nginx+portcullis | NO: the next request still passed |');
  });

  it('reference rows: the ceiling ratio, CPU per verdict above the floor and saved against the other build (like for like)', () => {
    const cpu = (rps: number, us: number): LoadResult => ({ ...run(rps), cpuUsPerReq: us });
    const closed = {
      'nginx+portcullis': [run(800), run(800)], 'nginx+validator': [run(1000), run(1000)], 'nginx+zero': [run(900), run(900)],
      'decision-only': [cpu(3000, 30), cpu(3000, 32)], 'uws-floor': [cpu(6000, 18), cpu(6000, 18)],
      'decision-after': [cpu(3000, 27), cpu(3000, 28)], 'decision-before': [cpu(3000, 29), cpu(3000, 31)],
    };
    const s = summariseForwardAuth(closed, {});
    expect(s.ratios.map((r) => r[0])).toEqual(['nginx+portcullis / nginx+validator', 'nginx+zero / nginx+validator', 'nginx+portcullis / nginx+zero', 'decision-after / decision-before']);
    expect(s.ratios[1]![1]).toBeCloseTo(0.9);
    expect(s.cpuOverFloorUs).toBe(13);
    expect(s.cpuSavedUs).toBe(2.5);
    const table = forwardAuthTables(s, {}, DEFAULT_LOAD_FLAGS, 'RS256', []);
    expect(table).toContain('above a bare uWS 200 (decision-only − uws-floor, median of per-round differences): 13.0; saved against the other build (decision-before − decision-after): 2.5');
    expect(table).toContain('| nginx+zero | n/a: decides nothing (reference point) |');
  });
});
