// The upstream client's response parser (RFC 9112): strict, byte-level, resumable, reused per
// socket (h1-connection.ts). Anything ambiguous about framing is an error: this sits between
// clients and services. The request side is h1-request-head.ts. The head is parsed here; chunked
// framing is h1-chunk-framing.ts, byte tables and header-value scanners h1-header-tokens.ts.
import {
  CR, LF, SP, HTAB, COLON, CRLFCRLF, HTTP_1_DOT, TCHAR, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION,
  H_KEEP_ALIVE, CONN_CLOSE, CONN_KEEP_ALIVE, headerName, eqi, hasTab, connectionFlags, keepAliveTimeout,
} from './h1-header-tokens.js';
import { P_HEAD, P_BODY_CL, P_BODY_EOF, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_DATA_CR, P_DONE, P_ERROR } from './h1-parser-states.js';
import { chunkControl, type H1FramingState } from './h1-chunk-framing.js';

// The states importers test against (h1-connection.ts, tests) stay exported from here.
export { P_HEAD, P_BODY_CL, P_BODY_EOF, P_CHUNK_SIZE, P_CHUNK_DATA, P_DONE, P_ERROR };

/** Receives one response from the parser. Returning false stops parsing (paused or aborted). */
export interface H1ParserSink {
  onHead(status: number, statusText: string, headers: string[], contentLength: number): boolean;
  onBody(chunk: Buffer): boolean;
}

/**
 * Resumable response parser; one per socket, `reset()` before each response. `execute()` returns
 * the offset where it stopped: the end of the input, the end of the message (state P_DONE; bytes
 * left over are the caller's problem), or where the sink asked to stop. -1 = protocol error
 * (state P_ERROR, reason in `error`).
 */
export class H1Parser implements H1FramingState {
  state = P_HEAD;
  error = '';
  /** The connection may carry another request after this response. */
  keepAlive = true;
  /** Server's Keep-Alive timeout hint in ms, -1 when none. */
  keepAliveHintMs = -1;
  /**
   * The response has no body by its request or status (HEAD, 204, 304) but its head announces one
   * (Content-Length > 0 or chunked), or it answers HEAD with no framing field at all: what follows
   * may be a stray body rather than the next response.
   */
  lengthWithoutBody = false;
  /** The final head's reason phrase or a header value holds a byte ≥ 0x80 (its string has a char ≥ U+0080). */
  nonAscii = false;
  private readonly sink: H1ParserSink;
  private headRequest = false;
  // Fields below up to trailerTe are shared with h1-chunk-framing.ts (H1FramingState): not part
  // of the parser's surface for anyone else.
  readonly maxHeaderBytes: number;
  remaining = 0;
  digits = 0;
  lineBytes = 0;
  /** Trailer name bytes matched so far against "content-length" / "transfer-encoding"; -1 = no match. */
  trailerCl = 0;
  trailerTe = 0;
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
    this.lengthWithoutBody = false;
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
          if (!chunkControl(this, buf[off++]!)) return -1;
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
    // every byte of the reason phrase and of the values OR-ed together: bit 7 set = obs-text seen
    let high = 0;
    if (b[p] === SP) {
      const ts = ++p;
      for (;;) {
        const c = b[p]!;
        if (c === CR) break;
        if ((c < SP && c !== HTAB) || c === 0x7f || p >= e) return this.bad('invalid byte in reason phrase');
        high |= c;
        p++;
      }
      if (p - ts === 2 && b[ts] === 0x4f && b[ts + 1] === 0x4b) text = 'OK';
      else if (p > ts) text = b.toString('latin1', ts, p);
    }
    if (b[p] !== CR || b[p + 1] !== LF) return this.bad(b[p] === CR ? 'bare CR in response head' : 'malformed status line');
    p += 2;

    const interim = status < 200;
    // only the reused interim list needs emptying: a `length` store is a V8 runtime call per head
    const headers = interim ? this.scratch : [];
    if (interim) headers.length = 0;
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
        high |= c;
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
    this.nonAscii = (high & 0x80) !== 0;
    let reported: number;
    if (this.headRequest || status === 204 || status === 304) {
      reported = 0;
      this.state = P_DONE;
      // A HEAD answer with no framing field at all says nothing of what follows it either: an
      // upstream answering HEAD as GET writes the body it would close-delimit.
      this.lengthWithoutBody = te || cl > 0 || (cl === -1 && this.headRequest && status !== 204 && status !== 304);
      // The body such a head announces may still come, in a later read: a 204 doing so is out of
      // step (RFC 9110 §15.3.5, §8.6), an upstream sending its body with a HEAD answer is a common
      // bug, and a 304 may carry the representation's length. Its bytes would answer the next
      // request written to this socket — another client's, queued for it. Not reused.
      if (this.lengthWithoutBody) this.keepAlive = false;
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

}
