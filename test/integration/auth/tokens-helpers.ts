// Shared pieces of the token integration suites: an issuer block for the demo
// authorization server, a strict RFC 6750 challenge parser, HTTP calls that
// return status/headers/JSON, a tiny recording server for attacker URLs, and the
// "JWKS down at start" set-up of the readiness suites.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';

export const AUDIENCE = 'portcullis-demo';
export const INTROSPECTION_SECRET = 'portcullis-secret';
export const SECRET_ENV = { PORTCULLIS_TEST_INTROSPECTION_SECRET: INTROSPECTION_SECRET };

/** An `issuers.<name>` block for the demo authorization server; `extra` is merged over it. */
export function asIssuer(as: AuthServer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { issuer: as.issuer, audiences: [AUDIENCE], algorithms: ['RS256', 'ES256'], ...extra };
}

/** The introspection section of an issuer: client `portcullis`, secret from SECRET_ENV. */
export function introspection(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_id: 'portcullis', client_secret_env: 'PORTCULLIS_TEST_INTROSPECTION_SECRET', ...extra };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parsed JSON body, or null when it is not JSON. */
  json: Record<string, unknown> | null;
}

/** One request through undici; never throws on a status. */
export async function call(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const r = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers ?? {} });
  const text = await r.body.text();
  let json: Record<string, unknown> | null = null;
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: r.statusCode, headers: r.headers, text, json };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** What the echo upstream saw, from its JSON echo. */
export function echoed(r: Reply): { url: string; headers: Record<string, string> } {
  expect(r.status, r.text).toBe(200);
  return r.json as unknown as { url: string; headers: Record<string, string> };
}

/**
 * Strict parse of one `Bearer` challenge (RFC 7235 §2.1, RFC 6750 §3):
 * `Bearer` 1*SP auth-param *(OWS "," OWS auth-param), every value a quoted-string
 * without escapes; throws on anything else or on a repeated attribute.
 */
export function parseChallenge(value: string): { scheme: string; params: Record<string, string> } {
  const m = /^(Bearer) +(.*)$/.exec(value);
  if (m === null) throw new Error(`not a Bearer challenge: ${value}`);
  const params: Record<string, string> = {};
  const re = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)="([\x20\x21\x23-\x5b\x5d-\x7e]*)"(?:[ \t]*,[ \t]*|$)/;
  let rest = m[2]!;
  while (rest.length > 0) {
    const p = re.exec(rest);
    if (p === null) throw new Error(`bad auth-param list in challenge: ${value}`);
    if (Object.hasOwn(params, p[1]!)) throw new Error(`attribute ${p[1]} repeated in challenge: ${value}`);
    params[p[1]!] = p[2]!;
    rest = rest.slice(p[0].length);
  }
  return { scheme: m[1]!, params };
}

const RFC6750_ERRORS = new Set(['invalid_request', 'invalid_token', 'insufficient_scope']);

/**
 * Assert the RFC 6750 answer of a refusal: status, challenge and JSON body.
 * `error` null = no credentials: the challenge is exactly `Bearer realm="portcullis"`.
 */
export function expectBearerError(r: Reply, status: number, error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | null, scope?: string): void {
  expect(r.status, r.text).toBe(status);
  const h = r.headers['www-authenticate'];
  expect(typeof h, 'exactly one WWW-Authenticate header').toBe('string');
  if (error === null) {
    expect(h).toBe('Bearer realm="portcullis"');
    expect(r.json).toMatchObject({ error: 'unauthorized', code: 'PORTCULLIS_ERR_AUTH_MISSING' });
    return;
  }
  const c = parseChallenge(h as string);
  expect(c.params.realm).toBe('portcullis');
  expect(c.params.error).toBe(error);
  expect(RFC6750_ERRORS.has(c.params.error!)).toBe(true);
  const allowed = new Set(['realm', 'error', 'error_description', ...(error === 'insufficient_scope' ? ['scope'] : [])]);
  for (const k of Object.keys(c.params)) expect(allowed.has(k), `unexpected challenge attribute ${k}`).toBe(true);
  if (scope !== undefined) {
    expect(c.params.scope).toBe(scope);
    expect(r.json?.scope).toBe(scope);
  }
  expect(r.json?.error).toBe(error);
}

/** Assert a 503 that asks the client to come back: Retry-After in seconds, never a challenge. */
export function expectUnavailable(r: Reply): void {
  expect(r.status, r.text).toBe(503);
  expect(String(r.headers['retry-after'])).toMatch(/^[1-9]\d*$/);
  expect(r.json?.error).toBe('temporarily_unavailable');
}

/** Run `fn` and assert the upstream request counter did not move (nothing was forwarded). */
export async function notForwarded<T>(counter: () => number, fn: () => Promise<T>): Promise<T> {
  const before = counter();
  const out = await fn();
  // a forwarded request would have reached the upstream before the response came back
  expect(counter(), 'a refused request reached the upstream').toBe(before);
  return out;
}

/** Poll `/readyz` until 200 (keys loaded, introspection endpoints known); fails after `ms`. */
export async function waitReady(proxy: ProxyProcess, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await call(`${proxy.adminUrl}/readyz`);
    if (r.status === 200) return;
    if (Date.now() > end) throw new Error(`proxy not ready after ${ms} ms: ${r.text}`);
    await sleep(25);
  }
}

/** Read `GET /metrics` with the admin token. */
export async function metrics(proxy: ProxyProcess, adminToken: string): Promise<string> {
  const r = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(adminToken) });
  expect(r.status).toBe(200);
  return r.text;
}

/** A value of a Prometheus sample line (exact label text), or null when absent. */
export function sample(text: string, nameAndLabels: string): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith(nameAndLabels + ' ')) return Number(line.slice(nameAndLabels.length + 1));
  }
  return null;
}

/** A node:http server that records every request and answers with `handler` (default 404). */
export interface Recorder {
  url: string;
  hits: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  close(): Promise<void>;
}

export async function startRecorder(handler?: (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>): Promise<Recorder> {
  const hits: Recorder['hits'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (handler === undefined) { res.writeHead(404).end(); return; }
      Promise.resolve(handler(req, body, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, hits,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A demo authorization server with its JWKS down, the echo upstream, and a proxy (`routes` on upstream `app`, demo issuer, jwks timeout 500 ms) started against them: DESIGN §4's "JWKS unreachable at start". */
export interface JwksDownStart { as: AuthServer; echo: EchoUpstream; proxy: ProxyProcess; stop(): Promise<void> }

/** Start JwksDownStart; `args`/`timeoutMs` pass to startProxy (e.g. `--workers 2`). */
export async function startWithJwksDown(routes: unknown[], opts: { args?: string[]; timeoutMs?: number } = {}): Promise<JwksDownStart> {
  const as = await startAuthServer();
  const echo = await startEchoUpstream();
  as.setJwks('down');
  const proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { jwks: { timeout_ms: 500 } }) }, // max_refresh_s: its default, 3600 s
    routes,
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV, ...opts });
  return { as, echo, proxy, stop: async () => { await proxy.stop(); await Promise.all([as.close(), echo.close()]); } };
}
