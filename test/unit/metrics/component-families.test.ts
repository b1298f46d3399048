// Every counter a component reports (addSource: `{ "component.name": value }`) has a
// Prometheus family in node/metrics/component-families.ts: a new counter without one fails
// here with its name. The keys come from real components: a proxy instance in this process
// with every optional part switched on (introspection, token exchange, client credentials,
// internal tokens, WebSockets, a revocation snapshot), its local cluster member, and the
// bus transports the instance does not use in this mode.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { IpcHubTransport, NatsTransport } from '../../../cluster/index.js';
import { startMember } from '../../../cluster/process/member-wiring.js';
import { validateConfig, formatProblems } from '../../../node/config/index.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ProxyInstance } from '../../../node/instance.js';
import { COMPONENT_FAMILIES, mapKey, parseExposition, RequestMetrics, sourceValues, UNMAPPED_COUNT_FAMILY, UNMAPPED_FAMILY } from '../../../node/metrics/index.js';
import { InlineSigner } from '../../../node/s2s/token-signer.js';
import { ROOT } from '../../helpers/proxy-process.js';
import { readmeFamilies } from '../../helpers/readme-metrics.js';
import { removeTempDirs, tempDir } from '../../helpers/temp-dirs.js';
import { forgeSignature } from '../../fixtures/tokens.js';

const logger = pino({ level: 'silent' });
let as: AuthServer;
let echo: EchoUpstream;
let inst: ProxyInstance;
let member: Awaited<ReturnType<typeof startMember>>;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream({ name: 'echo' })]);
  process.env.PT_METRICS_SECRET = 'portcullis-secret';
  const v = validateConfig({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 } },
    issuers: {
      demo: {
        issuer: as.issuer, audiences: ['portcullis-demo'],
        introspection: { client_id: 'portcullis', client_secret_env: 'PT_METRICS_SECRET' },
        token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_METRICS_SECRET' },
      },
    },
    upstreams: {
      echo: { targets: [echo.url] },
      billing: { targets: [echo.url], client_credentials: { issuer: 'demo', client_id: 'demo-client', client_secret_env: 'PT_METRICS_SECRET' } },
    },
    routes: [
      { name: 'internal', match: { path: '/internal/*' }, upstream: 'echo', auth: {}, forward: { token: 'internal' } },
      { name: 'exchange', match: { path: '/exchange/*' }, upstream: 'echo', auth: {}, forward: { token: 'exchange' } },
      { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none' },
      { name: 'chat', match: { path: '/ws/*' }, upstream: 'echo', websocket: true, auth: {} },
    ],
    internal_tokens: { issuer: 'http://127.0.0.1:1', max_ttl_s: 300 },
    cluster: { revocation: { snapshot_file: join(tempDir(), 'revocations.snapshot') } },
    log: { level: 'silent', access: false },
    verifier: { pool_size: 1 },
  });
  if (!v.ok) throw new Error(formatProblems(v.errors));
  member = await startMember(v.config, logger, 'single');
  inst = await ProxyInstance.start({ config: v.config, logger, admin: false, ...member.instance });
  expect(await inst.whenAuthReady(20_000)).toBe(true);
}, 60_000);

afterAll(async () => {
  await inst?.shutdown();
  await member?.node.close();
  await Promise.all([as?.close(), echo?.close()]);
  delete process.env.PT_METRICS_SECRET;
  removeTempDirs();
});

describe('component metric families', () => {
  it('map every key the components report', async () => {
    // keys that appear only once something happened: a refused token (jwt.verify_failed_<code>)
    const forged = forgeSignature(await as.issueJwt({ sub: 'alice' }));
    const r = await fetch(`http://127.0.0.1:${inst.port}/internal/x`, { headers: { authorization: `Bearer ${forged}` } });
    expect(r.status).toBe(401);
    await r.arrayBuffer();
    const keys = Object.keys(inst.metrics.sourceValues());
    expect(keys.filter((k) => k.startsWith('jwt.verify_failed_'))).not.toEqual([]);
    // the transports this mode does not use, and the inline signer
    const nats = new NatsTransport({ connection: { servers: ['nats://127.0.0.1:1'] } });
    const hub = new IpcHubTransport();
    try {
      for (const k of Object.keys({ ...nats.stats(), ...hub.stats() })) keys.push(`cluster.${k}`);
    } finally {
      await Promise.all([nats.close(), hub.close()]);
    }
    for (const k of Object.keys(new InlineSigner().stats())) keys.push(`internal_tokens.${k}`);
    // the optional parts are really there (else this test would prove little)
    for (const prefix of ['jwt.', 'introspection.', 'dpop.', 'internal_tokens.', 'token_exchange.', 'client_credentials.', 'token_endpoint.', 'cluster.revocation_snapshot', 'websocket.', 'listener.', 'process.', 'upstream.billing_', 'issuer.demo_keys_ready', 'issuer.demo_introspection_ready', 'jwt.jwks.demo.fetch_ok']) {
      expect(keys.some((k) => k.startsWith(prefix)), prefix).toBe(true);
    }
    expect(keys.filter((k) => mapKey(k) === null)).toEqual([]);
  });

  it('export no catch-all: a scrape has no unmapped value and counts none', async () => {
    const text = await inst.metrics.text();
    const samples = parseExposition(text);
    expect(samples.filter((s) => s.name === UNMAPPED_FAMILY)).toEqual([]);
    expect(samples.find((s) => s.name === UNMAPPED_COUNT_FAMILY)?.value).toBe(0);
    expect(text).not.toContain('portcullis_component_value');
    expect(samples.find((s) => s.name === 'portcullis_upstream_connections' && s.labels.upstream === 'billing')).toBeDefined();
  });

  it('name counters *_total and nothing else, and give every family a help text', () => {
    for (const f of COMPONENT_FAMILIES.values()) {
      expect(f.name.endsWith('_total'), f.name).toBe(f.type === 'counter');
      expect(f.name).toMatch(/^portcullis_[a-z0-9_]+$/);
      expect(f.help.length, f.name).toBeGreaterThan(10);
    }
  });

  it('export a key it does not know under the fallback family, and count it', async () => {
    const m = new RequestMetrics();
    m.addSource(() => ({ 'newthing.widgets_made_total': 4, 'jwt.cache_hits': 2 }));
    const text = await m.text();
    expect(text).toContain('portcullis_unmapped_value{component="newthing",name="widgets_made_total"} 4');
    expect(text).toMatch(/^portcullis_metrics_unmapped_keys 1$/m);
    expect(text).toMatch(/^portcullis_jwt_cache_lookups_total\{result="hit"\} 2$/m);
  });

  it('read back a component\'s own values, in its own units, from the families', async () => {
    const m = new RequestMetrics();
    m.addSource(() => ({ 'cluster.revocation_propagation_ms_bucket_le_0.5': 3, 'cluster.revocation_propagation_ms_bucket_le_inf': 4, 'cluster.revocation_propagation_ms_sum': 7.5, 'cluster.bus_disconnected_ms': 1500, 'cluster.revocations_behind_ms': -1, 'upstream.a_b_pending': 2 }));
    const text = await m.text();
    expect(text).toContain('portcullis_revocation_propagation_seconds_bucket{le="0.0005"} 3');
    expect(text).toContain('portcullis_revocation_propagation_seconds_bucket{le="+Inf"} 4');
    expect(text).toContain('portcullis_bus_disconnected_seconds 1.5');
    expect(text).toContain('portcullis_revocations_behind_seconds -1');
    expect(sourceValues(text, 'cluster')).toMatchObject({ 'revocation_propagation_ms_bucket_le_0.5': 3, revocation_propagation_ms_bucket_le_inf: 4, revocation_propagation_ms_sum: 7.5, bus_disconnected_ms: 1500, revocations_behind_ms: -1 });
    expect(sourceValues(text, 'upstream')).toEqual({ a_b_pending: 2 });
  });

  it('label JWKS counters by issuer (a dotted issuer name too) and leave the all-issuer totals to /cache/stats', async () => {
    const m = new RequestMetrics();
    m.addSource(() => ({ 'jwt.jwks_fetch_ok': 5, 'jwt.jwks.a.b.fetch_ok': 3, 'jwt.jwks.c.fetch_failed': 2, 'jwt.jwks.c.keys_refused': 1 }));
    const text = await m.text();
    expect(text).toContain('portcullis_jwks_fetches_total{issuer="a.b",outcome="ok"} 3');
    expect(text).toContain('portcullis_jwks_fetches_total{issuer="c",outcome="failed"} 2');
    expect(text).toContain('portcullis_jwks_keys_refused_total{issuer="c"} 1');
    expect(text).toMatch(/^portcullis_metrics_unmapped_keys 0$/m);
    expect(text).not.toContain(' 5\n');
    expect(sourceValues(text, 'jwt')).toEqual({ 'jwks.a.b.fetch_ok': 3, 'jwks.c.fetch_failed': 2, 'jwks.c.keys_refused': 1 });
  });
});

describe('README', () => {
  it('documents every component family in its Metrics table', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Metrics\n'), readme.indexOf('\n## ', readme.indexOf('\n## Metrics\n') + 1));
    const missing = [...COMPONENT_FAMILIES.keys(), UNMAPPED_FAMILY, UNMAPPED_COUNT_FAMILY].filter((n) => !section.includes(`| \`${n}\` |`));
    expect(missing).toEqual([]);
  });

  it('gives every component family the type and labels the registry exports it with (families with no sample in a scrape too)', () => {
    const documented = readmeFamilies();
    const wrong = [...COMPONENT_FAMILIES.values()].flatMap((f) => {
      const doc = documented.get(f.name);
      if (doc === undefined) return [];
      const labels = [...f.labels].sort();
      return doc.type === f.type && doc.labels.join() === labels.join() ? [] : [`${f.name}: README ${doc.type} [${doc.labels.join()}], registry ${f.type} [${labels.join()}]`];
    });
    expect(wrong).toEqual([]);
  });
});
