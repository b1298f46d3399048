// Revocations for `portcullis explain --token`: they live in the running members' stores, not in
// FILE, so the CLI asks the instance at FILE's admin listener (admin POST /explain, loopback only:
// the token is sent) whether it refuses the token as revoked.
import type { Config } from '../../node/config/index.js';

/** What the running instance said about the token's revocation. */
export type RevocationCheck =
  | { readonly kind: 'refused'; readonly at: string; readonly status: number; readonly reason: string }
  | { readonly kind: 'not_revoked'; readonly at: string }
  | { readonly kind: 'unchecked'; readonly why: string };

/** How long the instance has to answer (head and body), ms. */
export const ASK_MS = 5_000;

/** The instance's token refusals that come from its revocation state (node/auth/token-check.ts), not from FILE. */
const REVOCATION_REASONS: ReadonlySet<string> = new Set(['revoked', 'revocations_catching_up', 'revocation_bus_lost', 'revocations_incomplete', 'revocations_primary_silent', 'revocations_bus_catching_up']);

/** 127.0.0.0/8, ::1, localhost, and the wildcard addresses (reached on loopback). Null for anything else. */
export function loopbackBase(host: string, port: number): string | null {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === '0.0.0.0' || h === '' || h === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return `http://127.0.0.1:${port}`;
  if (h === '::' || h === '::1') return `http://[::1]:${port}`;
  return null;
}

/**
 * Ask the instance at `config`'s admin listener whether it refuses `token` as revoked, as it would
 * for `req` (its POST /explain). `unchecked` — never an error — when the listener is not on this
 * host or has no fixed port, no admin token is set, or nothing answers within 5 s.
 */
export async function revocationAtInstance(config: Config, env: NodeJS.ProcessEnv, req: { method: string; path: string; host?: string; token: string }): Promise<RevocationCheck> {
  const { host, port } = config.admin.listen;
  if (port === 0) return { kind: 'unchecked', why: 'admin.listen.port is 0, so no instance can be found' };
  const base = loopbackBase(host, port);
  if (base === null) return { kind: 'unchecked', why: `admin.listen.host is not on this host's loopback (the token is not sent over the network); ask a member with admin POST /explain` };
  const bearer = config.admin.token_env === undefined ? undefined : env[config.admin.token_env];
  if (bearer === undefined || bearer === '') return { kind: 'unchecked', why: 'no admin token (admin.token_env) to ask the instance with' };
  try {
    const res = await fetch(`${base}/explain`, {
      method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(ASK_MS),
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ method: req.method, path: req.path, token: req.token, ...(req.host !== undefined ? { host: req.host } : {}) }),
    });
    const body = await res.json().catch((err: unknown) => { if (isTimeout(err)) throw err; return null; }) as { status?: unknown; token?: { ok?: unknown; reason?: unknown } | null } | null;
    if (res.status !== 200 || body === null) return { kind: 'unchecked', why: `the instance at ${base} answered ${res.status}` };
    const reason = body.token?.reason;
    if (typeof reason === 'string' && REVOCATION_REASONS.has(reason)) return { kind: 'refused', at: base, status: typeof body.status === 'number' ? body.status : 401, reason };
    if (body.token === null || body.token === undefined) return { kind: 'unchecked', why: `the instance at ${base} does not judge a token for this request (its routes differ from FILE's?)` };
    return { kind: 'not_revoked', at: base };
  } catch (err) {
    // something listens there and does not answer (a hung or stopped process): said apart from no listener at all
    if (isTimeout(err)) return { kind: 'unchecked', why: `the instance at ${base} did not answer within ${ASK_MS / 1000} s` };
    return { kind: 'unchecked', why: `no instance answered at ${base}` };
  }
}

export function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || (err.cause instanceof Error && err.cause.name === 'TimeoutError'));
}
