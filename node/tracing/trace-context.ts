// W3C Trace Context (traceparent / tracestate, https://www.w3.org/TR/trace-context/): parsing
// what a client sent, formatting what the upstream gets, and random trace/span ids drawn from
// a pooled random buffer (one crypto call per 512 ids, not one per span).
import { randomFillSync } from 'node:crypto';

/** A valid incoming traceparent: the client's trace, its span (our parent) and its flags. */
export interface ParentContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parse a `traceparent` value. Version 00 must be exactly 55 characters; a higher version may
 * carry more fields after a `-` (the spec's forward compatibility); `ff`, upper-case hex and
 * all-zero ids are invalid. Returns null for anything invalid (a fresh trace is started then).
 */
export function parseTraceparent(v: string): ParentContext | null {
  if (v.length < 55) return null;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return null;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v[55] !== '-') return null;
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return null;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

// tracestate: up to 32 comma-separated list members `key=value` (W3C §3.3); total ≤ 512 chars kept.
const TS_KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
const TS_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * The `tracestate` to forward: the client's list when every member is valid (at most 32, no
 * duplicate keys, ≤ 512 characters), else null (dropped: a proxy must not forward garbage).
 */
export function validTracestate(v: string | undefined): string | null {
  if (v === undefined || v.length > 512) return null;
  const members = v.split(',');
  if (members.length > 32) return null;
  const keys = new Set<string>();
  const kept: string[] = [];
  for (const raw of members) {
    const m = raw.trim();
    if (m === '') continue;
    const eq = m.indexOf('=');
    if (eq <= 0) return null;
    const key = m.slice(0, eq);
    if (!TS_KEY.test(key) || !TS_VALUE.test(m.slice(eq + 1)) || keys.has(key)) return null;
    keys.add(key);
    kept.push(m);
  }
  return kept.length === 0 ? null : kept.join(',');
}

/** `00-<trace>-<span>-<flags>` for the next hop. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

const POOL = Buffer.allocUnsafe(4096);
let offset = POOL.length;

function take(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL.length) { randomFillSync(POOL); offset = 0; }
    const s = POOL.toString('hex', offset, offset + bytes);
    offset += bytes;
    if (/[^0]/.test(s)) return s; // all-zero ids are invalid (a 2^-64 chance, but cheap to rule out)
  }
}

/** A random 16-byte trace id, hex. */
export const newTraceId = (): string => take(16);
/** A random 8-byte span id, hex. */
export const newSpanId = (): string => take(8);
