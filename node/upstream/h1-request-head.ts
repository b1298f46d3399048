// The request head the upstream client writes (RFC 9112): validated method, target, names and
// values, and framing (Content-Length or chunked) derived from what is actually sent.

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: HTAB, SP, VCHAR, obs-text. Anything above 0xFF must go: latin1 keeps only the low byte (U+010A would become LF). */
const BAD_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;
const TARGET_RE = /^[\x21-\x7e]+$/;

/**
 * The head's pieces, reused by every call: one `join` makes the head one flat string (one copy, one
 * allocation), where `+=` built a rope of cons strings that the socket write then flattened again
 * (two allocations of the head's size per request, measured with a heap sampling profile). Every slot
 * is '' between calls (no token lingers here); the array shrinks back when a large head left it long.
 */
let parts: string[] = [];

/**
 * The request head as one latin1 string, framing added: Content-Length when the length is known,
 * chunked when `body` is set and the length is unknown, `content-length: 0` for body-less
 * POST/PUT/PATCH; caller-supplied content-length/transfer-encoding are dropped. Throws (message
 * only) on a method, target, name or value that is not safe to send.
 */
export function requestHead(method: string, path: string, headers: readonly string[], hasBody: boolean, contentLength: number): string {
  if (!TOKEN_RE.test(method)) throw new Error('invalid request method');
  // A 2xx to CONNECT turns the socket into a tunnel; this client only relays HTTP messages.
  if (method === 'CONNECT') throw new Error('CONNECT is not supported');
  if (!TARGET_RE.test(path)) throw new Error('invalid request target');
  const n = headers.length;
  if ((n & 1) !== 0) throw new Error('odd number of header entries');
  for (let i = 0; i < n; i += 2) {
    if (!TOKEN_RE.test(headers[i]!)) throw new Error('invalid header name');
    if (BAD_VALUE_RE.test(headers[i + 1]!)) throw new Error(`invalid value for header ${headers[i]!}`);
  }
  const p = parts;
  let k = 0;
  p[k++] = method; p[k++] = ' '; p[k++] = path; p[k++] = ' HTTP/1.1\r\n';
  for (let i = 0; i < n; i += 2) {
    const name = headers[i]!;
    // Framing is ours alone, derived from what we actually send: a caller's copy is dropped.
    if ((name.length === 14 || name.length === 17) && isFraming(name)) continue;
    p[k++] = name; p[k++] = ': '; p[k++] = headers[i + 1]!; p[k++] = '\r\n';
  }
  if (hasBody) {
    if (contentLength >= 0) { p[k++] = 'content-length: '; p[k++] = String(contentLength); p[k++] = '\r\n\r\n'; } else p[k++] = 'transfer-encoding: chunked\r\n\r\n';
  } else if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    p[k++] = 'content-length: 0\r\n\r\n';
  } else {
    p[k++] = '\r\n';
  }
  const head = p.join('');
  if (p.length > 128 && p.length > 4 * k) parts = [];
  else for (let i = 0; i < k; i++) p[i] = '';
  return head;
}

function isFraming(name: string): boolean {
  const l = name.toLowerCase();
  return l === 'content-length' || l === 'transfer-encoding';
}
