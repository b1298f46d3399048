// The upstream client's response parser (RFC 9112): strict, byte-level, resumable, reused per
// socket (h1-connection.ts). Anything ambiguous about framing is an error: this sits between
// clients and services. The request side is h1-request-head.ts.

/** Receives one response from the parser. Returning false stops parsing (paused or aborted). */
export interface H1ParserSink {
  onHead(status: number, statusText: string, headers: string[], contentLength: number): boolean;
  onBody(chunk: Buffer): boolean;
}

// Parser states.
export const P_HEAD = 0;
export const P_BODY_CL = 1;
export const P_BODY_EOF = 2;
export const P_CHUNK_SIZE = 3;
const P_CHUNK_EXT_NAME_START = 4;
const P_CHUNK_EXT_NAME = 5;
const P_CHUNK_EXT_VALUE_START = 6;
const P_CHUNK_EXT_TOKEN = 7;
const P_CHUNK_EXT_QUOTED = 8;
const P_CHUNK_EXT_QUOTED_PAIR = 9;
const P_CHUNK_EXT_QUOTED_END = 10;
const P_CHUNK_SIZE_LF = 11;
export const P_CHUNK_DATA = 12;
const P_CHUNK_DATA_CR = 13;
const P_CHUNK_DATA_LF = 14;
const P_TRAILER_START = 15;
const P_TRAILER_NAME = 16;
const P_TRAILER_VALUE = 17;
const P_TRAILER_LF = 18;
const P_END_LF = 19;
export const P_DONE = 20;
export const P_ERROR = 21;

const CR = 0x0d, LF = 0x0a, SP = 0x20, HTAB = 0x09, COLON = 0x3a, SEMI = 0x3b, COMMA = 0x2c, EQ = 0x3d, DQUOTE = 0x22, BSLASH = 0x5c;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const HTTP_1_DOT = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."
/** Largest chunk size before the next hex digit could overflow 2^53. */
const MAX_CHUNK_BEFORE_SHIFT = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);

/** tchar (RFC 9110 §5.6.2): 1 = token char, 2 = upper-case letter, 0 = not a token char. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 2;
/** Hex digit values, -1 when not a hex digit. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

// Common response header names are interned: no string allocation, identity comparisons.
const H_CONTENT_LENGTH = 'content-length';
const H_TRANSFER_ENCODING = 'transfer-encoding';
const H_CONNECTION = 'connection';
const H_KEEP_ALIVE = 'keep-alive';
const KNOWN_NAMES = [
  H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_KEEP_ALIVE, 'content-type', 'date', 'server',
  'set-cookie', 'cache-control', 'etag', 'last-modified', 'location', 'vary', 'expires', 'content-encoding',
  'access-control-allow-origin', 'x-powered-by', 'age', 'pragma', 'accept-ranges', 'strict-transport-security',
  'x-content-type-options', 'x-frame-options', 'www-authenticate', 'content-security-policy', 'x-request-id',
  'via', 'trailer', 'retry-after', 'link', 'content-disposition', 'content-language', 'alt-svc',
];
const KNOWN_BY_LEN: { name: string; bytes: Buffer }[][] = [];
for (const name of KNOWN_NAMES) (KNOWN_BY_LEN[name.length] ??= []).push({ name, bytes: Buffer.from(name, 'latin1') });

/** Lower-cased header name for b[s, e) (already validated as a token). */
function headerName(b: Buffer, s: number, e: number, upper: boolean): string {
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
function eqi(b: Buffer, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((b[s + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** b[s, e) holds an HTAB. */
function hasTab(b: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i] === HTAB) return true;
  return false;
}

const CONN_CLOSE = 1, CONN_KEEP_ALIVE = 2;
/** Connection header tokens we act on. */
function connectionFlags(b: Buffer, s: number, e: number): number {
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
function keepAliveTimeout(b: Buffer, s: number, e: number): number {
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

/**
 * Resumable response parser; one per socket, `reset()` before each response. `execute()` returns
 * the offset where it stopped: the end of the input, the end of the message (state P_DONE; bytes
 * left over are the caller's problem), or where the sink asked to stop. -1 = protocol error
 * (state P_ERROR, reason in `error`).
 */
export class H1Parser {
  state = P_HEAD;
  error = '';
  /** The connection may carry another request after this response. */
  keepAlive = true;
  /** Server's Keep-Alive timeout hint in ms, -1 when none. */
  keepAliveHintMs = -1;
  private readonly sink: H1ParserSink;
  private readonly maxHeaderBytes: number;
  private headRequest = false;
  private remaining = 0;
  private digits = 0;
  private lineBytes = 0;
  /** Trailer name bytes matched so far against "content-length" / "transfer-encoding"; -1 = no match. */
  private trailerCl = 0;
  private trailerTe = 0;
  private carry: Buffer | null = null;
  private carryLen = 0;
  private readonly scratch: string[] = [];

  constructor(sink: H1ParserSink, maxHeaderBytes: number) {
    this.sink = sink;
    this.maxHeaderBytes = maxHeaderBytes;
  }

  /** Prepare for the response to a new request. `headRequest`: the request was HEAD (no body). */
  reset(headRequest: boolean): void {
    this.state = P_HEAD;
    this.error = '';
    this.headRequest = headRequest;
    this.keepAlive = true;
    this.keepAliveHintMs = -1;
    this.carryLen = 0;
    // A large head split across reads grew the carry; do not keep 64 KiB per idle socket.
    if (this.carry !== null && this.carry.length > 8192) this.carry = null;
  }

  /** Socket ended: true when that completes the message (close-delimited body). */
  finishEof(): boolean {
    if (this.state === P_BODY_EOF) {
      this.state = P_DONE;
      return true;
    }
    return this.state === P_DONE;
  }

  private fail(reason: string): number {
    this.state = P_ERROR;
    this.error = reason;
    return -1;
  }

  private bad(reason: string): false {
    this.fail(reason);
    return false;
  }

  execute(buf: Buffer, off: number): number {
    const len = buf.length;
    while (off < len) {
      switch (this.state) {
        case P_HEAD: {
          const r = this.carryLen === 0 ? this.headDirect(buf, off) : this.headCarry(buf, off);
          if (r < 0) return -1;
          off = r;
          if (this.stopped) {
            this.stopped = false;
            return off;
          }
          continue;
        }
        case P_BODY_CL:
        case P_CHUNK_DATA: {
          const n = Math.min(this.remaining, len - off);
          const chunk = off === 0 && n === len ? buf : buf.subarray(off, off + n);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === P_BODY_CL ? P_DONE : P_CHUNK_DATA_CR;
          if (!this.sink.onBody(chunk)) return off;
          continue;
        }
        case P_BODY_EOF: {
          const chunk = off === 0 ? buf : buf.subarray(off);
          this.sink.onBody(chunk);
          return len;
        }
        case P_DONE:
          return off;
        case P_ERROR:
          return -1;
        default:
          if (!this.chunkControl(buf[off++]!)) return -1;
          if (this.state === P_DONE) return off;
      }
    }
    return off;
  }

  /** Set by head parsing when the sink asked to stop. */
  private stopped = false;

  /** Head starting at buf[off]; no carried bytes. Returns the new offset or -1. */
  private headDirect(buf: Buffer, off: number): number {
    const idx = buf.indexOf(CRLFCRLF, off);
    if (idx !== -1) {
      const e = idx + 4;
      if (e - off > this.maxHeaderBytes) return this.fail('response head larger than maxHeaderBytes');
      return this.parseHead(buf, off, e) ? e : -1;
    }
    const n = buf.length - off;
    if (n >= this.maxHeaderBytes) return this.fail('response head larger than maxHeaderBytes');
    if (!this.partialOk(buf, off, buf.length, off)) return -1;
    let carry = this.carry;
    if (carry === null || carry.length < n) carry = this.carry = Buffer.allocUnsafe(Math.min(this.maxHeaderBytes, Math.max(n, 1024)));
    buf.copy(carry, 0, off);
    this.carryLen = n;
    return buf.length;
  }

  /** Head continuing in the carry buffer (split across reads). */
  private headCarry(buf: Buffer, off: number): number {
    const old = this.carryLen;
    const avail = buf.length - off;
    const n = Math.min(avail, this.maxHeaderBytes - old);
    let carry = this.carry!;
    if (carry.length < old + n) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxHeaderBytes, Math.max(old + n, carry.length * 2)));
      carry.copy(grown, 0, 0, old);
      carry = this.carry = grown;
    }
    buf.copy(carry, old, off, off + n);
    const view = carry.subarray(0, old + n);
    const idx = view.indexOf(CRLFCRLF, old > 3 ? old - 3 : 0);
    if (idx !== -1) {
      const e = idx + 4;
      this.carryLen = 0;
      return this.parseHead(view, 0, e) ? off + (e - old) : -1;
    }
    if (old + n >= this.maxHeaderBytes) return this.fail('response head larger than maxHeaderBytes');
    if (!this.partialOk(view, 0, view.length, old)) return -1;
    this.carryLen = old + n;
    return buf.length;
  }

  /** Early rejection of an incomplete head: wrong protocol prefix, a bare LF or a bare CR (we accept CRLF only). */
  private partialOk(b: Buffer, s: number, e: number, from: number): boolean {
    if (b[s] === CR) return this.bad('empty line before the status line');
    for (let i = s; i < e && i - s < HTTP_1_DOT.length; i++) {
      if (b[i] !== HTTP_1_DOT[i - s]) return this.bad('response does not start with HTTP/1.x');
    }
    let i = b.indexOf(LF, from);
    while (i !== -1 && i < e) {
      if (i === s || b[i - 1] !== CR) return this.bad('bare LF in response head');
      i = b.indexOf(LF, i + 1);
    }
    // a CR at the end of the previous read is judged now that its next byte is here
    let j = b.indexOf(CR, from > s ? from - 1 : s);
    while (j !== -1 && j + 1 < e) {
      if (b[j + 1] !== LF) return this.bad('bare CR in response head');
      j = b.indexOf(CR, j + 1);
    }
    return true;
  }

  /** Parse a complete head b[s, e) (e is just past CRLFCRLF); sets the body state and calls the sink. */
  private parseHead(b: Buffer, s: number, e: number): boolean {
    // RFC 9112 §2.2 lets a *server* skip empty lines before a request line; before a response
    // they mean the connection is out of step (llhttp skips them)
    if (b[s] === CR) return this.bad('empty line before the status line');
    if (e - s < 16) return this.bad('malformed status line');
    for (let i = 0; i < 7; i++) if (b[s + i] !== HTTP_1_DOT[i]) return this.bad('response does not start with HTTP/1.x');
    const minor = b[s + 7]! - 0x30;
    if (minor !== 0 && minor !== 1) return this.bad('unsupported HTTP version');
    const d1 = b[s + 9]! - 0x30, d2 = b[s + 10]! - 0x30, d3 = b[s + 11]! - 0x30;
    if (b[s + 8] !== SP || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return this.bad('malformed status line');
    const status = d1 * 100 + d2 * 10 + d3;
    if (status < 100 || status > 599) return this.bad('status code outside 100–599');
    if (status === 101) return this.bad('101 Switching Protocols is not supported');
    let p = s + 12;
    let text = '';
    if (b[p] === SP) {
      const ts = ++p;
      for (;;) {
        const c = b[p]!;
        if (c === CR) break;
        if ((c < SP && c !== HTAB) || c === 0x7f || p >= e) return this.bad('invalid byte in reason phrase');
        p++;
      }
      if (p - ts === 2 && b[ts] === 0x4f && b[ts + 1] === 0x4b) text = 'OK';
      else if (p > ts) text = b.toString('latin1', ts, p);
    }
    if (b[p] !== CR || b[p + 1] !== LF) return this.bad(b[p] === CR ? 'bare CR in response head' : 'malformed status line');
    p += 2;

    const interim = status < 200;
    const headers = interim ? this.scratch : [];
    headers.length = 0;
    let cl = -1, te = false, conn = 0, kaHint = -1;
    for (;;) {
      let c = b[p]!;
      if (c === CR) {
        if (b[p + 1] !== LF) return this.bad('bare CR in response head');
        break;
      }
      if (c === SP || c === HTAB) return this.bad('obsolete line folding in response head');
      const ns = p;
      let upper = false;
      for (;;) {
        const t = TCHAR[b[p]!];
        if (!t) break;
        if (t === 2) upper = true;
        p++;
      }
      if (p === ns || b[p] !== COLON) return this.bad('invalid header name');
      const ne = p++;
      while (b[p] === SP || b[p] === HTAB) p++;
      const vs = p;
      let ve = p;
      for (;;) {
        c = b[p]!;
        if (c === CR) break;
        if ((c < SP && c !== HTAB) || c === 0x7f || p >= e) return this.bad('invalid byte in header value');
        p++;
        if (c !== SP && c !== HTAB) ve = p;
      }
      if (b[p + 1] !== LF) return this.bad('bare CR in response head');
      const lineEnd = p;
      p += 2;
      const name = headerName(b, ns, ne, upper);
      headers.push(name, ve === vs ? '' : b.toString('latin1', vs, ve));
      if ((name === H_CONTENT_LENGTH || name === H_TRANSFER_ENCODING) && (hasTab(b, ne + 1, vs) || hasTab(b, ve, lineEnd))) {
        // OWS may hold HTAB (RFC 9110 §5.6.3), but llhttp reads "chunked<HTAB>" as no chunked
        // coding and refuses "5<HTAB>": framing two parsers read differently is refused
        return this.bad('HTAB around a framing header value');
      }
      if (name === H_CONTENT_LENGTH) {
        if (ve === vs || ve - vs > 16) return this.bad('invalid content-length');
        let n = 0;
        for (let i = vs; i < ve; i++) {
          const d = b[i]! - 0x30;
          if (d < 0 || d > 9) return this.bad('invalid content-length');
          n = n * 10 + d;
        }
        if (n > Number.MAX_SAFE_INTEGER) return this.bad('invalid content-length');
        // RFC 9112 §6.3 would let identical copies through; llhttp refuses any second one, and
        // so do we: one framing header, read one way by every hop.
        if (cl !== -1) return this.bad('more than one content-length header');
        cl = n;
      } else if (name === H_TRANSFER_ENCODING) {
        // Only exactly one "chunked": anything else (gzip, chunked twice, identity) would change
        // the body we relay or is a smuggling vector.
        if (te || !eqi(b, vs, ve, 'chunked')) return this.bad('unsupported transfer-encoding');
        te = true;
      } else if (name === H_CONNECTION) {
        conn |= connectionFlags(b, vs, ve);
      } else if (name === H_KEEP_ALIVE) {
        kaHint = keepAliveTimeout(b, vs, ve);
      }
    }

    if (interim) return true; // 100, 102, 103…: skipped, the final response follows
    if (te && cl !== -1) return this.bad('both content-length and transfer-encoding');
    if (te && minor === 0) return this.bad('transfer-encoding in an HTTP/1.0 response');
    this.keepAlive = minor === 1 ? (conn & CONN_CLOSE) === 0 : conn === CONN_KEEP_ALIVE;
    this.keepAliveHintMs = kaHint;
    let reported: number;
    if (this.headRequest || status === 204 || status === 304) {
      reported = 0;
      this.state = P_DONE;
    } else if (te) {
      reported = -1;
      this.state = P_CHUNK_SIZE;
      this.remaining = 0;
      this.digits = 0;
      this.lineBytes = 0;
    } else if (cl !== -1) {
      reported = cl;
      this.remaining = cl;
      this.state = cl === 0 ? P_DONE : P_BODY_CL;
    } else {
      reported = -1;
      this.state = P_BODY_EOF;
      this.keepAlive = false;
    }
    if (!this.sink.onHead(status, text, headers, reported)) this.stopped = true;
    return true;
  }

  /** Count one more byte of a chunk-size line or trailer line against maxHeaderBytes. */
  private lineByte(what: string): boolean {
    if (++this.lineBytes > this.maxHeaderBytes) return this.bad(`${what} larger than maxHeaderBytes`);
    return true;
  }

  /**
   * One byte of chunked framing (everything but chunk data). Chunk extensions follow RFC 9112
   * §7.1.1 without BWS: `*( ";" token [ "=" ( token / quoted-string ) ] )` — llhttp refuses
   * whitespace there too, and a line two parsers read differently is a desync. Trailer field
   * lines are checked like header lines (token name, colon, no CTL in the value), counted and
   * dropped.
   */
  private chunkControl(c: number): boolean {
    switch (this.state) {
      case P_CHUNK_SIZE: {
        const h = HEX[c]!;
        if (h >= 0) {
          // 1*HEXDIG: leading zeros are valid (RFC 9112 §7.1), so overflow is judged by value;
          // the digit count only bounds a line of endless zeros
          if (this.remaining > MAX_CHUNK_BEFORE_SHIFT) return this.bad('chunk size overflow');
          if (++this.digits > this.maxHeaderBytes) return this.bad('chunk size line larger than maxHeaderBytes');
          this.remaining = this.remaining * 16 + h;
          return true;
        }
        if (this.digits === 0) return this.bad('invalid chunk size');
        if (c === CR) { this.state = P_CHUNK_SIZE_LF; return true; }
        if (c === SEMI) { this.state = P_CHUNK_EXT_NAME_START; this.lineBytes = 0; return true; }
        return this.bad('invalid chunk size');
      }
      case P_CHUNK_EXT_NAME_START:
        // ";=v" or ";" then nothing: a name is a token, at least one tchar (llhttp takes ";=v")
        if (!TCHAR[c]) return this.bad(c === EQ || c === SEMI || c === CR ? 'empty chunk extension name' : 'invalid chunk extension');
        this.state = P_CHUNK_EXT_NAME;
        return this.lineByte('chunk extension');
      case P_CHUNK_EXT_NAME:
        if (TCHAR[c]) return this.lineByte('chunk extension');
        if (c === EQ) { this.state = P_CHUNK_EXT_VALUE_START; return this.lineByte('chunk extension'); }
        return this.chunkExtEnd(c);
      case P_CHUNK_EXT_VALUE_START:
        if (TCHAR[c]) { this.state = P_CHUNK_EXT_TOKEN; return this.lineByte('chunk extension'); }
        if (c === DQUOTE) { this.state = P_CHUNK_EXT_QUOTED; return this.lineByte('chunk extension'); }
        // "a=" then nothing: a token has at least one tchar (llhttp lets it pass)
        return this.bad(c === CR || c === SEMI ? 'empty chunk extension value' : 'invalid chunk extension');
      case P_CHUNK_EXT_TOKEN:
        if (TCHAR[c]) return this.lineByte('chunk extension');
        return this.chunkExtEnd(c);
      case P_CHUNK_EXT_QUOTED:
        // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
        if (c === DQUOTE) { this.state = P_CHUNK_EXT_QUOTED_END; return this.lineByte('chunk extension'); }
        if (c === BSLASH) { this.state = P_CHUNK_EXT_QUOTED_PAIR; return this.lineByte('chunk extension'); }
        if ((c < SP && c !== HTAB) || c === 0x7f) return this.bad('invalid chunk extension');
        return this.lineByte('chunk extension');
      case P_CHUNK_EXT_QUOTED_PAIR:
        if ((c < SP && c !== HTAB) || c === 0x7f) return this.bad('invalid chunk extension');
        this.state = P_CHUNK_EXT_QUOTED;
        return this.lineByte('chunk extension');
      case P_CHUNK_EXT_QUOTED_END:
        return this.chunkExtEnd(c);
      case P_CHUNK_SIZE_LF:
        if (c !== LF) return this.bad('bare CR in chunk header');
        if (this.remaining === 0) {
          this.state = P_TRAILER_START;
          this.lineBytes = 0;
        } else {
          this.state = P_CHUNK_DATA;
        }
        return true;
      case P_CHUNK_DATA_CR:
        if (c !== CR) return this.bad('missing CRLF after chunk data');
        this.state = P_CHUNK_DATA_LF;
        return true;
      case P_CHUNK_DATA_LF:
        if (c !== LF) return this.bad('missing CRLF after chunk data');
        this.state = P_CHUNK_SIZE;
        this.digits = 0;
        return true;
      case P_TRAILER_START:
        if (c === CR) { this.state = P_END_LF; return true; }
        if (c === SP || c === HTAB) return this.bad('obsolete line folding in trailers');
        if (!TCHAR[c]) return this.bad('invalid trailer field name');
        this.state = P_TRAILER_NAME;
        this.trailerCl = 0;
        this.trailerTe = 0;
        this.trailerNameByte(c);
        return this.lineByte('trailers');
      case P_TRAILER_NAME:
        if (c === COLON) {
          // framing fields are never allowed as trailers (RFC 9110 §6.5.1); llhttp refuses them too
          if (this.trailerCl === H_CONTENT_LENGTH.length) return this.bad('content-length in trailers');
          if (this.trailerTe === H_TRANSFER_ENCODING.length) return this.bad('transfer-encoding in trailers');
          this.state = P_TRAILER_VALUE;
          return this.lineByte('trailers');
        }
        if (!TCHAR[c]) return this.bad('invalid trailer field name');
        this.trailerNameByte(c);
        return this.lineByte('trailers');
      case P_TRAILER_VALUE:
        if (c === CR) { this.state = P_TRAILER_LF; return true; }
        if ((c < SP && c !== HTAB) || c === 0x7f) return this.bad('invalid byte in trailers');
        return this.lineByte('trailers');
      case P_TRAILER_LF:
        if (c !== LF) return this.bad('bare CR in trailers');
        this.state = P_TRAILER_START;
        return true;
      case P_END_LF:
        if (c !== LF) return this.bad('bare CR after last chunk');
        this.state = P_DONE;
        return true;
      default:
        return this.bad('parser in an unexpected state');
    }
  }

  /** Advance the trailer-name matchers by one (token) byte. */
  private trailerNameByte(c: number): void {
    const l = c | 0x20; // token bytes: letters lower-cased, '-' and digits unchanged
    const cl = this.trailerCl, te = this.trailerTe;
    this.trailerCl = cl >= 0 && cl < H_CONTENT_LENGTH.length && H_CONTENT_LENGTH.charCodeAt(cl) === l ? cl + 1 : -1;
    this.trailerTe = te >= 0 && te < H_TRANSFER_ENCODING.length && H_TRANSFER_ENCODING.charCodeAt(te) === l ? te + 1 : -1;
  }

  /** After a complete chunk-ext name or value: another extension, or the end of the line. */
  private chunkExtEnd(c: number): boolean {
    if (c === SEMI) { this.state = P_CHUNK_EXT_NAME_START; return this.lineByte('chunk extension'); }
    if (c === CR) { this.state = P_CHUNK_SIZE_LF; return true; }
    return this.bad('invalid chunk extension');
  }
}
