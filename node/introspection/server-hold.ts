// The authorization server asking the introspection client to wait: a 429, or a 503 with Retry-After
// (RFC 9110 §10.2.3), holds this client's next calls for that long, capped — lookups meanwhile get 503
// at once instead of one more call each to a server that is shedding load or down for maintenance.

/** Longest hold a Retry-After can ask for, ms: a larger (or absurd) value is cut to this. */
export const MAX_SERVER_HOLD_MS = 60_000; // 60 s
/** Hold after a 429 without a usable Retry-After, ms (a 503 without one is not held: one failed node behind a balancer says nothing of the next). */
export const DEFAULT_SERVER_HOLD_MS = 1_000; // 1 s

/**
 * The wait a `Retry-After` value asks for, ms: delta-seconds or an HTTP-date (against `nowWallMs`),
 * null when absent or unreadable. Never negative.
 */
export function retryAfterMs(value: string | string[] | undefined, nowWallMs: number): number | null {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (v === undefined || v === '') return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // an HTTP-date (RFC 9110 §5.6.7, every form ends in GMT): Date.parse alone reads '-5' as a year
  const at = /GMT$/i.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isFinite(at) ? Math.max(0, at - nowWallMs) : null;
}

/** How long a `status` answer holds the client's calls, ms (0: not at all): a 429, or a 503 with a Retry-After; 1 s to 60 s. */
export function serverHoldMs(status: number, retryAfter: string | string[] | undefined, nowWallMs: number): number {
  if (status !== 429 && status !== 503) return 0;
  const asked = retryAfterMs(retryAfter, nowWallMs);
  if (status === 503 && asked === null) return 0;
  return Math.min(MAX_SERVER_HOLD_MS, Math.max(DEFAULT_SERVER_HOLD_MS, asked ?? DEFAULT_SERVER_HOLD_MS));
}
