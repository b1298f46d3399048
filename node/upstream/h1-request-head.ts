// The request head the upstream client writes (RFC 9112): validated method, target, names and
// values, and framing (Content-Length or chunked) derived from what is actually sent.

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: HTAB, SP, VCHAR, obs-text. Anything above 0xFF must go: latin1 keeps only the low byte (U+010A would become LF). */
const BAD_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;
const TARGET_RE = /^[\x21-\x7e]+$/;

/**
 * The request head as one latin1 string, framing added: Content-Length when the length is known,
 * chunked when `body` is set and the length is unknown, `content-length: 0` for body-less
 * POST/PUT/PATCH; caller-supplied content-length/transfer-encoding are dropped. Throws (message
 * only) on a method, target, name or value that is not safe to send. A value equal to `checked`
 * (the caller's proof: HTAB, SP and visible ASCII only) is not scanned again; null = scan all.
 */
export function requestHead(method: string, path: string, headers: readonly string[], hasBody: boolean, contentLength: number, checked: string | null = null): string {
  if (!TOKEN_RE.test(method)) throw new Error('invalid request method');
  // A 2xx to CONNECT turns the socket into a tunnel; this client only relays HTTP messages.
  if (method === 'CONNECT') throw new Error('CONNECT is not supported');
  if (!TARGET_RE.test(path)) throw new Error('invalid request target');
  // each line's CRLF ends the line before it: `\r\nname: ` is one cached string, two concatenations per header instead of four
  let head = method + ' ' + path + ' HTTP/1.1';
  const n = headers.length;
  if ((n & 1) !== 0) throw new Error('odd number of header entries');
  for (let i = 0; i < n; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    // a name in the cache passed TOKEN_RE and is not a framing field (only such names enter it): one lookup instead of the regex
    let start = lineStarts.get(name);
    if (start === undefined) {
      if (!TOKEN_RE.test(name)) throw new Error('invalid header name');
      // Framing is ours alone, derived from what we actually send: a caller's copy is dropped.
      if ((name.length === 14 || name.length === 17) && isFraming(name)) {
        if (value !== checked && BAD_VALUE_RE.test(value)) throw new Error(`invalid value for header ${name}`);
        continue;
      }
      start = lineStart(name);
    }
    // `!==` is a pointer compare when the caller forwards the very string it checked
    if (value !== checked && BAD_VALUE_RE.test(value)) throw new Error(`invalid value for header ${name}`);
    head += start + value;
  }
  if (hasBody) {
    // a body on a method that defines no use for it: the connection is not reused after it (h1-client.ts
    // bodyMayBeUnread), and the upstream is told so — it closes first (the TIME_WAIT is its own, not one
    // of the proxy's ports to that target), and a server that reads no such body runs no request after it
    if (contentLength !== 0 && bodyUnusedBy(method)) head += '\r\nconnection: close';
    head += contentLength >= 0 ? '\r\ncontent-length: ' + contentLength + '\r\n\r\n' : '\r\ntransfer-encoding: chunked\r\n\r\n';
  } else if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    head += '\r\ncontent-length: 0\r\n\r\n';
  } else {
    head += '\r\n\r\n';
  }
  return head;
}

/**
 * `\r\nname: ` per header name, kept for the first LINE_STARTS_MAX names of at most 64 characters (≤ ~50 KB; names a
 * client invents past that are built per request). Only names that passed TOKEN_RE and are not framing fields enter it.
 */
const lineStarts = new Map<string, string>();
const LINE_STARTS_MAX = 512;

/** `name` passed TOKEN_RE and is not a framing field. */
function lineStart(name: string): string {
  const s = '\r\n' + name + ': ';
  if (lineStarts.size < LINE_STARTS_MAX && name.length <= 64) lineStarts.set(name, s);
  return s;
}

/** RFC 9110 §9.3: a method that defines no use for request content (CONNECT is never sent). */
export function bodyUnusedBy(m: string): boolean {
  return m === 'GET' || m === 'HEAD' || m === 'DELETE' || m === 'OPTIONS' || m === 'TRACE' || m === 'CONNECT';
}

function isFraming(name: string): boolean {
  const l = name.toLowerCase();
  return l === 'content-length' || l === 'transfer-encoding';
}
