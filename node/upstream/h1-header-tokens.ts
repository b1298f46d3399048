// Byte-level building blocks of the response parser (h1-parser.ts, h1-chunk-framing.ts): byte
// classes (tchar, hex), interned header names and the scanners for the few header values the
// client acts on (Connection, Keep-Alive). Module-level tables: built once, no per-response cost.

export const CR = 0x0d, LF = 0x0a, SP = 0x20, HTAB = 0x09, COLON = 0x3a, SEMI = 0x3b, COMMA = 0x2c, EQ = 0x3d, DQUOTE = 0x22, BSLASH = 0x5c;
export const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
export const HTTP_1_DOT = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."
/** Largest chunk size before the next hex digit could overflow 2^53. */
export const MAX_CHUNK_BEFORE_SHIFT = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);

/** tchar (RFC 9110 §5.6.2): 1 = token char, 2 = upper-case letter, 0 = not a token char. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 2;
/** Hex digit values, -1 when not a hex digit. */
export const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

// Common response header names are interned: no string allocation, identity comparisons.
export const H_CONTENT_LENGTH = 'content-length';
export const H_TRANSFER_ENCODING = 'transfer-encoding';
export const H_CONNECTION = 'connection';
export const H_KEEP_ALIVE = 'keep-alive';
export const KNOWN_NAMES = [
  H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_KEEP_ALIVE, 'content-type', 'date', 'server',
  'set-cookie', 'cache-control', 'etag', 'last-modified', 'location', 'vary', 'expires', 'content-encoding',
  'access-control-allow-origin', 'x-powered-by', 'age', 'pragma', 'accept-ranges', 'strict-transport-security',
  'x-content-type-options', 'x-frame-options', 'www-authenticate', 'content-security-policy', 'x-request-id',
  'via', 'trailer', 'retry-after', 'link', 'content-disposition', 'content-language', 'alt-svc',
];
export const KNOWN_BY_LEN: { name: string; bytes: Buffer }[][] = [];
for (const name of KNOWN_NAMES) (KNOWN_BY_LEN[name.length] ??= []).push({ name, bytes: Buffer.from(name, 'latin1') });

/** Lower-cased header name for b[s, e) (already validated as a token). */
export function headerName(b: Buffer, s: number, e: number, upper: boolean): string {
  const known = KNOWN_BY_LEN[e - s];
  if (known !== undefined) {
    // |0x20 lower-cases letters and leaves '-' and digits alone; known names hold nothing else.
    outer: for (let k = 0; k < known.length; k++) {
      const want = known[k]!.bytes;
      for (let i = 0; i < want.length; i++) if ((b[s + i]! | 0x20) !== want[i]) continue outer;
      return known[k]!.name;
    }
  }
  const raw = b.toString('latin1', s, e);
  return upper ? raw.toLowerCase() : raw;
}

/** b[s, e) equals `lower` ignoring ASCII case (`lower` holds only lower-case letters, '-' and digits). */
export function eqi(b: Buffer, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((b[s + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** b[s, e) holds an HTAB. */
export function hasTab(b: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i] === HTAB) return true;
  return false;
}

export const CONN_CLOSE = 1, CONN_KEEP_ALIVE = 2;
/** Connection header tokens we act on. */
export function connectionFlags(b: Buffer, s: number, e: number): number {
  let flags = 0;
  let p = s;
  while (p < e) {
    while (p < e && (b[p] === SP || b[p] === HTAB || b[p] === COMMA)) p++;
    const ts = p;
    while (p < e && b[p] !== COMMA) p++;
    let te = p;
    while (te > ts && (b[te - 1] === SP || b[te - 1] === HTAB)) te--;
    if (eqi(b, ts, te, 'close')) flags |= CONN_CLOSE;
    else if (eqi(b, ts, te, 'keep-alive')) flags |= CONN_KEEP_ALIVE;
  }
  return flags;
}

/** `timeout=N` of a Keep-Alive header in ms, -1 when absent or not a plain number. */
export function keepAliveTimeout(b: Buffer, s: number, e: number): number {
  let p = s;
  while (p < e) {
    while (p < e && (b[p] === SP || b[p] === HTAB || b[p] === COMMA)) p++;
    const ns = p;
    while (p < e && b[p] !== 0x3d && b[p] !== COMMA) p++;
    let ne = p;
    while (ne > ns && (b[ne - 1] === SP || b[ne - 1] === HTAB)) ne--;
    if (p < e && b[p] === 0x3d) {
      p++;
      while (p < e && (b[p] === SP || b[p] === HTAB)) p++;
      const vs = p;
      let n = 0;
      while (p < e && b[p]! >= 0x30 && b[p]! <= 0x39 && p - vs < 9) n = n * 10 + b[p++]! - 0x30;
      const digits = p > vs;
      while (p < e && b[p] !== COMMA) p++;
      if (digits && eqi(b, ns, ne, 'timeout')) return n * 1000;
    }
  }
  return -1;
}
