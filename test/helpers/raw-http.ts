// A raw TCP HTTP/1.1 client for tests that need bytes a normal client refuses to
// send (hop-by-hop headers, malformed request lines, smuggling attempts) or exact
// control over when the body arrives. Parses one response, tolerating truncation.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface RawResponse {
  /** 0 when no status line arrived (connection closed or timed out first). */
  status: number;
  headers: Record<string, string>;
  /** All header lines as received, lower-cased names. */
  headerList: Array<[string, string]>;
  body: Buffer;
  /** The server closed the connection. */
  closed: boolean;
  /** Everything received, for diagnostics. */
  raw: string;
}

/** Parse the first response out of `buf` (body by content-length or chunked, else until close). */
export function parseResponse(buf: Buffer, closed: boolean): RawResponse | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (m === null) return null;
  const headerList: Array<[string, string]> = [];
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headerList.push([k, v]);
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let rest = buf.subarray(end + 4);
  const status = Number(m[1]);
  let body: Buffer;
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    let complete = false;
    for (;;) {
      const le = rest.indexOf('\r\n');
      if (le < 0) break;
      const n = parseInt(rest.subarray(0, le).toString('latin1'), 16);
      if (Number.isNaN(n)) break;
      if (n === 0) { complete = true; break; }
      if (rest.length < le + 2 + n + 2) break;
      parts.push(rest.subarray(le + 2, le + 2 + n));
      rest = rest.subarray(le + 2 + n + 2);
    }
    if (!complete && !closed) return null;
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined && status !== 204 && status !== 304) {
    const n = Number(headers['content-length']);
    if (rest.length < n && !closed) return null;
    body = rest.subarray(0, n);
  } else if (status === 204 || status === 304) {
    body = Buffer.alloc(0);
  } else {
    if (!closed) return null;
    body = rest;
  }
  return { status, headers, headerList, body, closed, raw: buf.toString('latin1') };
}

export interface RawOptions {
  /** Give up waiting after this long (default 5 s): returns what arrived, status 0 if nothing parsable. */
  timeoutMs?: number;
  /** HEAD responses have no body regardless of content-length. */
  head?: boolean;
  /** Wait for the server to close after the response (default: return at the end of the response). */
  waitClose?: boolean;
  /** Close the write side (FIN) after the last chunk, as `nc -N` or `socket.end(request)` do. */
  halfClose?: boolean;
}

/** Open a connection to a loopback port or a unix socket path, write `data` (string or list of chunks written with `gapMs` between), read one response. */
export function rawRequest(port: number | string, data: string | Buffer | Array<string | Buffer>, opts: RawOptions & { gapMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve) => {
    const sock: Socket = typeof port === 'number' ? connect(port, '127.0.0.1') : connect(port);
    const chunks: Buffer[] = [];
    let closed = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const buf = Buffer.concat(chunks);
      const parsed = opts.head ? parseHead(buf, closed) : parseResponse(buf, true);
      const r = parsed === null ? null : { ...parsed, closed };
      resolve(r ?? { status: 0, headers: {}, headerList: [], body: Buffer.alloc(0), closed, raw: buf.toString('latin1') });
      sock.destroy();
    };
    const timer = setTimeout(finish, opts.timeoutMs ?? 5_000);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (opts.waitClose) return;
      const buf = Buffer.concat(chunks);
      const r = opts.head ? parseHead(buf, false) : parseResponse(buf, false);
      if (r !== null) finish();
    });
    sock.on('close', () => { closed = true; finish(); });
    sock.on('error', () => { closed = true; });
    const list = Array.isArray(data) ? data : [data];
    void (async () => {
      for (let i = 0; i < list.length; i++) {
        if (sock.destroyed) return;
        if (i === list.length - 1 && opts.halfClose) sock.end(list[i]!);
        else sock.write(list[i]!);
        if (i < list.length - 1 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    })();
  });
}

function parseHead(buf: Buffer, closed: boolean): RawResponse | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const r = parseResponse(Buffer.concat([buf.subarray(0, end + 4)]), true);
  return r === null ? null : { ...r, body: buf.subarray(end + 4), closed };
}

/** A GET/POST request text with the given extra header lines. */
export function requestText(method: string, target: string, headers: Array<[string, string]> = [], body = ''): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (body !== '' && !headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k))) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A raw TCP upstream (127.0.0.1, port 0): each connection goes to the suite's own handler; close() destroys them all. */
export interface RawUpstream { readonly port: number; readonly url: string; close(): Promise<void> }

/**
 * Start a RawUpstream whose every connection is handed to `onSocket`; socket errors are ignored (the
 * proxy drops connections it gave up on, the suites close them).
 */
export async function startRawUpstream(onSocket: (s: Socket) => void): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => { /* dropped by the proxy or the suite */ });
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port, url: `http://127.0.0.1:${port}`,
    close: () => { for (const s of sockets) s.destroy(); return new Promise<void>((r) => server.close(() => r())); },
  };
}
