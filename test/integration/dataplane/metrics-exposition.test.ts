// What a Prometheus server scrapes from a real proxy after allowed, denied and failed
// requests: text promtool accepts (valid and lint-clean), the families an operator
// alerts on with the right types and values, and no catch-all or unmapped series.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { parseExposition, sampleValue } from '../../../node/metrics/index.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { familyTypes, promtoolCheck } from '../../helpers/promtool.js';
import { readmeFamilies, scrapedLabels } from '../../helpers/readme-metrics.js';
import { asIssuer, bearer, call, metrics, waitReady } from '../auth/tokens-helpers.js';
import { forgeSignature } from '../../fixtures/tokens.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let text = '';
let token = '';

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as) },
    // port 1 on loopback: nothing listens, every connect is refused
    upstreams: { app: { targets: [echo.url] }, dead: { targets: ['http://127.0.0.1:1'] } },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'dead', match: { path: '/dead/*' }, upstream: 'dead', auth: 'none' },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
  expect((await call(`${proxy.url}/orders/1`, { headers: bearer(token) })).status).toBe(200);
  expect((await call(`${proxy.url}/orders/2`, { headers: bearer(token) })).status).toBe(200);
  expect((await call(`${proxy.url}/orders/3`)).status).toBe(401);
  expect((await call(`${proxy.url}/orders/4`, { headers: bearer(forgeSignature(token)) })).status).toBe(401);
  expect((await call(`${proxy.url}/dead/1`)).status).toBe(502);
  text = await metrics(proxy, ADMIN_TOKEN);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('GET /metrics', () => {
  it('is Prometheus text that promtool accepts without a lint problem', () => {
    const r = promtoolCheck(text);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('carries the families an operator alerts on, with their types', () => {
    const types = familyTypes(text);
    const want: Record<string, string> = {
      portcullis_requests_total: 'counter',
      portcullis_request_duration_seconds: 'histogram',
      portcullis_auth_decisions_total: 'counter',
      portcullis_upstream_errors_total: 'counter',
      portcullis_inflight_requests: 'gauge',
      portcullis_upstream_connections: 'gauge',
      portcullis_upstream_ejections_total: 'counter',
      portcullis_jwks_fetches_total: 'counter',
      portcullis_jwt_cache_lookups_total: 'counter',
      portcullis_verifier_pool_failures_total: 'counter',
      portcullis_jwt_verify_failures_total: 'counter',
      portcullis_introspection_calls_total: 'counter',
      portcullis_revocations_degraded: 'gauge',
      portcullis_bus_connected: 'gauge',
      portcullis_process_resident_memory_bytes: 'gauge',
      portcullis_metrics_unmapped_keys: 'gauge',
    };
    for (const [name, type] of Object.entries(want)) expect(types.get(name), name).toBe(type);
    // counters and only counters end in _total
    for (const [name, type] of types) expect(name.endsWith('_total'), `${name} (${type})`).toBe(type === 'counter');
  });

  it('counts what happened: allowed, denied, the upstream failure, the histogram, the JWKS fetch', () => {
    expect(sampleValue(text, 'portcullis_requests_total', { route: 'orders', status: '200' })).toBe(2);
    expect(sampleValue(text, 'portcullis_requests_total', { route: 'orders', status: '401' })).toBe(2);
    expect(sampleValue(text, 'portcullis_requests_total', { route: 'dead', status: '502' })).toBe(1);
    expect(sampleValue(text, 'portcullis_auth_decisions_total', { decision: 'allowed', reason: '' })).toBe(2);
    expect(sampleValue(text, 'portcullis_auth_decisions_total', { decision: 'denied', reason: 'no_token' })).toBe(1);
    expect(sampleValue(text, 'portcullis_auth_decisions_total', { decision: 'denied', reason: 'bad_signature' })).toBe(1);
    expect(sampleValue(text, 'portcullis_jwt_verify_failures_total', { code: 'bad_signature' })).toBe(1);
    const deadErrors = parseExposition(text).filter((s) => s.name === 'portcullis_upstream_errors_total' && s.labels.upstream === 'dead');
    expect(deadErrors.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(1);
    expect(sampleValue(text, 'portcullis_request_duration_seconds_count', { route: 'orders' })).toBe(4);
    expect(sampleValue(text, 'portcullis_request_duration_seconds_bucket', { route: 'orders', le: '+Inf' })).toBe(4);
    expect(sampleValue(text, 'portcullis_jwks_fetches_total', { issuer: 'demo', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(text, 'portcullis_jwt_cache_lookups_total', { result: 'hit' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(text, 'portcullis_upstream_connections', { upstream: 'app' })).toBeGreaterThanOrEqual(0);
    expect(sampleValue(text, 'portcullis_process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(sampleValue(text, 'portcullis_issuer_keys_ready', { issuer: 'demo' })).toBe(1);
  });

  it('prints exactly the README Metrics tables\' families (but the --workers ones), each with its documented type and labels', () => {
    const types = familyTypes(text);
    const documented = readmeFamilies();
    expect(documented.size).toBeGreaterThan(200);
    const problems: string[] = [];
    for (const [name, type] of types) {
      const doc = documented.get(name);
      if (doc === undefined) problems.push(`${name} (${type}): in /metrics, not in the README`);
      else if (doc.type !== type) problems.push(`${name}: README says ${doc.type}, /metrics ${type}`);
    }
    for (const [name, doc] of documented) if (!doc.workersOnly && !types.has(name)) problems.push(`${name}: in the README, not in /metrics`);
    // families with samples here carry exactly the labels the README names (labels are what queries select on)
    for (const [name, labels] of scrapedLabels(text, types)) {
      const doc = documented.get(name);
      if (doc !== undefined && labels.join() !== doc.labels.join()) problems.push(`${name}: README labels [${doc.labels.join()}], /metrics [${labels.join()}]`);
    }
    expect(problems).toEqual([]);
  });

  it('has no catch-all family, nothing unmapped, and no credential', () => {
    expect(text).not.toContain('portcullis_component_value');
    expect(text).not.toMatch(/^portcullis_unmapped_value/m);
    expect(sampleValue(text, 'portcullis_metrics_unmapped_keys')).toBe(0);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[2]!);
  });
});
