// The scheduling spec of the cluster scenarios (`PORTCULLIS_BENCH_SCHED`): parsed per role,
// refused with the bad entry named, printed back for the report; and the table says which
// scheduling a run had. Applying it needs a process and CAP_SYS_NICE: the scenario does that.
import { describe, it, expect } from 'vitest';
import { parseSchedSpec, schedLabel } from '../../../bench/sched-priority.js';
import { breakdown, mergeHistograms, propagationTables, quantiles, summariseProber, DEFAULT_PROPAGATION_FLAGS, type PropagationSummary } from '../../../bench/revocation-propagation.bench.js';

describe('PORTCULLIS_BENCH_SCHED', () => {
  it('maps roles to nice values and FIFO priorities, and prints them back', () => {
    const s = parseSchedSpec('observer=fifo:10, nats=nice:-10,members=nice:5');
    expect([...s]).toEqual([['observer', { kind: 'fifo', priority: 10 }], ['nats', { kind: 'nice', value: -10 }], ['members', { kind: 'nice', value: 5 }]]);
    expect(schedLabel(s)).toBe('observer=fifo:10,nats=nice:-10,members=nice:5');
  });

  it('is the default when unset or empty', () => {
    expect(schedLabel(parseSchedSpec(undefined))).toBe('default');
    expect(parseSchedSpec('  ').size).toBe(0);
  });

  it('refuses unknown roles, policies and out-of-range values, naming the entry', () => {
    expect(() => parseSchedSpec('prober=nice:-5')).toThrow(/"prober=nice:-5"/);
    expect(parseSchedSpec('bench=fifo:10').get('bench')).toEqual({ kind: 'fifo', priority: 10 });
    expect(() => parseSchedSpec('nats=rr:5')).toThrow(/"nats=rr:5"/);
    expect(() => parseSchedSpec('nats=nice:-21')).toThrow(/nice -21 outside/);
    expect(() => parseSchedSpec('nats=fifo:0')).toThrow(/fifo priority 0 outside/);
  });

  it('is named in the scenario table', () => {
    const s: PropagationSummary = {
      prober: summariseProber([]), proberRtt: quantiles([]), breakdown: breakdown([]), proxies: [], proxiesMerged: mergeHistograms([]), load: null, loopDelay: [], foreignCores: 0,
    };
    expect(propagationTables(s, DEFAULT_PROPAGATION_FLAGS)).toMatch(/Scheduling: default\./);
    expect(propagationTables(s, { ...DEFAULT_PROPAGATION_FLAGS, sched: 'nats=fifo:10' })).toMatch(/Scheduling: nats=fifo:10\./);
  });
});
