// Shared pieces of the WebSocket suites: a client wrapper around `ws` that records messages
// and the close (code, reason, time), the handshake outcome (101 or the HTTP refusal), SSE
// reading over node:http, a one-proxy chat/events config and its bus-member twin, and admin/readiness calls against a proxy process.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import WebSocket from 'ws';
import { clusterMemberConfig } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

export { waitReady };
import { sourceValue } from '../../../node/metrics/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Received { data: Buffer; binary: boolean }
export interface Closed { code: number; reason: string; at: number }

/** An open client socket with its received messages and close. */
export class Client {
  readonly messages: Received[] = [];
  closedWith: Closed | null = null;
  readonly closed: Promise<Closed>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.messages.push({ data, binary });
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString(), at: performance.now() };
        resolve(this.closedWith);
      });
    });
    ws.on('error', () => { /* the close carries it */ });
  }

  get protocol(): string { return this.ws.protocol; }

  /** Wait until `n` messages have arrived in total; rejects at once on close, or after `ms`. */
  async waitFor(n: number, ms = 10_000): Promise<Received[]> {
    await waitFor(`${n} messages`, () => {
      if (this.messages.length >= n) return true;
      if (this.closedWith !== null) throw new Error(`closed (${this.closedWith.code} ${this.closedWith.reason}) after ${this.messages.length} of ${n} messages`);
      return false;
    }, ms, { everyMs: 1, detail: () => `${this.messages.length} arrived` }); // 1 ms: a round trip is a few ms, many per test
    return this.messages.slice(0, n);
  }

  /** Send and wait for the echo (the next message). */
  async roundTrip(data: string | Buffer, ms = 10_000): Promise<Received> {
    const n = this.messages.length + 1;
    this.ws.send(data, { binary: typeof data !== 'string' });
    return (await this.waitFor(n, ms))[n - 1]!;
  }

  /** Wait for the close; rejects after `ms`. */
  async waitClosed(ms = 10_000): Promise<Closed> {
    return Promise.race([this.closed, sleep(ms).then(() => { throw new Error(`socket still open after ${ms} ms`); })]);
  }
}

export type Handshake =
  | { kind: 'open'; client: Client }
  | { kind: 'refused'; status: number; headers: IncomingHttpHeaders; body: string }
  | { kind: 'error'; message: string };

/** Try to open `url`; resolves with the open client, the HTTP refusal, or the error. */
export function handshake(url: string, protocols: string[] = [], headers: Record<string, string> = {}, opts: WebSocket.ClientOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, ...opts });
    let done = false;
    const client = new Client(ws);
    ws.once('open', () => { done = true; resolve({ kind: 'open', client }); });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => { done = true; resolve({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body }); req.destroy(); });
    });
    ws.once('error', (e) => { if (!done) { done = true; resolve({ kind: 'error', message: e.message }); } });
  });
}

/** Open or fail the test with what happened instead. */
export async function open(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<Client> {
  const h = await handshake(url, protocols, headers);
  if (h.kind !== 'open') throw new Error(`expected 101 at ${url}, got ${JSON.stringify(h).slice(0, 500)}`);
  return h.client;
}

export const wsUrl = (p: ProxyProcess, path: string): string => `ws://127.0.0.1:${p.port}${path}`;
export const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

/** A streamed HTTP response being read: events so far, and how it ended. */
export interface Stream {
  status: number;
  text(): string;
  /** Resolves when the response ends: complete = the last chunk arrived (false: cut). */
  ended: Promise<{ complete: boolean; at: number }>;
  destroy(): void;
}

/** GET `url` and read the body as it streams (SSE). */
export function stream(url: string, headers: Record<string, string>): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      const ended = new Promise<{ complete: boolean; at: number }>((done) => {
        res.on('error', () => { /* close follows */ });
        res.on('close', () => done({ complete: res.complete, at: performance.now() }));
      });
      resolve({ status: res.statusCode ?? 0, text: () => body, ended, destroy: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Count SSE events (`data:` lines) seen so far. */
export const sseEvents = (s: Stream): number => s.text().split('\n').filter((l) => l.startsWith('data:')).length;

export async function admin(p: ProxyProcess, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  // a fresh connection per call: a kept-alive one the admin server is closing (keepAliveTimeout
  // 5 s) can be picked for a POST on a loaded machine, which undici then fails with "other side closed"
  const r = await request(`${p.adminUrl}${path}`, {
    method, reset: true, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.body.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* metrics text */ }
  return { status: r.statusCode, body: parsed };
}

/**
 * A bus member's config (clusterMemberConfig, `cluster` as given) with the chat routes: `/chat/*` a WebSocket route
 * to `wsUpstream`, `/<http>/*` (`api` or `events`) to `echoUpstream`; `issuerExtra` keys added to the issuer.
 */
export function chatMemberConfig(issuer: string, wsUpstream: string, echoUpstream: string, cluster: Record<string, unknown>, http: 'api' | 'events', issuerExtra: Record<string, unknown> = {}): Record<string, unknown> {
  return clusterMemberConfig({
    issuers: { demo: { issuer, audiences: ['portcullis-demo'], ...issuerExtra } },
    upstreams: { ws: { targets: [wsUpstream] }, echo: { targets: [echoUpstream] } },
    routes: [
      { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: {} },
      { name: http, match: { path: `/${http}/*` }, upstream: 'echo', auth: {} },
    ],
    cluster,
  });
}

/**
 * A one-proxy config: `/chat/*` a WebSocket route to `wsUpstream`, `/events/*` to `echoUpstream`, both
 * needing a token of the `demo` issuer `issuer` (audience portcullis-demo; `issuerExtra` keys added);
 * log level info with access lines, one verifier thread.
 */
export function chatEventsConfig(issuer: string, wsUpstream: string, echoUpstream: string, issuerExtra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer, audiences: ['portcullis-demo'], ...issuerExtra } },
    upstreams: { ws: { targets: [wsUpstream] }, echo: { targets: [echoUpstream] } },
    routes: [
      { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: {} },
      { name: 'events', match: { path: '/events/*' }, upstream: 'echo', auth: {} },
    ],
    log: { level: 'info', access: true },
    verifier: { pool_size: 1 },
  };
}

/** The environment of the opaque-token suites: the admin token and the introspection client's secret. */
export const OPAQUE_ENV: Record<string, string> = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };

/**
 * A ready proxy judging the `demo` issuer's tokens (`issuer`, audience portcullis-demo) by
 * introspection (`introspection`: cache_ttl_s, timeout_ms, endpoint…, added to the client's id and
 * secret), with one WebSocket route `route` (name, match, auth) to `wsUpstream`; one verifier thread.
 */
export async function startOpaqueWsProxy(issuer: string, wsUpstream: string, route: Record<string, unknown>, introspection: Record<string, unknown>, level = 'warn'): Promise<ProxyProcess> {
  const proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer, audiences: ['portcullis-demo'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', ...introspection } } },
    upstreams: { ws: { targets: [wsUpstream] } },
    routes: [{ upstream: 'ws', websocket: true, ...route }],
    log: { level, access: false },
    verifier: { pool_size: 1 },
  }, { env: OPAQUE_ENV });
  await waitReady(proxy);
  return proxy;
}

/** The websocket counter `name` (`websocket.<name>`) read from the family /metrics exports it as; NaN when absent. */
export async function wsMetric(p: ProxyProcess, name: string): Promise<number> {
  const m = await admin(p, 'GET', '/metrics');
  return sourceValue(String(m.body), `websocket.${name}`);
}

/** The `jti` claim of a JWT (no verification). */
export const jtiOf = (jwt: string): string => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).jti as string;
export const expOf = (jwt: string): number => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).exp as number;
