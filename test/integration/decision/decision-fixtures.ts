// Shared pieces of the decision-endpoint suites: a policy with one route per kind of verdict,
// the decision section, and one HTTP call that returns status, headers and the JSON body.
import { request } from 'undici';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';

export const INTROSPECTION_SECRET = 'portcullis-secret';
export const INTERNAL_ISS = 'https://portcullis.test';

/**
 * Routes: /orders/* needs orders:read; /admin/* needs admin; /public/* is auth: none;
 * /internal/* swaps the token for an internal one; /stripped/* strips Authorization;
 * /dpop/* wants DPoP-bound tokens only; /nonce/* DPoP with a server nonce; /ws/* takes WebSockets.
 */
export function decisionPolicy(as: AuthServer, upstream: string): Record<string, unknown> {
  return {
    issuers: {
      demo: {
        issuer: as.issuer, audiences: ['portcullis-demo'],
        introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', timeout_ms: 2_000 },
      },
    },
    upstreams: { app: { targets: [upstream] }, ledger: { targets: [upstream], audience: 'ledger-api' } },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'admin', match: { path: '/admin/*' }, upstream: 'app', auth: { scopes: { all: ['admin'] } } },
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'internal', match: { path: '/internal/*' }, upstream: 'ledger', auth: {}, forward: { token: 'internal' } },
      { name: 'stripped', match: { path: '/stripped/*' }, upstream: 'app', auth: {}, forward: { authorization: 'strip' } },
      { name: 'dpop', match: { path: '/dpop/*' }, upstream: 'app', auth: { dpop: { required: true } } },
      { name: 'ws', match: { path: '/ws/*' }, upstream: 'app', auth: {}, websocket: true },
      { name: 'dpop-nonce', match: { path: '/nonce/*' }, upstream: 'app', auth: { dpop: { required: true, nonce: true } } },
    ],
    internal_tokens: { issuer: INTERNAL_ISS, max_ttl_s: 120 },
  };
}

export const DECISION = {
  endpoints: [
    { path: '/_portcullis/auth', dialect: 'auto' },
    { path: '/_portcullis/ext_authz', dialect: 'envoy' },
  ],
};

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown> | null;
}

/** One request; never throws on a status. */
export async function send(url: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<Answer> {
  const r = await request(url, { method: method as 'GET', headers, ...(body !== undefined ? { body } : {}) });
  const text = await r.body.text();
  let json: Record<string, unknown> | null = null;
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: r.statusCode, headers: r.headers, text, json };
}

/**
 * Poll the admin /readyz until 200 (and, with `peers`, until the cluster has that many members):
 * a decision call before the signing keys are loaded answers 503, which is right but not what
 * the suites test. Generous deadline: the CI machine is loaded.
 */
export async function waitReady(adminUrl: string, adminToken: string, peers?: number): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const r = await send(`${adminUrl}/readyz`, { authorization: `Bearer ${adminToken}` });
    if (r.status === 200 && (peers === undefined || (r.json as { cluster?: { members?: number } }).cluster?.members === peers)) return;
    if (Date.now() > end) throw new Error(`proxy not ready${peers === undefined ? '' : ` with ${peers} members`}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The `jti` claim of a JWT (no verification: the test minted it). */
export function jtiOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
}

/** The payload of a JWT, unverified. */
export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}
