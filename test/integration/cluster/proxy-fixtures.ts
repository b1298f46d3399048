// Shared pieces of the suites that run real proxy processes on a bus: the admin API call,
// polling for an async condition, what a revocation refusal looks like, a JWT's jti.
import { request } from 'undici';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { sleep } from './cluster-fixtures.js';

/** A bearer answer counts as "revoked": 401 invalid_token whose description says revoked. */
export const revoked = (a: { status: number; challenge: string }): boolean =>
  a.status === 401 && /error="invalid_token"/.test(a.challenge) && /revoked/.test(a.challenge);

/** The `jti` claim of a JWT (no verification). */
export const jtiOf = (t: string): string => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).jti as string;

/** `method path` on the proxy's admin listener with the admin token; JSON body both ways. */
export async function admin(p: ProxyProcess, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await request(`${p.adminUrl}${path}`, {
    method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.statusCode, body: await r.body.json() };
}

/** Poll the async `cond` every 20 ms until true; throws naming `what` after `ms`. Resolves with the elapsed ms. */
export async function waitFor(what: string, cond: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}
