// The upstream's response head as the client gets it through uWS: the status line, every header
// except the hop-by-hop ones (node/pipeline/forward.ts RESPONSE_DROPPED, and those Connection
// names), the representation's length for HEAD/304, headers a stage added (DPoP-Nonce…) and,
// when on, X-Portcullis-Policy (the upstream's own copy of it dropped: only the proxy names its policy).
// The caller holds the uWS cork.
import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from 'uWebSockets.js';
import { connectionNamed, POLICY_HEADER, RESPONSE_DROPPED } from '../pipeline/index.js';
import { statusLine } from './respond.js';

/** A char U+0080–U+00FF: a byte ≥ 0x80 of the upstream's head (values are latin1 strings). */
const NON_ASCII = /[\u0080-\u00ff]/;

/**
 * `v` for uWS: uWS sends a string UTF-8-encoded, so one holding chars ≥ U+0080 (bytes ≥ 0x80 read
 * one char per byte) goes as its latin1 bytes, to reach the client as the upstream sent it.
 */
function asSent(v: string): string | Buffer {
  return NON_ASCII.test(v) ? Buffer.from(v, 'latin1') : v;
}

/**
 * `\r\nname: ` per response header name, kept for the first LINE_STARTS_MAX names of at most 64
 * characters (≤ ~50 KB); names past that are built per response.
 */
const lineStarts = new Map<string, string>();
const LINE_STARTS_MAX = 512;

function lineStart(name: string): string {
  let s = lineStarts.get(name);
  if (s === undefined) {
    s = '\r\n' + name + ': ';
    if (lineStarts.size < LINE_STARTS_MAX && name.length <= 64) lineStarts.set(name, s);
  }
  return s;
}

/**
 * Write status and headers. `headers`: flat [lowercased-name, value…] as received. `head`: the
 * request was HEAD. `extra`: headers the pipeline adds (flat list), or null. `policy`: the
 * snapshot's `X-Portcullis-Policy` value, or null (off). `nonAscii`: the upstream's reason phrase
 * or values may hold bytes ≥ 0x80 (written as bytes); false skips that check.
 */
export function writeUpstreamHead(res: HttpResponse, status: number, statusText: string, headers: readonly string[], head: boolean, extra: readonly string[] | null | undefined, policy: string | null = null, nonAscii = false): void {
  // the standard reason phrase (nearly every response) takes the cached line: no string per response.
  // `200 OK` is uWS's own line when no status was written (its first header or end writes it): one
  // crossing less per response, with its UTF-8 copy of the argument (~60 ns, bench/RESULTS.md 2026-12-06 14:10)
  const standard = statusText === '' || statusText === STATUS_CODES[status];
  if (!standard || status !== 200) res.writeStatus(standard ? statusLine(status) : nonAscii ? asSent(`${status} ${statusText}`) : `${status} ${statusText}`);
  const h = headers;
  let connection: string | null = null;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === 'connection') connection = connection === null ? h[i + 1]! : `${connection},${h[i + 1]!}`;
  }
  const named = connectionNamed(connection);
  let cl: string | null = null;
  // the forwarded lines go to uWS in one writeHeader: the first name, and as its value the rest of the
  // block (`v1\r\nname2: v2…`) — the same bytes as one call per header (uWS writes `name: value\r\n`
  // as given; the parser let no CR or LF into a value), one crossing and its two UTF-8 copies instead
  // of one per header (bench/RESULTS.md 2026-12-07 14:06). Bytes ≥ 0x80 keep one call per header (asSent).
  let first: string | null = null;
  let block = '';
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (RESPONSE_DROPPED.has(name)) {
      if (name === 'content-length') cl = h[i + 1]!;
      continue;
    }
    if (named !== null && named.has(name)) continue;
    if (policy !== null && name === POLICY_HEADER) continue;
    if (nonAscii) res.writeHeader(name, asSent(h[i + 1]!));
    else if (first === null) { first = name; block = h[i + 1]!; }
    else block += lineStart(name) + h[i + 1]!;
  }
  if (first !== null) res.writeHeader(first, block);
  // HEAD and 304 keep the representation's length; 204 never has one.
  if ((head || status === 304) && status !== 204 && cl !== null) res.writeHeader('content-length', cl);
  if (extra != null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
  if (policy !== null) res.writeHeader(POLICY_HEADER, policy);
}
