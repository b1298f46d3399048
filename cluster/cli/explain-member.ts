// `portcullis explain` for a config whose policy comes from the cluster (cluster.policy.source: cluster):
// FILE holds no routes, so the CLI asks the member at FILE's admin listener (admin POST /explain,
// loopback only: the token is sent), which judges with the version it runs and its revocations.
import type { ExplainAnswer } from '../../node/auth/index.js';
import type { Config } from '../../node/config/index.js';
import { ASK_MS, isTimeout, loopbackBase } from './explain-revocations.js';

/** The member's verdict, or why there is none. */
export type MemberExplain =
  | { readonly kind: 'answer'; readonly at: string; readonly answer: ExplainAnswer }
  | { readonly kind: 'unavailable'; readonly why: string };

/**
 * POST /explain at `config`'s admin listener. `unavailable` — never an error — when the listener is not
 * on this host or has no fixed port, no admin token is set, the member refuses, or nothing answers in 5 s.
 */
export async function explainAtMember(config: Config, env: NodeJS.ProcessEnv, req: { method: string; path: string; host?: string; token?: string }): Promise<MemberExplain> {
  const { host, port } = config.admin.listen;
  if (port === 0) return { kind: 'unavailable', why: 'admin.listen.port is 0, so no member can be found' };
  const base = loopbackBase(host, port);
  if (base === null) return { kind: 'unavailable', why: 'admin.listen.host is not on this host\'s loopback (the token is not sent over the network)' };
  const bearer = config.admin.token_env === undefined ? undefined : env[config.admin.token_env];
  if (bearer === undefined || bearer === '') return { kind: 'unavailable', why: `no admin token (admin.token_env) to ask the member at ${base} with` };
  try {
    const res = await fetch(`${base}/explain`, {
      method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(ASK_MS),
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(req),
    });
    const body = await res.json().catch((err: unknown) => { if (isTimeout(err)) throw err; return null; }) as (ExplainAnswer & { message?: unknown }) | null;
    if (res.status !== 200 || body === null || typeof body.allowed !== 'boolean') {
      const said = body !== null && typeof body.message === 'string' ? `: ${body.message}` : '';
      return { kind: 'unavailable', why: `the member at ${base} answered ${res.status}${said}` };
    }
    return { kind: 'answer', at: base, answer: body };
  } catch (err) {
    if (isTimeout(err)) return { kind: 'unavailable', why: `the member at ${base} did not answer within ${ASK_MS / 1000} s` };
    return { kind: 'unavailable', why: `no member answered at ${base}` };
  }
}
