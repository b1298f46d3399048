// Which request bytes the proxy can forward unchanged. uWebSockets.js hands header values and
// the query to JS as UTF-8-decoded strings (a lone 0x80 becomes U+FFFD, "é" one U+00E9), so a
// byte outside ASCII cannot be written upstream as it arrived: such requests are refused (400).
// Used by every listener that reads a request (uWS main port, the decision unix socket, HTTP/2).

/**
 * True when `s` holds only code units 0x00–0x7E. uWS itself refuses every CTL but HTAB in header
 * values and the query (measured: test/integration/dataplane/uws-framing-limits.test.ts), so this
 * is "visible ASCII, SP and HTAB" for what reaches JS. Two native scans, no regex: Buffer.byteLength
 * counts a char ≥ 0x80 as two or more UTF-8 bytes, and DEL is the one ASCII char left to exclude.
 */
export function visibleAscii(s: string): boolean {
  return Buffer.byteLength(s, 'utf8') === s.length && s.indexOf('\x7f') === -1;
}

/**
 * Reads a uWS request's headers into one flat array (`[name, value, …]`), counting their size as
 * sent ("name: value\r\n") and noting the first header whose value fails visibleAscii. One per
 * listener: `collect` is bound once, so `req.forEach(c.collect)` allocates no closure per request.
 */
export class HeaderCollector {
  headers: string[] = [];
  /** Size of the headers as sent, bytes. */
  bytes = 0;
  /** Name of the first header whose value fails visibleAscii(), else null. */
  bad: string | null = null;

  /** Start a request: its headers go into `into`. */
  start(into: string[]): void {
    this.headers = into;
    this.bytes = 0;
    this.bad = null;
  }

  readonly collect = (k: string, v: string): void => {
    this.headers.push(k, v);
    this.bytes += k.length + v.length + 4;
    if (this.bad === null && !visibleAscii(v)) this.bad = k;
  };
}
