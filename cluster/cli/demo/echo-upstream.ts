// Real node:http upstreams for dev mode, tests and benches: an echo server with
// special paths for sizes, statuses, delays, resets and SSE, and a minimal fixed
// `hello` responder for throughput baselines.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options for `startEchoUpstream`. */
export interface EchoUpstreamOptions {
  host?: string; // default 127.0.0.1
  port?: number; // default 0 (ephemeral)
  name?: string; // reported as `upstream` in every echo body; default 'echo'
}

/** A running echo upstream. Counters are live. */
export interface EchoUpstream {
  url: string;
  port: number;
  /** Requests received (all paths). */
  readonly requests: number;
  /** Method, URL and headers of the most recent request; null before the first. */
  readonly lastRequest: { method: string; url: string; headers: IncomingHttpHeaders } | null;
  /** Requests whose client went away before the response finished (SSE streams always count). */
  readonly aborted: number;
  /** Stops listening and destroys every open connection, hanging ones included. */
  close(): Promise<void>;
}

/** A running fixed-response upstream. */
export interface CheapUpstream { url: string; port: number; close(): Promise<void> }

const CHUNK = 64 * 1024; // 64 KiB per write
const FILL = Buffer.alloc(CHUNK, 'x'); // never mutated, so it is safe to queue repeatedly
// Special routes match the end of the path, so a proxy route prefix (/public/bytes/10) still reaches them.
const NUMERIC = /\/(bytes|chunked|status|slow)\/(\d+)$/;
const BARE = /\/(hang|reset|reset-mid|sink|sse)$/;

async function listen(server: Server, host: string, port: number): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const p = (server.address() as AddressInfo).port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${p}`, port: p };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Counts the request body's bytes without keeping them; resolves at its end (0 if the client left). */
function drain(req: IncomingMessage): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => resolve(n));
    req.on('close', () => resolve(n));
  });
}

/** Writes n filler bytes in 64 KiB chunks, waiting for 'drain' whenever write() reports backpressure. */
async function stream(res: ServerResponse, n: number): Promise<void> {
  let left = n;
  while (left > 0 && !res.destroyed) {
    const size = Math.min(left, CHUNK);
    left -= size;
    if (!res.write(size === CHUNK ? FILL : FILL.subarray(0, size))) {
      await new Promise<void>((resolve) => {
        const done = (): void => { res.off('drain', done); res.off('close', done); resolve(); };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  if (!res.destroyed) res.end();
}

/** Starts the echo upstream on host:port (default 127.0.0.1:0). */
export async function startEchoUpstream(opts: EchoUpstreamOptions = {}): Promise<EchoUpstream> {
  const name = opts.name ?? 'echo';
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let aborted = 0;
  let lastRequest: EchoUpstream['lastRequest'] = null;
  const selfReset = new WeakSet<ServerResponse>(); // resets we caused are not client aborts

  const echo = (req: IncomingMessage, res: ServerResponse, bodyBytes: number, status = 200): void => {
    if (res.destroyed) return;
    const body = JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers, bodyBytes });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
    return t;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    const numeric = NUMERIC.exec(path);
    const route = numeric?.[1] ?? BARE.exec(path)?.[1] ?? 'echo';
    const n = numeric ? Number(numeric[2]) : 0;
    switch (route) {
      case 'bytes':
      case 'chunked': {
        if (!Number.isSafeInteger(n)) { echo(req, res, await drain(req), 400); return; }
        await drain(req);
        const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
        if (route === 'bytes') headers['content-length'] = n;
        res.writeHead(200, headers);
        await stream(res, n);
        return;
      }
      case 'status': {
        const bytes = await drain(req);
        if (n < 200 || n > 599) { echo(req, res, bytes, 400); return; }
        if (n === 204 || n === 304) { res.writeHead(n); res.end(); return; }
        echo(req, res, bytes, n);
        return;
      }
      case 'slow': {
        const bytes = await drain(req);
        const t = later(n, () => echo(req, res, bytes));
        res.on('close', () => { clearTimeout(t); timers.delete(t); });
        return;
      }
      case 'hang':
        req.resume();
        return;
      case 'reset':
        selfReset.add(res);
        req.socket.destroy();
        return;
      case 'reset-mid':
        await drain(req);
        selfReset.add(res);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 4 * CHUNK });
        res.write(FILL, () => req.socket.destroy());
        return;
      case 'sse': {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        let id = 0;
        const tick = (): void => { res.write(`id: ${id}\nevent: tick\ndata: {"upstream":${JSON.stringify(name)},"n":${id}}\n\n`); id++; };
        tick();
        const t = setInterval(tick, 100);
        timers.add(t);
        res.on('close', () => { clearInterval(t); timers.delete(t); });
        return;
      }
      default: // 'sink' and every other path
        echo(req, res, await drain(req));
    }
  };

  const server = createServer((req, res) => {
    requests++;
    lastRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    res.on('close', () => { if (!res.writableFinished && !selfReset.has(res)) aborted++; });
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000; // must outlive keepAliveTimeout so idle pooled sockets are not cut early
  const { url, port } = await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0);

  return {
    url, port,
    get requests() { return requests; },
    get lastRequest() { return lastRequest; },
    get aborted() { return aborted; },
    close: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return closeServer(server);
    },
  };
}

/** Starts the cheapest possible upstream: every request gets 200 `hello` (text/plain, keep-alive). */
export async function startCheapUpstream(port = 0): Promise<CheapUpstream> {
  const headers = { 'content-type': 'text/plain', 'content-length': '5' };
  const server = createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end('hello');
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  const addr = await listen(server, '127.0.0.1', port);
  return { ...addr, close: () => closeServer(server) };
}
