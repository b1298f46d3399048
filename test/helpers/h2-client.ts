// node:http2 client calls for the HTTP/2 listener tests: one request on a session (h2c with
// prior knowledge, or h2 over TLS), its status, headers, trailers and body; and the public
// HTTP/2 set-up (echo upstream, proxy, one client session).
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { startEchoUpstream, type EchoUpstream } from '../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from './proxy-process.js';

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: Record<string, unknown> | null;
  /** RST_STREAM code when the stream was reset (0 = ended normally). */
  rstCode: number;
}

/** Open a session to `origin` (http://… = h2c prior knowledge; https://… = h2 by ALPN, any server certificate; `tls`: a client certificate). */
export function h2Connect(origin: string, tls: { cert?: Buffer; key?: Buffer } = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(origin, { rejectUnauthorized: false, ...tls });
    // TLS 1.3: the client is 'connected' before the server has judged its certificate, so a
    // refusal arrives afterwards as a reset on the session — it fails the requests (status 0),
    // and must not surface as an uncaught error
    s.once('connect', () => { s.off('error', reject); s.on('error', () => { /* seen by the requests */ }); resolve(s); });
    s.once('error', reject);
  });
}

/** One request on `session`; never rejects: a reset or failed stream resolves with its rstCode. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Reply> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let resHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status = Number(h[':status']); resHeaders = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c: Buffer) => chunks.push(c));
    // a reset stream emits 'error' and then 'close': the reply carries rstCode (status 0 when no head came)
    req.on('error', () => { /* reported by rstCode */ });
    req.on('close', () => {
      const b = Buffer.concat(chunks);
      const text = b.toString();
      let json: Record<string, unknown> | null = null;
      try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
      resolve({ status, headers: resHeaders, trailers, body: b, text, json, rstCode: req.rstCode ?? 0 });
    });
    if (body !== undefined) req.end(body);
  });
}

/** One request on a fresh session, closed afterwards. */
export async function h2Fetch(origin: string, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Reply> {
  const s = await h2Connect(origin);
  try { return await h2Request(s, headers, body); } finally { s.close(); }
}

/** The HTTP/2 listener's port from the proxy's `listening` log line. */
export function http2PortOf(logs: Array<Record<string, unknown>>): number {
  const l = logs.find((x) => x.msg === 'listening');
  const p = Number(l?.http2Port);
  if (!Number.isInteger(p) || p <= 0) throw new Error(`no http2Port in the listening line: ${JSON.stringify(l)}`);
  return p;
}

/** A proxy config with the HTTP/2 listener on port 0 beside HTTP/1.1 and one unauthenticated route, `/public/*` → `upstreamUrl`. */
export function publicH2Config(upstreamUrl: string): Record<string, unknown> {
  return baseConfig(upstreamUrl, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    routes: [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }],
  });
}

/** The echo upstream, a proxy on publicH2Config in front of it, and one h2c session to its HTTP/2 listener. */
export interface PublicH2 {
  readonly echo: EchoUpstream;
  readonly proxy: ProxyProcess;
  readonly session: ClientHttp2Session;
  /** Close the session, stop the proxy, close the upstream. */
  stop(): Promise<void>;
}

/** Start the echo upstream, the proxy (publicH2Config) and an h2c session to its HTTP/2 port; on a failure what started is stopped. */
export async function startPublicH2(): Promise<PublicH2> {
  const echo = await startEchoUpstream();
  let proxy: ProxyProcess | undefined;
  let session: ClientHttp2Session;
  try {
    proxy = await startProxy(publicH2Config(echo.url), { env: ADMIN_ENV });
    session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
  } catch (err) {
    await proxy?.stop();
    await echo.close();
    throw err;
  }
  return {
    echo, proxy, session,
    async stop() {
      session.close();
      await proxy.stop();
      await echo.close();
    },
  };
}
