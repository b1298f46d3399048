// What a reload keeps of a replaced component's stats: every counter (the exported sums never go
// down), no gauge. The carried keys are checked against the metric table, so a counter added to a
// component's stats later is carried or this fails.
import { describe, expect, it } from 'vitest';
import { COMPONENT_FAMILIES, mapKey } from '../../../node/metrics/index.js';
import { RetiredCounters } from '../../../node/retired-counters.js';
import { INTROSPECTION_GAUGES } from '../../../node/introspection/introspection-client.js';
import { ZERO_STATS } from '../../../node/introspection/introspection-set.js';
import { validateConfig } from '../../../node/config/index.js';
import { poolStats, UPSTREAM_GAUGES, UpstreamPool } from '../../../node/upstream/upstream-pool.js';

function familyType(key: string): string {
  const m = mapKey(key);
  if (m === null || m === 'elsewhere') return `unmapped ${key}`;
  return COMPONENT_FAMILIES.get(m.family)?.type ?? `no family for ${key}`;
}

describe('RetiredCounters', () => {
  it('introspection: every stats key that is a Prometheus counter is carried, every gauge is not', () => {
    for (const k of Object.keys(ZERO_STATS) as (keyof typeof ZERO_STATS)[]) {
      expect([k, familyType(`introspection.${k}`)]).toEqual([k, INTROSPECTION_GAUGES.has(k) ? 'gauge' : 'counter']);
    }
  });

  it('upstream pools: every pool stats key that is a Prometheus counter is carried, every gauge is not', async () => {
    const r = validateConfig({ upstreams: { app: { targets: ['http://127.0.0.1:9'], pipelining: 2 } }, routes: [{ name: 'a', match: { path: '/*' }, upstream: 'app', auth: 'none' }] });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const up = new UpstreamPool('app', r.config.upstreams.app!);
    try {
      for (const k of Object.keys(poolStats(up))) expect([k, familyType(`upstream.app_${k}`)]).toEqual([k, UPSTREAM_GAUGES.has(k) ? 'gauge' : 'counter']);
    } finally { await up.close(); }
  });

  it('keeps a retired component counting while it drains, then its last values; gauges never', async () => {
    const stats = { calls: 2, entries: 5 };
    let drained!: () => void;
    const r = new RetiredCounters<typeof stats>(new Set(['entries']));
    r.retire({ stats: () => ({ ...stats }) }, new Promise<void>((res) => { drained = res; }));
    stats.calls = 3; // an answer while draining
    const out = { calls: 10, entries: 1 };
    r.addTo(out);
    expect(out).toEqual({ calls: 13, entries: 1 });
    drained();
    await Promise.resolve();
    stats.calls = 99; // closed: no longer read
    const after = { calls: 0, entries: 0 };
    r.addTo(after);
    expect(after).toEqual({ calls: 3, entries: 0 });
  });
});
