// Shared bits of the authorization integration suites: an issuer entry pointing at a
// live demo authorization server, readiness polling, and one-call HTTP helpers that
// return status, headers and the parsed echo body.
import { request } from 'undici';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

export const AUD = 'portcullis-demo';

/** An `issuers:` entry for a live demo authorization server (discovery → JWKS). */
export function issuerFor(as: AuthServer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { issuer: as.issuer, audiences: [AUD], ...extra };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parsed JSON body, or null. */
  json: Record<string, any> | null;
}

/** One request; `token` goes into `Authorization: Bearer`. Fresh connection when `fresh`. */
export async function call(url: string, opts: { method?: string; token?: string; headers?: Record<string, string>; fresh?: boolean; body?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.fresh) headers.connection = 'close';
  const r = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await r.body.text();
  let json: Record<string, any> | null = null;
  try { json = JSON.parse(text) as Record<string, any>; } catch { /* not JSON */ }
  return { status: r.statusCode, headers: r.headers as Answer['headers'], text, json };
}

/** Admin call with the test admin token. */
export function admin(p: ProxyProcess, method: string, path: string, body?: unknown): Promise<Answer> {
  return call(`${p.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** Poll /readyz (with the admin token: its details) until 200 (keys loaded); throws with the last body otherwise. */
export async function waitReady(p: ProxyProcess, ms = 8_000): Promise<Record<string, any>> {
  let last: Answer | null = null;
  await waitFor('/readyz 200 (keys loaded)', async () => {
    last = await call(`${p.adminUrl}/readyz`, { token: ADMIN_TOKEN });
    return last.status === 200;
  }, ms, { detail: () => `${last === null ? 'no answer' : (last as Answer).text}\n${p.output()}` });
  return (last as unknown as Answer).json!;
}

