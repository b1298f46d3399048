// The --workers primary's own component values (cluster policy) merged into the workers'
// aggregated exposition: under the family's existing HELP/TYPE, labelled and scaled by the
// family table, appended whole when the workers print no such family; never a second TYPE line.
import { describe, expect, it } from 'vitest';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import { mergeComponentValues } from '../../../node/metrics/index.js';

const workers = [
  '# HELP portcullis_policy_version Cluster policy version this member applies (0: none yet)',
  '# TYPE portcullis_policy_version gauge',
  '# HELP portcullis_policy_refusals_total Cluster policy versions not applied here, by reason',
  '# TYPE portcullis_policy_refusals_total counter',
  '# HELP portcullis_requests_total Requests',
  '# TYPE portcullis_requests_total counter',
  'portcullis_requests_total{route="api",status="200"} 5',
  '',
].join('\n');

describe('mergeComponentValues', () => {
  it('puts each value under its family with its labels and unit; one TYPE line per family', () => {
    const out = mergeComponentValues(workers, { 'policy.version': 7, 'policy.refusals.environment': 2, 'policy.propagation_ms': 40 });
    expect(out).toMatch(/# TYPE portcullis_policy_version gauge\nportcullis_policy_version 7\n/);
    expect(out).toMatch(/# TYPE portcullis_policy_refusals_total counter\nportcullis_policy_refusals_total\{reason="environment"\} 2\n/);
    // a family the workers did not print: appended with HELP and TYPE, ms → s
    expect(out).toMatch(/# HELP portcullis_policy_propagation_seconds .+\n# TYPE portcullis_policy_propagation_seconds gauge\nportcullis_policy_propagation_seconds 0\.04\n$/);
    for (const f of ['portcullis_policy_version', 'portcullis_policy_refusals_total', 'portcullis_policy_propagation_seconds']) {
      expect(out.match(new RegExp(`^# TYPE ${f} `, 'gm'))).toHaveLength(1);
    }
    expect(out).not.toMatch(/portcullis_policy_policy_/);
    expect(out).toContain('portcullis_requests_total{route="api",status="200"} 5');
  });

  it('adds to a sample the workers already print (same name and labels) instead of a second copy of the series', () => {
    const withSamples = [
      '# HELP portcullis_revocations_published_total Revocations this process published',
      '# TYPE portcullis_revocations_published_total counter',
      'portcullis_revocations_published_total 2',
      '# HELP portcullis_revocations_unpersisted Revocations in the outbox not yet acknowledged by the stream',
      '# TYPE portcullis_revocations_unpersisted gauge',
      'portcullis_revocations_unpersisted 0',
      '# HELP portcullis_revocations_caught_up 1 once the revocation stream is replayed (the lowest over workers)',
      '# TYPE portcullis_revocations_caught_up gauge',
      'portcullis_revocations_caught_up 1',
      '',
    ].join('\n');
    const out = mergeComponentValues(withSamples, { 'cluster.revocations_published_total': 3, 'cluster.revocations_unpersisted': 4, 'cluster.revocations_caught_up': 0 });
    expect(out.match(/^portcullis_revocations_published_total /gm)).toHaveLength(1);
    expect(out).toMatch(/^portcullis_revocations_published_total 5$/m); // a counter: summed
    expect(out).toMatch(/^portcullis_revocations_unpersisted 4$/m); // an additive gauge: summed
    expect(out).toMatch(/^portcullis_revocations_caught_up 0$/m); // a gauge of the lowest: the lowest
  });

  it('a gauge averaged over workers (aggregator average) takes the primary as one more process, not summed into the average', async () => {
    // two workers' registries as `serve --workers 2` aggregates them: the family declared with aggregator 'average'
    const worker = async (v: number): Promise<Awaited<ReturnType<Registry['getMetricsAsJSON']>>> => {
      const r = new Registry();
      new Gauge({ name: 'portcullis_verifier_pool_utilization_ratio', help: 'Verifier pool utilization 0..1 (average over workers)', aggregator: 'average', registers: [r] }).set(v);
      return r.getMetricsAsJSON();
    };
    const aggregated = await AggregatorRegistry.aggregate([await worker(0.5), await worker(0.7)]).metrics();
    expect(aggregated).toMatch(/^portcullis_verifier_pool_utilization_ratio 0\.6$/m);
    const out = mergeComponentValues(aggregated, { 'jwt.pool_utilization': 0.3 }, 2);
    expect(out.match(/^portcullis_verifier_pool_utilization_ratio /gm)).toHaveLength(1);
    // (0.5 + 0.7 + 0.3) / 3; before: 0.6 + 0.3 = 0.9, a utilization no process had
    expect(Number(/^portcullis_verifier_pool_utilization_ratio (\S+)$/m.exec(out)?.[1])).toBeCloseTo(0.5, 10);
  });

  it('a key without a family lands in portcullis_unmapped_value, named by its labels', () => {
    expect(mergeComponentValues('', { 'policy.something_new': 1 })).toMatch(/^portcullis_unmapped_value\{component="policy",name="something_new"\} 1$/m);
  });
});
