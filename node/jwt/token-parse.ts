// Structural parsing of a compact JWS (RFC 7515 §7.1): exactly three segments,
// strict canonical base64url, header and payload JSON objects. Never throws; shared by the
// main thread (issuer selection, kid lookup) and the verifier worker.

/** Tokens longer than this (characters = bytes, tokens are ASCII) are refused before parsing. */
export const MAX_TOKEN_BYTES = 16 * 1024; // 16 KiB

const B64URL = /^[A-Za-z0-9_-]*$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface ParsedToken {
  readonly ok: true;
  /** Frozen and shared by every token with the same header segment (see headerObject). */
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Record<string, unknown>;
  /** Signature segment, '' when absent (an `alg: none` token). */
  readonly signature: string;
}

export interface ParseFailure {
  readonly ok: false;
  readonly code: 'oversized' | 'malformed';
  readonly message: string;
}

/**
 * Value of a base64url character's low bits, by char code: the bits a 4n+2 (low 4) or 4n+3
 * (low 2) segment's last character carries beyond the data, which decoders ignore.
 */
function b64Value(c: number): number {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  return c === 45 ? 62 : 63;
}

/**
 * Strict base64url: alphabet only, no padding, no impossible length, and canonical: the unused
 * bits of the last character are zero. Otherwise one signed token has 4–16 spellings, each with
 * its own SHA-256, and a revocation by token hash would miss the others.
 */
function isB64url(s: string): boolean {
  const r = s.length % 4;
  if (r === 1 || !B64URL.test(s)) return false;
  return r === 0 || (b64Value(s.charCodeAt(s.length - 1)) & (r === 2 ? 15 : 3)) === 0;
}

/**
 * Decoded header and payload bytes, one thread-local buffer reused for every segment: parsing is
 * synchronous and a segment's text is copied out before the next decode, so no Buffer object is
 * made per token. 12 KiB holds any segment of a token within MAX_TOKEN_BYTES.
 */
const SCRATCH = Buffer.allocUnsafeSlow(Math.ceil((MAX_TOKEN_BYTES * 3) / 4));

function jsonObject(seg: string): Record<string, unknown> | null {
  if (seg.length === 0 || !isB64url(seg)) return null;
  const n = SCRATCH.write(seg, 'base64url');
  const text = SCRATCH.toString('latin1', 0, n);
  let v: unknown;
  try {
    // ASCII (nearly every token: its latin1 text has no char that takes 2 UTF-8 bytes) is its own UTF-8;
    // else fatal decoding, invalid UTF-8 is malformed, not replaced
    v = JSON.parse(Buffer.byteLength(text, 'utf8') === n ? text : UTF8.decode(SCRATCH.subarray(0, n)));
  } catch {
    return null;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/**
 * Parsed headers by their exact base64url segment: an issuer's tokens share one or a few (alg,
 * kid, typ), so a miss need not decode and JSON-parse it again. Same text, same object: the
 * rules see exactly what a fresh parse gives (frozen, so no reader can change it for the next
 * token). Bounded: MAX_HEADERS segments of up to MAX_HEADER_SEGMENT characters, the table
 * dropped when full (a flood of distinct headers costs what parsing always cost).
 */
const HEADERS = new Map<string, { readonly seg: string; readonly header: Readonly<Record<string, unknown>> }>();
const MAX_HEADERS = 256;
const MAX_HEADER_SEGMENT = 512;

/**
 * The header segment met last (one of HEADERS' own keys, never a slice of a token) and its object:
 * an issuer's tokens nearly all share one, so parseCompact compares it inside the token before
 * cutting a segment out and hashing it for the table (~40 ns against ~150 ns, measured).
 */
let lastSeg = '';
let lastHeader: Readonly<Record<string, unknown>> | null = null;

function headerObject(seg: string): Readonly<Record<string, unknown>> | null {
  const known = HEADERS.get(seg);
  if (known !== undefined) {
    lastSeg = known.seg;
    lastHeader = known.header;
    return known.header;
  }
  const h = jsonObject(seg);
  if (h === null) return null;
  Object.freeze(h);
  if (seg.length <= MAX_HEADER_SEGMENT) {
    if (HEADERS.size >= MAX_HEADERS) HEADERS.clear();
    // a copy of the key: the slice would keep the whole token alive
    const own = Buffer.from(seg, 'latin1').toString('latin1');
    HEADERS.set(own, { seg: own, header: h });
    lastSeg = own;
    lastHeader = h;
  }
  return h;
}

const fail = (code: ParseFailure['code'], message: string): ParseFailure => ({ ok: false, code, message });

/** Parse a compact JWS without verifying anything but its shape. */
export function parseCompact(token: unknown): ParsedToken | ParseFailure {
  if (typeof token !== 'string') return fail('malformed', 'token is not a string');
  if (token.length > MAX_TOKEN_BYTES) return fail('oversized', 'token exceeds 16 KiB');
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return fail('malformed', 'token is not a compact JWS (three segments)');
  // the same characters as the last known header segment: the same object headerObject would return
  const header = d1 === lastSeg.length && lastHeader !== null && token.startsWith(lastSeg) ? lastHeader : headerObject(token.slice(0, d1));
  if (header === null) return fail('malformed', 'token header is not base64url JSON object');
  const payload = jsonObject(token.slice(d1 + 1, d2));
  if (payload === null) return fail('malformed', 'token payload is not base64url JSON object');
  const signature = token.slice(d2 + 1);
  // validated here, decoded once where the signature is checked
  if (!isB64url(signature)) return fail('malformed', 'token signature is not base64url');
  return { ok: true, header, payload, signature };
}
