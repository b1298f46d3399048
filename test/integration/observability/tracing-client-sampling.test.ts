// What a client's trace context can make the proxy record, against real processes (the CLI, the
// demo echo upstream, a real OTLP/HTTP receiver): the client chooses the sampled flag and the
// trace id, so beyond sample_ratio it gets at most `tracing.client_sampled_per_second` requests
// recorded — unauthenticated and refused ones included; the rest are propagated unsampled.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_TOKEN } from '../../helpers/proxy-process.js';
import { startOtlpCollector } from '../../helpers/otlp-collector.js';
import { call, echoed, metrics, sample } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
const BUDGET = 5; // client_sampled_per_second in these tests

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

/** Send `n` requests with the traceparent `tp(i)`: odd ones to a route (forwarded), even ones to no route (404). */
async function flood(url: string, n: number, tp: (i: number) => string): Promise<{ forwardedFlags: string[]; seconds: number; ids: string[] }> {
  const forwardedFlags: string[] = [];
  const ids: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const v = tp(i);
    ids.push(v.slice(3, 35));
    if (i % 2 === 1) {
      const m = TRACEPARENT_RE.exec(echoed(await call(`${url}/open/${i}`, { headers: { traceparent: v } })).headers.traceparent!)!;
      forwardedFlags.push(m[3]!);
    } else {
      expect((await call(`${url}/nowhere/${i}`, { headers: { traceparent: v } })).status).toBe(404);
    }
  }
  return { forwardedFlags, seconds: (performance.now() - t0) / 1000, ids };
}

const config = (collector: string, extra: Record<string, unknown>): Record<string, unknown> => baseConfig(echo.url, {
  routes: [{ name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' }],
  tracing: { enabled: true, endpoint: collector, batch: { max_spans: 64, interval_ms: 50 }, sample_ratio: 0, client_sampled_per_second: BUDGET, ...extra },
});

// each case has a collector and a proxy of its own (the budget is per proxy): they run side by side
describe.concurrent('a client cannot have every request recorded', () => {
  for (const mode of ['sampled flag (parent_based)', 'trace id in the ratio (parent_based: false)'] as const) {
    it(`${mode}: at most the budget is recorded and exported, the rest propagate unsampled`, async () => {
      const c = await startOtlpCollector();
      const byFlag = mode.startsWith('sampled');
      // parent_based off: the ratio is read on the trace id the client chose (leading zeros: inside 0.01 %)
      const p = await startProxy(config(c.url, byFlag ? {} : { parent_based: false, sample_ratio: 0.0001 }));
      try {
        const n = 200;
        const { forwardedFlags, seconds, ids } = await flood(p.url, n, (i) => (byFlag
          ? `00-${randomBytes(16).toString('hex')}-${PARENT}-01`
          : `00-000000000${String(i).padStart(3, '0')}${randomBytes(10).toString('hex')}-${PARENT}-00`));
        // one second of burst plus the refill while it ran (+1: the proxy's own 0.01 % draw may add one)
        const allowed = Math.floor(BUDGET + BUDGET * seconds) + 1;
        const text = await metrics(p, ADMIN_TOKEN);
        const sampled = sample(text, 'portcullis_tracing_traces_total{decision="sampled"}') ?? 0;
        const limited = sample(text, 'portcullis_tracing_client_sampling_limited_total') ?? 0;
        expect(sampled, `${n} requests asked in ${seconds.toFixed(2)} s`).toBeLessThanOrEqual(allowed);
        expect(sampled, 'the burst is honoured').toBeGreaterThanOrEqual(BUDGET);
        expect(sampled + limited).toBe(n);
        // what the upstream got says the same: flag 01 only for recorded ones
        expect(forwardedFlags.filter((f) => f === '01').length).toBeLessThanOrEqual(sampled);
        expect(forwardedFlags.filter((f) => f === '00').length).toBeGreaterThanOrEqual(n / 2 - allowed);
        // and the collector receives exactly the recorded traces
        await waitFor('new Set(c.spans.map((s) => s.traceId)).size >= sampled', () => new Set(c.spans.map((s) => s.traceId)).size >= sampled, 5_000);
        await new Promise((r) => setTimeout(r, 200));
        const exported = new Set(c.spans.map((s) => s.traceId));
        expect(exported.size).toBe(sampled);
        expect([...exported].every((t) => ids.includes(t))).toBe(true);
      } finally {
        await p.stop();
        await c.close();
      }
    });
  }

  it('a budget of 0: a client\'s sampled flag records nothing beyond the ratio, not even the first', async () => {
    const c = await startOtlpCollector();
    const p = await startProxy(config(c.url, { client_sampled_per_second: 0 }));
    try {
      const { forwardedFlags } = await flood(p.url, 20, () => `00-${randomBytes(16).toString('hex')}-${PARENT}-01`);
      expect(forwardedFlags.every((f) => f === '00')).toBe(true);
      const text = await metrics(p, ADMIN_TOKEN);
      expect(sample(text, 'portcullis_tracing_traces_total{decision="sampled"}') ?? 0).toBe(0);
      expect(sample(text, 'portcullis_tracing_client_sampling_limited_total')).toBe(20);
    } finally {
      await p.stop();
      await c.close();
    }
  });

  it('sample_ratio 1 (the default) still records every request, whatever the budget', async () => {
    const c = await startOtlpCollector();
    const p = await startProxy(config(c.url, { sample_ratio: 1 }));
    try {
      const { forwardedFlags } = await flood(p.url, 40, () => `00-${randomBytes(16).toString('hex')}-${PARENT}-01`);
      expect(forwardedFlags.every((f) => f === '01')).toBe(true);
      const text = await metrics(p, ADMIN_TOKEN);
      expect(sample(text, 'portcullis_tracing_traces_total{decision="sampled"}')).toBe(40);
      expect(sample(text, 'portcullis_tracing_client_sampling_limited_total')).toBe(0);
    } finally {
      await p.stop();
      await c.close();
    }
  });
});
