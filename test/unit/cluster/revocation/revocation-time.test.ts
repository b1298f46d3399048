// Time parsing for `revoke --before/--exp` and the admin API: ISO 8601 with a zone,
// dates, epoch seconds, "now"; everything else refused with a message, never thrown.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseTime } from '../../../../cluster/revocation/index.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0); // 2024-05-01T12:00:00Z

describe('parseTime', () => {
  it.each([
    ['now', NOW / 1000],
    ['NOW', NOW / 1000],
    ['1714564800', 1714564800],
    ['1714564800.9', 1714564800],
    ['2024-05-01T12:00:00Z', 1714564800],
    ['2024-05-01T12:00Z', 1714564800],
    ['2024-05-01T14:00:00+02:00', 1714564800],
    ['2024-05-01t12:00:00.250z', 1714564800],
    ['2024-05-01 12:00:00Z', 1714564800],
    ['2024-05-01', 1714521600],
    [' 2024-05-01 ', 1714521600],
  ])('%s → %i', (text, seconds) => {
    expect(parseTime(text, NOW)).toEqual({ ok: true, seconds });
  });

  it('accepts numbers as epoch seconds', () => {
    expect(parseTime(1714564800, NOW)).toEqual({ ok: true, seconds: 1714564800 });
  });

  it.each([
    ['', 'empty'],
    ['yesterday', 'is not a time'],
    ['2024-05-01T12:00:00', 'no time zone'],
    ['2024-02-30', 'not a calendar date'],
    ['1714564800000', 'milliseconds'],
    ['-5', 'is not a time'],
    ['12:00', 'is not a time'],
  ])('refuses %j (%s)', (text, message) => {
    const r = parseTime(text, NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(message);
  });

  it('never throws, whatever the input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => { parseTime(s, NOW); }), { numRuns: 2_000 });
  });

  it('reads back every ISO 8601 instant it could print', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800 }), (s) => {
      expect(parseTime(new Date(s * 1000).toISOString(), NOW)).toEqual({ ok: true, seconds: s });
    }), { numRuns: 500 });
  });
});
