// The multi-host leader-loss check: a survivor's 503 passes only when the member's own counters show its reason
// (a reconnect for a replay, a stall for a stall catch-up, a lease wait for a late primary); anything else is named.
import { describe, expect, it } from 'vitest';
import { unexplainedRefusals, type RefusalCounters } from '../../../bench/hosts/refusal-evidence.js';

const zero: RefusalCounters = { reconnects: 0, catchUps: 0, stalls: 0, leaseWaits: 0 };
const A = '10.0.0.1:8080';
const B = '10.0.0.2:8080';

describe('unexplainedRefusals', () => {
  it('names a survivor\'s 503 whose reason its counters do not show, and passes one they do', () => {
    const answers = {
      [`${A} 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE (revocations from the bus are being caught up after a stall)`]: 2,
      [`${B} 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE (revocations are being replayed)`]: 3,
      '10.0.0.3:8080 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE (revocations are being replayed)': 9, // not a survivor: not judged here
    };
    const hosts = [
      { addr: A, before: zero, after: { ...zero, reconnects: 1 } }, // a reconnect does not explain a stall refusal
      { addr: B, before: zero, after: { ...zero, reconnects: 1 } },
    ];
    const out = unexplainedRefusals(answers, hosts);
    expect(out).toHaveLength(1);
    expect(out[0]).toContain(`${A} 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE (revocations from the bus are being caught up after a stall) ×2`);
    expect(unexplainedRefusals(answers, [{ addr: A, before: zero, after: { ...zero, stalls: 1 } }])).toEqual([]);
  });

  // a clean-clone CI run: a survivor past fail_closed_after_ms while the stream elected its new leader, its own
  // connection never lost — explained by the catch-up that followed, not by a reconnect
  it('"revocation bus lost" is explained by a catch-up from the stream, with or without a reconnect', () => {
    const lost = { [`${A} 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE (revocation bus lost)`]: 20 };
    expect(unexplainedRefusals(lost, [{ addr: A, before: zero, after: { ...zero, catchUps: 1 } }])).toEqual([]);
    expect(unexplainedRefusals(lost, [{ addr: A, before: zero, after: zero }])).toHaveLength(1);
  });

  it('a refusal with no documented reason (store full) is never explained', () => {
    const many: RefusalCounters = { reconnects: 5, catchUps: 5, stalls: 5, leaseWaits: 5 };
    expect(unexplainedRefusals({ [`${A} 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE (revocation store full)`]: 1 }, [{ addr: A, before: zero, after: many }])).toHaveLength(1);
  });
});
