// W3C trace-context parsing: what is accepted as a parent, what starts a fresh trace, which
// tracestate is forwarded; and the OTLP JSON time encoding.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { epochNanos, formatTraceparent, parseTraceparent, validTracestate } from '../../../node/tracing/index.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  it('reads a valid version-00 value and its sampled flag', () => {
    expect(parseTraceparent(`00-${T}-${S}-01`)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(parseTraceparent(`00-${T}-${S}-00`)!.sampled).toBe(false);
    expect(parseTraceparent(`00-${T}-${S}-03`)!.sampled).toBe(true); // other flag bits ignored
  });

  it('reads a later version with extra fields, as the spec asks', () => {
    expect(parseTraceparent(`01-${T}-${S}-01-whatever`)).toEqual({ traceId: T, spanId: S, sampled: true });
  });

  it.each([
    ['version ff', `ff-${T}-${S}-01`],
    ['00 with extra fields', `00-${T}-${S}-01-x`],
    ['zero trace id', `00-${'0'.repeat(32)}-${S}-01`],
    ['zero span id', `00-${T}-${'0'.repeat(16)}-01`],
    ['upper case', `00-${T.toUpperCase()}-${S}-01`],
    ['short flags', `00-${T}-${S}-1`],
    ['bad separator', `00_${T}-${S}-01`],
    ['non-hex', `00-${T.slice(0, 31)}g-${S}-01`],
    ['empty', ''],
  ])('refuses %s', (_n, v) => {
    expect(parseTraceparent(v)).toBeNull();
  });

  it('never throws and accepts only what it formats back unchanged (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (v) => {
      const p = parseTraceparent(v);
      if (p !== null && v.startsWith('00')) expect(formatTraceparent(p.traceId, p.spanId, p.sampled).slice(0, 52)).toBe(v.slice(0, 52));
    }));
  });
});

describe('validTracestate', () => {
  it('keeps a valid list (trimmed, empty members dropped)', () => {
    expect(validTracestate('rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,')).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(validTracestate('tenant@vendor=x')).toBe('tenant@vendor=x');
  });

  it.each([
    ['upper-case key', 'Rojo=1'],
    ['duplicate key', 'a=1,a=2'],
    ['no value', 'a='],
    ['no equals', 'abc'],
    ['value with =', 'a=b=c'],
    ['33 members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
    ['over 512 characters', `a=${'x'.repeat(600)}`],
  ])('drops %s', (_n, v) => {
    expect(validTracestate(v)).toBeNull();
  });
});

describe('epochNanos', () => {
  it('turns performance.now() into epoch nanoseconds without float rounding of the integer part', () => {
    const ns = BigInt(epochNanos(performance.now()));
    const now = BigInt(Date.now()) * 1_000_000n;
    expect(ns > now - 1_000_000_000n && ns < now + 1_000_000_000n).toBe(true);
    expect(epochNanos(0.5).endsWith('500000') || epochNanos(0.5).length > 15).toBe(true);
  });
});
