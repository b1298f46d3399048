// Shared pieces of the service-to-service suites: an upstream that verifies the bearer
// token it receives with jose (createRemoteJWKSet against a JWKS URL, e.g. the proxy's own)
// and echoes the verified claims, the config of a proxy minting internal tokens for it, plus HTTP,
// admin and stats helpers.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { request } from 'undici';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';

export const sha256hex = (t: string): string => createHash('sha256').update(t).digest('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One request as the upstream saw it. */
export interface Received {
  at: number;
  headers: IncomingMessage['headers'];
  /** The bearer token sent, or null. */
  token: string | null;
  /** Verified claims and header, or the jose error code. */
  verified: { payload: JWTPayload; kid: string | undefined; alg: string } | null;
  error: string | null;
}

export interface VerifyingUpstream {
  url: string;
  received: Received[];
  /** Verify against this JWKS from now on (the proxy's URL is known only after it started). */
  trust(jwksUrl: string, issuer: string, audience: string | string[], opts?: { cacheMaxAgeMs?: number }): void;
  /** Verify one token now, as the upstream would (used to replay an old token later). */
  verify(token: string): Promise<Received['verified']>;
  close(): Promise<void>;
}

/**
 * Answers 200 with `{ claims, kid }` when the bearer token verifies (iss, aud, typ at+jwt,
 * ES256/EdDSA/RS256), 401 `{ error }` otherwise, 200 `{ untrusted: true }` before trust().
 */
export async function startVerifyingUpstream(): Promise<VerifyingUpstream> {
  const received: Received[] = [];
  let check: ((token: string) => Promise<Received['verified']>) | null = null;
  const server: Server = createServer((req, res) => {
    req.resume();
    const auth = req.headers.authorization;
    const token = typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7) : null;
    const r: Received = { at: Date.now(), headers: req.headers, token, verified: null, error: null };
    received.push(r);
    const reply = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };
    if (check === null) { reply(200, { untrusted: true, headers: req.headers }); return; }
    if (token === null) { r.error = 'no_token'; reply(401, { error: 'no_token' }); return; }
    check(token).then((v) => { r.verified = v; reply(200, { claims: v!.payload, kid: v!.kid, alg: v!.alg, headers: req.headers }); },
      (err: { code?: string; message?: string }) => { r.error = err.code ?? String(err.message); reply(401, { error: r.error }); });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, received,
    trust(jwksUrl, issuer, audience, opts = {}) {
      // default cooldown (30 s): an unknown kid is not refetched at once, so only a key already
      // in the (max-age bounded) cached set can verify — what publish-ahead must guarantee
      const jwks = createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: opts.cacheMaxAgeMs ?? 600_000 });
      check = async (token) => {
        const v = await jwtVerify(token, jwks, { issuer, audience, typ: 'at+jwt', algorithms: ['ES256', 'EdDSA', 'RS256'] });
        return { payload: v.payload, kid: v.protectedHeader.kid, alg: v.protectedHeader.alg };
      };
    },
    verify: (token) => {
      if (check === null) throw new Error('trust() first');
      return check(token);
    },
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

export const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;

export interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }

export async function call(url: string, opts: { method?: string; token?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const r = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers });
  const text = await r.body.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.statusCode, headers: r.headers, text, json };
}

/** GET from the admin API with the test admin token. */
export function adminGet(p: ProxyProcess, path: string): Promise<Answer> {
  return call(`${p.adminUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
}

/** POST JSON to the admin API. */
export async function adminPost(p: ProxyProcess, path: string, body: unknown): Promise<Answer> {
  const r = await request(`${p.adminUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, text, json: JSON.parse(text) };
}

/** `GET /cache/stats` as numbers. */
export async function stats(p: ProxyProcess): Promise<Record<string, number>> {
  const r = await adminGet(p, '/cache/stats');
  if (r.status !== 200) throw new Error(`cache/stats ${r.status}: ${r.text}`);
  return r.json as Record<string, number>;
}

export { waitReady } from '../../helpers/proxy-process.js';

/** A fresh P-256 private key, PKCS#8 PEM: an `internal_tokens.key_file`'s content. */
export const ecPem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

/**
 * A proxy config whose `/orders/*` route (any valid token of `as`, issuer `demo`) forwards to
 * `upstreamUrl` with an internal token minted by `internal` (the `internal_tokens` section).
 */
export function internalTokenConfig(as: AuthServer, upstreamUrl: string, internal: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { orders: { targets: [upstreamUrl] } },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'internal' } }],
    internal_tokens: internal,
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}
