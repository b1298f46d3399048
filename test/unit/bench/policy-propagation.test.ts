// The policy-propagation bench reads each member's stage timings from its "policy applied" log
// line: the line of the version asked for (not of a version whose number starts the same), every
// known stage it carries, nothing from other lines; and prints them as their own table.
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_PROPAGATION_FLAGS, policyPropagationTables, stagesOf, type PolicyPropagationSummary } from '../../../bench/policy-propagation.bench.js';
import { quantiles } from '../../../bench/revocation-propagation.bench.js';

const line = (o: Record<string, unknown>): string => JSON.stringify({ level: 30, msg: 'policy applied', ...o });

describe('policy-propagation bench: stage timings', () => {
  it('takes the stages of exactly the version asked for', () => {
    const out = [
      line({ version: 12, check_ms: 99 }),
      JSON.stringify({ msg: 'config reloaded', version: 3, check_ms: 50 }),
      line({ version: 3, delivery_ms: 4.2, check_ms: 2.5, prepare_ms: 1.1, loop_max_ms: 11, unrelated: 7 }),
      '{"msg":"policy applied","version":4,', // a partial line
    ].join('\n');
    expect(stagesOf(out, 3)).toEqual({ delivery_ms: 4.2, check_ms: 2.5, prepare_ms: 1.1, loop_max_ms: 11 });
    expect(stagesOf(out, 4)).toBeNull();
    expect(stagesOf(out, 1)).toBeNull();
  });

  it('prints a stage table with the stages measured, and the push → applied row from the put acknowledgement', () => {
    const q = quantiles([1, 2, 3]);
    const s: PolicyPropagationSummary = { ack: q, perMember: [q, q, q], slowest: q, slowestFromAck: q, stages: { check_ms: q, loop_max_ms: q }, notApplied: 0, windows: [], foreignCores: 0 };
    const table = policyPropagationTables(s, DEFAULT_POLICY_PROPAGATION_FLAGS);
    expect(table).toMatch(/\| every member applied, from the put acknowledgement \| 3 \|/);
    expect(table).toMatch(/\| check \| 3 \|/);
    expect(table).toMatch(/\| loop_max \| 3 \|/);
    expect(table).not.toMatch(/\| prepare \|/);
  });
});
