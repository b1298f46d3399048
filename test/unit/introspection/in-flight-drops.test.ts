// InFlightDrops: an answer whose subject was dropped after its call started is overtaken; other
// subjects, later calls and idle drops are not; a full memory overtakes every call in flight.
import { describe, expect, it } from 'vitest';
import { InFlightDrops, MAX_DROPS_IN_FLIGHT } from '../../../node/introspection/in-flight-drops.js';

describe('InFlightDrops', () => {
  it('overtakes only answers of a subject dropped after the call started', () => {
    const d = new InFlightDrops();
    const early = d.mark();
    d.note('ivan', true);
    const late = d.mark();
    expect(d.overtaken(early, { sub: 'ivan' })).toBe(true);
    expect(d.overtaken(early, { sub: 'olga' })).toBe(false);
    expect(d.overtaken(early, null)).toBe(false); // an inactive answer has no subject
    expect(d.overtaken(late, { sub: 'ivan' })).toBe(false);
  });

  it('remembers nothing while no call is on the wire', () => {
    const d = new InFlightDrops();
    d.note('ivan', false);
    expect(d.overtaken(d.mark(), { sub: 'ivan' })).toBe(false);
  });

  it('past its bound, every call that was in flight counts as overtaken', () => {
    const d = new InFlightDrops();
    const m = d.mark();
    for (let i = 0; i <= MAX_DROPS_IN_FLIGHT; i++) d.note(`s${i}`, true);
    expect(d.overtaken(m, { sub: 'never-dropped' })).toBe(true);
    expect(d.overtaken(d.mark(), { sub: 'never-dropped' })).toBe(false);
  });
});
