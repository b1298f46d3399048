// `portcullis explain` for a config whose policy comes from the cluster (cluster.policy.source: cluster):
// FILE holds no routes, so the CLI asks the member at FILE's admin listener (admin POST /explain,
// loopback only: the token is sent), which judges with the version it runs and its revocations.
import type { ExplainAnswer } from '../../node/auth/index.js';
import type { Config } from '../../node/config/index.js';
import { ASK_MS, isTimeout, loopbackBase } from './explain-revocations.js';
import { printable } from './printable.js';

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
    const body = await res.json().catch((err: unknown) => { if (isTimeout(err)) throw err; return null; }) as unknown;
    if (res.status !== 200) {
      const message = body !== null && typeof body === 'object' ? (body as { message?: unknown }).message : undefined;
      return { kind: 'unavailable', why: `the member at ${base} answered ${res.status}${typeof message === 'string' ? `: ${printable(message)}` : ''}` };
    }
    const answer = readAnswer(body);
    // before, only `allowed` was checked: `{"allowed": true}` crashed the printout (exit 1, read as DENIED) and
    // --json printed it as a verdict (exit 0)
    if (answer === null) return { kind: 'unavailable', why: `the member at ${base} answered 200 with something that is not a verdict (another program on that port, or another version?)` };
    return { kind: 'answer', at: base, answer };
  } catch (err) {
    if (isTimeout(err)) return { kind: 'unavailable', why: `the member at ${base} did not answer within ${ASK_MS / 1000} s` };
    return { kind: 'unavailable', why: `no member answered at ${base}` };
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const strOrNull = (v: unknown): boolean => v === null || typeof v === 'string';


/** The member's 200 body as an ExplainAnswer (only its fields), or null when it is not one in every field formatExplain reads. */
function readAnswer(body: unknown): ExplainAnswer | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const a = body as Record<string, unknown>;
  if (typeof a.allowed !== 'boolean' || typeof a.status !== 'number' || !Number.isInteger(a.status) || !isStr(a.summary) || !strOrNull(a.route) || !strOrNull(a.upstream)) return null;
  const params = a.params ?? null;
  if (params !== null && (typeof params !== 'object' || Array.isArray(params) || !Object.values(params).every(isStr))) return null;
  const t = (a.token ?? null) as Record<string, unknown> | null;
  if (t !== null && (typeof t !== 'object' || typeof t.ok !== 'boolean' || !strOrNull(t.reason ?? null) || !strOrNull(t.issuer ?? null) || !strOrNull(t.fingerprint ?? null))) return null;
  if (!Array.isArray(a.rules)) return null;
  const rules: Array<ExplainAnswer['rules'][number]> = [];
  for (const r of a.rules as unknown[]) {
    const x = (r ?? {}) as Record<string, unknown>;
    if (typeof x.ok !== 'boolean' || !isStr(x.rule) || !isStr(x.why)) return null;
    rules.push({ rule: x.rule, ok: x.ok, why: x.why });
  }
  const token = t === null ? null : { ok: t.ok as boolean, reason: (t.reason ?? null) as string | null, issuer: (t.issuer ?? null) as string | null, fingerprint: (t.fingerprint ?? null) as string | null };
  return { allowed: a.allowed, status: a.status, route: a.route as string | null, upstream: a.upstream as string | null, params: params as Record<string, string> | null, token, rules, summary: a.summary };
}

/** `a` with every string printable: the text output shows what a member said, a terminal never interprets it. */
export function printableAnswer(a: ExplainAnswer): ExplainAnswer {
  const p = (v: string | null): string | null => (v === null ? null : printable(v));
  return {
    ...a, route: p(a.route), upstream: p(a.upstream), summary: printable(a.summary),
    params: a.params === null ? null : Object.fromEntries(Object.entries(a.params).map(([k, v]) => [printable(k), printable(v)])),
    token: a.token === null ? null : { ok: a.token.ok, reason: p(a.token.reason), issuer: p(a.token.issuer), fingerprint: p(a.token.fingerprint) },
    rules: a.rules.map((r) => ({ rule: printable(r.rule), ok: r.ok, why: printable(r.why) })),
  };
}
