// Tracing as an operator sees it, against real processes: the proxy as the CLI starts it, the
// demo authorization server and echo upstream, and a real OTLP/HTTP receiver that decodes the
// exported JSON. W3C trace context reaches the upstream with a new span id per hop, spans link
// parent to child with their attributes, a malformed traceparent starts a fresh trace and is not
// forwarded, sampling follows the parent or the ratio, and a dead collector costs nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { attr, startOtlpCollector, type OtlpCollector, type OtlpSpan } from '../../helpers/otlp-collector.js';
import { promtoolCheck } from '../../helpers/promtool.js';
import { SECRET_ENV, asIssuer, bearer, call, echoed, introspection, metrics, sample, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let collector: OtlpCollector;
let proxy: ProxyProcess;

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const COLLECTOR_AUTH = 'Bearer collector-secret-value';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

const routes = [
  { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
  { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' },
];

function tracing(endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { enabled: true, endpoint, batch: { max_spans: 64, interval_ms: 50 }, ...extra };
}

const spansOf = (c: OtlpCollector, traceId: string): OtlpSpan[] => c.spans.filter((s) => s.traceId === traceId);
const byName = (spans: OtlpSpan[], name: string): OtlpSpan | undefined => spans.find((s) => s.name === name);
const accessLine = (p: ProxyProcess, path: string): Record<string, unknown> | undefined => p.logs().find((l) => l.msg === 'request' && l.path === path);

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  collector = await startOtlpCollector();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { introspection: introspection() }) },
    routes,
    tracing: tracing(collector.url, { service_name: 'edge-proxy', headers: [{ name: 'Authorization', value_env: 'PT_OTLP_AUTH' }] }),
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV, PT_OTLP_AUTH: COLLECTOR_AUTH } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await collector?.close();
  await echo?.close();
  await as?.close();
});

describe('trace context to the upstream', () => {
  it('keeps the client trace, sends a new span id, keeps a valid tracestate', async () => {
    const r = await call(`${proxy.url}/open/a`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc,other=x1' } });
    const seen = echoed(r).headers;
    const m = TRACEPARENT_RE.exec(seen.traceparent!);
    expect(m, seen.traceparent).not.toBeNull();
    expect(m![1]).toBe(TRACE);
    expect(m![2]).not.toBe(PARENT);
    expect(m![3]).toBe('01');
    expect(seen.tracestate).toBe('vendor=abc,other=x1');
    // the access log line names the trace
    await waitFor("accessLine(proxy, '/open/a') !== undefined", () => accessLine(proxy, '/open/a') !== undefined, 10_000);
    expect(accessLine(proxy, '/open/a')!.trace_id).toBe(TRACE);
  });

  it('starts a fresh trace for a malformed traceparent and never forwards it as is', async () => {
    for (const bad of [`00-${TRACE}-${PARENT}-1`, `00-${'0'.repeat(32)}-${PARENT}-01`, `ff-${TRACE}-${PARENT}-01`, `00-${TRACE.toUpperCase()}-${PARENT}-01`, 'garbage', `00-${TRACE}-${PARENT}-01-extra`]) {
      const r = await call(`${proxy.url}/open/bad`, { headers: { traceparent: bad, tracestate: 'vendor=abc' } });
      const seen = echoed(r).headers;
      const m = TRACEPARENT_RE.exec(seen.traceparent!);
      expect(m, `${bad} → ${seen.traceparent}`).not.toBeNull();
      expect(m![1]).not.toBe(TRACE);
      expect(seen.tracestate, 'tracestate belongs to the traceparent it came with').toBeUndefined();
    }
    const text = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(text, 'portcullis_tracing_traceparent_invalid_total')).toBeGreaterThanOrEqual(6);
  });

  it('drops an invalid tracestate but keeps the trace', async () => {
    const r = await call(`${proxy.url}/open/ts`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'UPPER=1' } });
    const seen = echoed(r).headers;
    expect(TRACEPARENT_RE.exec(seen.traceparent!)![1]).toBe(TRACE);
    expect(seen.tracestate).toBeUndefined();
  });

  it('gives a request without traceparent a new sampled trace', async () => {
    const r = await call(`${proxy.url}/open/fresh`);
    const m = TRACEPARENT_RE.exec(echoed(r).headers.traceparent!);
    expect(m![3]).toBe('01'); // sample_ratio 1
    await waitFor('spansOf(collector, m![1]!).length >= 2', () => spansOf(collector, m![1]!).length >= 2);
    const server = spansOf(collector, m![1]!).find((s) => s.kind === 2)!;
    expect(server.parentSpanId, 'a root span').toBeUndefined();
  });
});

describe('exported spans', () => {
  it('links request, stage and upstream spans with their attributes (JWT: miss, then hit)', async () => {
    const token = await as.issueJwt({ sub: 'alice' });
    const t1 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1';
    const t2 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2';
    const r1 = await call(`${proxy.url}/orders/1`, { headers: { ...bearer(token), traceparent: `00-${t1}-${PARENT}-01` } });
    const up1 = TRACEPARENT_RE.exec(echoed(r1).headers.traceparent!)!;
    await call(`${proxy.url}/orders/2`, { headers: { ...bearer(token), traceparent: `00-${t2}-${PARENT}-01` } });
    await waitFor('spansOf(collector, t1).length >= 6 && spansOf(collector, t2).length >= 5', () => spansOf(collector, t1).length >= 6 && spansOf(collector, t2).length >= 5);

    const s1 = spansOf(collector, t1);
    const server = s1.find((s) => s.kind === 2)!;
    expect(server.name).toBe('GET orders');
    expect(server.parentSpanId).toBe(PARENT);
    expect(server.service).toBe('edge-proxy');
    expect(attr(server, 'http.response.status_code')).toBe(200);
    expect(attr(server, 'http.route')).toBe('orders');
    expect(attr(server, 'portcullis.token.fingerprint')).toMatch(/^[0-9a-f]{16}$/);
    for (const name of ['extract', 'authenticate', 'revocation check', 'authorize']) {
      expect(byName(s1, name)?.parentSpanId, name).toBe(server.spanId);
    }
    const auth1 = byName(s1, 'authenticate')!;
    expect(attr(auth1, 'portcullis.token.cache')).toBe('miss');
    expect(attr(auth1, 'portcullis.token.kind')).toBe('jwt');
    // the check ran inline on the event loop (verifier.mode auto, an idle loop) or on the pool: a child span either way
    const check = byName(s1, 'verifier inline') ?? byName(s1, 'verifier pool');
    expect(check?.parentSpanId, 'a miss has a verifier span under authenticate').toBe(auth1.spanId);
    const upstream = s1.find((s) => s.kind === 3)!;
    expect(upstream.spanId, 'the span id the upstream got is the upstream call span').toBe(up1[2]);
    expect(upstream.parentSpanId).toBe(server.spanId);
    expect(attr(upstream, 'portcullis.upstream')).toBe('app');
    // times are epoch nanoseconds, children inside their parent
    const ns = (x: string): bigint => BigInt(x);
    expect(ns(server.startTimeUnixNano)).toBeGreaterThan(BigInt(Date.now() - 60_000) * 1_000_000n);
    expect(ns(upstream.startTimeUnixNano)).toBeGreaterThanOrEqual(ns(server.startTimeUnixNano));
    expect(ns(upstream.endTimeUnixNano)).toBeLessThanOrEqual(ns(server.endTimeUnixNano));

    const s2 = spansOf(collector, t2);
    expect(attr(byName(s2, 'authenticate')!, 'portcullis.token.cache')).toBe('hit');
    expect(byName(s2, 'verifier pool')).toBeUndefined();
    expect(byName(s2, 'verifier inline')).toBeUndefined();
    // no token or secret in any span
    expect(JSON.stringify(collector.spans)).not.toContain(token);
  });

  it('shows the introspection call under authenticate for an opaque token', async () => {
    const opaque = as.issueOpaque({ sub: 'bob' });
    const t = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1';
    expect((await call(`${proxy.url}/orders/o`, { headers: { ...bearer(opaque), traceparent: `00-${t}-${PARENT}-01` } })).status).toBe(200);
    await waitFor("byName(spansOf(collector, t), 'introspection') !== undefined", () => byName(spansOf(collector, t), 'introspection') !== undefined);
    const spans = spansOf(collector, t);
    const auth = byName(spans, 'authenticate')!;
    expect(attr(auth, 'portcullis.token.kind')).toBe('opaque');
    expect(byName(spans, 'introspection')!.parentSpanId).toBe(auth.spanId);
    expect(byName(spans, 'introspection')!.kind).toBe(3);
    expect(JSON.stringify(collector.spans)).not.toContain(opaque);
  });

  it('marks a denial on its stage and the request span', async () => {
    const t = 'cccccccccccccccccccccccccccccc01';
    const r = await call(`${proxy.url}/orders/none`, { headers: { traceparent: `00-${t}-${PARENT}-01` } });
    expect(r.status).toBe(401);
    await waitFor('spansOf(collector, t).some((s) => s.kind === 2)', () => spansOf(collector, t).some((s) => s.kind === 2));
    const spans = spansOf(collector, t);
    const server = spans.find((s) => s.kind === 2)!;
    expect(attr(server, 'portcullis.deny_reason')).toBe('no_token');
    expect(attr(server, 'http.response.status_code')).toBe(401);
    expect(spans.some((s) => s.kind === 3), 'nothing forwarded, no upstream span').toBe(false);
    // the access line goes through pino's async destination: it may land after the span export
    await waitFor("accessLine(proxy, '/orders/none') !== undefined", () => accessLine(proxy, '/orders/none') !== undefined, 10_000);
    expect(accessLine(proxy, '/orders/none')!.trace_id).toBe(t);
  });

  it('traces requests refused before routing too, and logs their trace id', async () => {
    const t = 'dddddddddddddddddddddddddddddd01';
    expect((await call(`${proxy.url}/nowhere`, { headers: { traceparent: `00-${t}-${PARENT}-01` } })).status).toBe(404);
    await waitFor('spansOf(collector, t).length === 1', () => spansOf(collector, t).length === 1);
    expect(attr(spansOf(collector, t)[0]!, 'http.route')).toBe('(none)');
    await waitFor("accessLine(proxy, '/nowhere') !== undefined", () => accessLine(proxy, '/nowhere') !== undefined, 10_000);
    expect(accessLine(proxy, '/nowhere')!.trace_id).toBe(t);
  });

  it('follows an unsampled parent: trace headers forwarded with flag 00, no spans exported', async () => {
    const t = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeee01';
    const r = await call(`${proxy.url}/open/unsampled`, { headers: { traceparent: `00-${t}-${PARENT}-00` } });
    const m = TRACEPARENT_RE.exec(echoed(r).headers.traceparent!)!;
    expect(m[1]).toBe(t);
    expect(m[3]).toBe('00');
    await call(`${proxy.url}/open/after`); // a later sampled request flushes past it
    await waitFor("collector.spans.some((s) => attr(s, 'url.path') === '/open/after')", () => collector.spans.some((s) => attr(s, 'url.path') === '/open/after'), 10_000, { detail: () => 'the later request\'s span exported' });
    expect(spansOf(collector, t)).toEqual([]);
    await waitFor("accessLine(proxy, '/open/unsampled') !== undefined", () => accessLine(proxy, '/open/unsampled') !== undefined, 10_000);
    expect(accessLine(proxy, '/open/unsampled')!.trace_id).toBe(t);
  });

  it('sends the configured collector headers from the environment, and never logs them', async () => {
    expect(collector.requests).toBeGreaterThan(0);
    expect(collector.lastHeaders.authorization).toBe(COLLECTOR_AUTH);
    expect(proxy.output()).not.toContain('collector-secret-value');
    const cfg = writeConfig(baseConfig(echo.url, { tracing: { enabled: true, headers: [{ name: 'x-api-key', value_env: 'PT_UNSET_OTLP_KEY' }] } }));
    const r = await runCli(['check-config', cfg], ADMIN_ENV);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('tracing.headers[0].value_env');
  });

  it('passes promtool with the tracing families, counting exported spans', async () => {
    const text = await metrics(proxy, ADMIN_TOKEN);
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
    expect(sample(text, 'portcullis_tracing_spans_exported_total')).toBeGreaterThan(10);
    expect(sample(text, 'portcullis_tracing_exports_total{outcome="ok"}')).toBeGreaterThan(0);
    expect(sample(text, 'portcullis_tracing_traces_total{decision="not_sampled"}')).toBeGreaterThanOrEqual(1);
  });
});

describe('sampling ratio and a collector that fails', () => {
  it('ratio 0: new traces are propagated unsampled and nothing is exported', async () => {
    const c = await startOtlpCollector();
    const p = await startProxy(baseConfig(echo.url, { tracing: tracing(c.url, { sample_ratio: 0 }) }));
    try {
      for (let i = 0; i < 20; i++) {
        const m = TRACEPARENT_RE.exec(echoed(await call(`${p.url}/x${i}`)).headers.traceparent!)!;
        expect(m[3]).toBe('00');
      }
      // a sampled parent is still followed (parent-based)
      const t = 'ffffffffffffffffffffffffffffff01';
      await call(`${p.url}/parent`, { headers: { traceparent: `00-${t}-${PARENT}-01` } });
      await waitFor('spansOf(c, t).length >= 2', () => spansOf(c, t).length >= 2);
      expect(c.spans.every((s) => s.traceId === t)).toBe(true);
    } finally {
      await p.stop();
      await c.close();
    }
  });

  // the three collectors side by side: each case has a proxy and a collector of its own
  for (const mode of ['hang', 'fail', 'dead'] as const) {
    it.concurrent(`a collector that ${mode === 'hang' ? 'never answers' : mode === 'fail' ? 'answers 503' : 'is not listening'}: every request still served, spans dropped and counted`, async () => {
      const c = await startOtlpCollector(mode === 'dead' ? 'ok' : mode);
      const url = c.url;
      if (mode === 'dead') await c.close();
      const p = await startProxy(baseConfig(echo.url, { tracing: tracing(url, { max_queue_spans: 20, batch: { max_spans: 10, interval_ms: 20 }, timeout_ms: 60_000 }) }));
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 40; i++) statuses.push((await call(`${p.url}/r${i}`)).status);
        expect(statuses.every((s) => s === 200)).toBe(true);
        const dropped = async (): Promise<number> => {
          const text = await metrics(p, ADMIN_TOKEN);
          return (sample(text, 'portcullis_tracing_spans_dropped_total{reason="queue_full"}') ?? 0) + (sample(text, 'portcullis_tracing_spans_dropped_total{reason="export_failed"}') ?? 0);
        };
        await waitFor('(await dropped()) > 0', async () => (await dropped()) > 0, 5_000);
        const text = await metrics(p, ADMIN_TOKEN);
        if (mode === 'hang') expect(sample(text, 'portcullis_tracing_spans_dropped_total{reason="queue_full"}')).toBeGreaterThan(0);
        else expect(sample(text, 'portcullis_tracing_exports_total{outcome="failed"}')).toBeGreaterThan(0);
      } finally {
        await p.stop();
        if (mode !== 'dead') await c.close();
      }
    });
  }

  it('a collector that drips its answer forever: the export is cut at timeout_ms (a total bound) and the next one goes out', async () => {
    const c = await startOtlpCollector('drip');
    const p = await startProxy(baseConfig(echo.url, { tracing: tracing(c.url, { batch: { max_spans: 64, interval_ms: 20 }, timeout_ms: 300 }) }));
    try {
      expect((await call(`${p.url}/drip1`)).status).toBe(200);
      await waitFor('the first export reached the collector', () => c.requests >= 1, 5_000);
      c.mode = 'ok';
      const t = 'ffffffffffffffffffffffffffffff02';
      await call(`${p.url}/drip2`, { headers: { traceparent: `00-${t}-${PARENT}-01` } });
      // before: the dripped export never ended, and with one export in flight at a time nothing was exported again
      await waitFor('the next request\'s spans exported', () => spansOf(c, t).length >= 1, 5_000);
      expect(sample(await metrics(p, ADMIN_TOKEN), 'portcullis_tracing_exports_total{outcome="failed"}')).toBeGreaterThan(0);
    } finally {
      await p.stop();
      await c.close();
    }
  });
});

describe('with --workers', () => {
  it('every worker propagates and exports its own spans', async () => {
    const c = await startOtlpCollector();
    const p = await startProxy(baseConfig(echo.url, { tracing: tracing(c.url) }), { args: ['--workers', '2'], timeoutMs: 40_000 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const m = TRACEPARENT_RE.exec(echoed(await call(`${p.url}/w${i}`)).headers.traceparent!)!;
        ids.push(m[1]!);
      }
      await waitFor('ids.every((id) => spansOf(c, id).some((s) => s.kind === 2))', () => ids.every((id) => spansOf(c, id).some((s) => s.kind === 2)), 5_000);
      const text = await metrics(p, ADMIN_TOKEN);
      expect(sample(text, 'portcullis_tracing_traces_total{decision="sampled"}')).toBe(20);
    } finally {
      await p.stop();
      await c.close();
    }
  });
});

describe('tracing off (the default)', () => {
  it('forwards trace headers untouched and logs no trace id', async () => {
    const p = await startProxy(baseConfig(echo.url));
    try {
      const bad = 'not-a-traceparent';
      const seen = echoed(await call(`${p.url}/off`, { headers: { traceparent: bad, tracestate: 'a=b' } })).headers;
      expect(seen.traceparent).toBe(bad);
      expect(seen.tracestate).toBe('a=b');
      expect(echoed(await call(`${p.url}/off2`)).headers.traceparent).toBeUndefined();
      await waitFor("p.logs().some((l) => l.path === '/off2')", () => p.logs().some((l) => l.path === '/off2'));
      expect(p.logs().filter((l) => l.msg === 'request').every((l) => !('trace_id' in l))).toBe(true);
      // the section is read at start: a reload that turns it on says so and changes nothing
      writeFileSync(p.configPath, stringify(baseConfig(echo.url, { tracing: { enabled: true } })));
      const r = await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { restart_required?: unknown }).restart_required).toEqual(['tracing']);
      await waitFor("p.logs().some((l) => Array.isArray(l.restart_required) && l.restart_required.includes('tracing'))", () => p.logs().some((l) => Array.isArray(l.restart_required) && l.restart_required.includes('tracing')));
      expect(echoed(await call(`${p.url}/off3`)).headers.traceparent).toBeUndefined();
    } finally {
      await p.stop();
    }
  });
});
