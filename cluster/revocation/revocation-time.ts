// Parsing of revocation times (`--before`, `--exp`, and the admin API's `before`/`exp`):
// ISO 8601 with a zone, a bare date (UTC midnight), epoch seconds, or `now`; and the clock
// that stamps a revocation's publication (propagation delay across members); how long ago a moment was.

/** Wall-clock epoch ms with sub-ms precision (comparable across processes on one host). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** An epoch-ms moment, pinned to the monotonic clock as well when it was taken or learnt (cluster.fail_closed_after_ms counts from it). */
export interface Moment { readonly at: number; readonly mono: number }

/** `at` (epoch ms; default now) pinned to the monotonic clock now. */
export function moment(at?: number): Moment {
  const wall = Date.now();
  return { at: at ?? wall, mono: performance.now() - (wall - (at ?? wall)) };
}

/**
 * Milliseconds since `m`: the wall clock's count, or the monotonic clock's when that is more. A wall clock
 * stepped back (an NTP step) never shortens it — counted on the wall alone, a member that lost the bus
 * kept serving past cluster.fail_closed_after_ms for the size of the step; one stepped forward still counts.
 */
export function msSince(m: Moment): number {
  return Math.max(Date.now() - m.at, performance.now() - m.mono);
}

/** Result of parsing a time: epoch seconds, or a message saying what was expected. */
export type TimeParse = { readonly ok: true; readonly seconds: number } | { readonly ok: false; readonly message: string };

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/;
/** Epoch seconds beyond this (year 2286) are almost certainly milliseconds. */
const MAX_EPOCH_S = 9_999_999_999;

/**
 * Parse `text` as epoch seconds (integer or decimal), `now`, a date `YYYY-MM-DD`
 * (UTC midnight) or an ISO 8601 date-time with `Z` or an offset. Never throws.
 * A local time without a zone is refused (it would mean different instants on different hosts).
 */
export function parseTime(text: string | number, nowMs: number = Date.now()): TimeParse {
  if (typeof text === 'number') return fromNumber(text, String(text));
  const s = text.trim();
  if (s === '') return { ok: false, message: 'empty time' };
  // The current second: a cut is inclusive (iat ≤ before), so "now" covers every token issued so far.
  if (s.toLowerCase() === 'now') return { ok: true, seconds: Math.floor(nowMs / 1000) };
  if (/^\d+(\.\d+)?$/.test(s)) return fromNumber(Number(s), s);
  const d = ISO_DATE.exec(s);
  if (d !== null) {
    const ms = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]));
    const back = new Date(ms);
    if (back.getUTCFullYear() !== Number(d[1]) || back.getUTCMonth() !== Number(d[2]) - 1 || back.getUTCDate() !== Number(d[3])) {
      return { ok: false, message: `"${s}" is not a calendar date` };
    }
    return { ok: true, seconds: ms / 1000 };
  }
  if (ISO_DATETIME.test(s)) {
    const ms = Date.parse(s.replace(' ', 'T'));
    if (Number.isNaN(ms)) return { ok: false, message: `"${s}" is not a valid date-time` };
    return { ok: true, seconds: Math.floor(ms / 1000) };
  }
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}/.test(s)) return { ok: false, message: `"${s}" has no time zone: add Z or an offset such as +02:00` };
  return { ok: false, message: `"${s}" is not a time: use ISO 8601 (2024-05-01T12:00:00Z), epoch seconds or "now"` };
}

function fromNumber(n: number, shown: string): TimeParse {
  if (!Number.isFinite(n) || n < 0) return { ok: false, message: `"${shown}" is not a time: expected epoch seconds ≥ 0` };
  if (n > MAX_EPOCH_S) return { ok: false, message: `"${shown}" is too large for epoch seconds (milliseconds?)` };
  return { ok: true, seconds: Math.floor(n) };
}
