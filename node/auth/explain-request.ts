// `portcullis explain` and admin POST /explain: which route a request matches, each rule
// of its policy and the verdict. With a token, the token is judged by a real auth layer
// (live JWKS / introspection), so the answer is what the proxy would do.
import type { Config } from '../config/index.js';
import { normalizePath } from '../routing/path-normalize.js';
import type { Logger } from '../log.js';
import { checkMethodOverride, compileClientCertRule, explainPolicy, type CompiledPolicy, type CompiledRoute, type ExplainedRule, type RequestContext } from '../pipeline/index.js';
import { routingHost } from '../routing/host-normalize.js';
import { AMBIGUOUS, readingsOf, RouteTable } from '../routing/route-table.js';
import type { Auth } from './auth-stages.js';

export interface ExplainAnswer {
  readonly allowed: boolean;
  readonly status: number;
  readonly route: string | null;
  readonly upstream: string | null;
  readonly params: Record<string, string> | null;
  /** How the token fared (null when none was given or the route needs none). */
  readonly token: { readonly ok: boolean; readonly reason: string | null; readonly issuer: string | null; readonly fingerprint: string | null } | null;
  readonly rules: readonly ExplainedRule[];
  readonly summary: string;
}

/**
 * Explain `method path` (optionally on `host`, with `token`) against `config`. `auth` judges the
 * token and compiles policies; it must be ready (keys loaded) for a token verdict.
 */
export async function explainRequest(config: Config, auth: Auth, req: { method: string; path: string; host?: string; token?: string }): Promise<ExplainAnswer> {
  const method = req.method.toUpperCase();
  const q = req.path.indexOf('?');
  const rawPath = q === -1 ? req.path : req.path.slice(0, q);
  const path = normalizePath(rawPath, config.server.paths.allow_params);
  const none = (status: number, summary: string): ExplainAnswer => ({ allowed: false, status, route: null, upstream: null, params: null, token: null, rules: [], summary });
  if (path === null) return none(400, `path ${JSON.stringify(rawPath.split('#')[0])}${rawPath.includes('#') ? ' with a fragment (not shown)' : ''} is invalid or ambiguous: 400 before routing`);
  const routes: CompiledRoute[] = config.routes.map((r, index) => ({ index, name: r.name, config: r, policy: auth.compilePolicy(r) }));
  const table = new RouteTable(routes, readingsOf(config.server.paths));
  // as the listener reads a Host header: lower case, without the port and one trailing dot
  const host = routingHost(req.host ?? '');
  if (host === null) return none(400, `host ${JSON.stringify(req.host)} is not a valid host[:port]: 400 before routing`);
  const m = table.resolve(method, host, path);
  if (m === AMBIGUOUS) return none(400, `path ${path} selects another route when upstreams read it ignoring case, a trailing /, trailing dots or spaces at a segment edge: 400 before routing`);
  if (m === null) return none(404, `no route matches ${method} ${path}${host !== '' ? ` on host ${host}` : ''}: 404`);
  if (!('route' in m)) return none(405, `route ${m.refusedBy} has path ${path} and other_methods: refuse, and no route as specific lists ${method}: 405 (Allow: ${m.allow}), nothing forwarded`);
  const policy = m.route.policy as CompiledPolicy | null;
  const base = { route: m.route.name, upstream: m.route.config.upstream, params: m.params };
  const ctx: RequestContext = {
    method, path, query: q === -1 ? '' : req.path.slice(q + 1), host, remoteAddress: '127.0.0.1',
    headers: req.token !== undefined ? ['authorization', `Bearer ${req.token}`] : [],
    route: m.route, params: m.params, token: null, tokenSource: null, principal: null, denyReason: null,
  };
  // the pipeline's first step, on every route: a `?_method=` that would select another route → 400
  if (ctx.query !== '' && checkMethodOverride(table, ctx).kind === 'deny') {
    return {
      ...base, allowed: false, status: 400, token: null,
      rules: [{ rule: 'method override', ok: false, why: 'the query names a method (_method) that selects another route than the request line, or is not a method' }],
      summary: `route ${m.route.name}: denied with 400 (method_override) before any token check`,
    };
  }
  // routes[].client_cert is checked before the token; explain presents no certificate, so it
  // names the rule and answers what a request without one gets
  const cc = m.route.config.client_cert;
  const certRules: ExplainedRule[] = cc === undefined ? [] : [{
    rule: `client_cert ${compileClientCertRule(cc).text}`, ok: false,
    why: 'not judged (explain presents no certificate): needs a matching client certificate on the HTTP/2 TLS listener — 401 without one, 403 when it does not match, 421 on the uWS listener',
  }];
  const certDenied = `route ${m.route.name}: denied with 401 (client_cert_missing) unless a client certificate matching its client_cert rule is presented`;
  if (policy === null) {
    const rules = [...certRules, ...explainPolicy(null, null, m.params)];
    if (cc !== undefined) return { ...base, allowed: false, status: 401, token: null, rules, summary: certDenied };
    return { ...base, allowed: true, status: 200, token: null, rules, summary: `route ${m.route.name}: auth none, forwarded to ${m.route.config.upstream}` };
  }

  let token: ExplainAnswer['token'] = null;
  let status = 200;
  let reason: string | null = null;
  const x = auth.stages.extract(ctx);
  if (x.kind === 'deny') { status = x.error.code === 'PORTCULLIS_ERR_AUTH_INVALID_REQUEST' ? 400 : 401; reason = x.reason; }
  else {
    const s = auth.stages;
    const g = await s.gate(ctx);
    const a = g.kind === 'deny' ? g : await s.afterVerify(ctx, await s.verify(ctx));
    if (a.kind === 'deny') {
      status = a.error.code === 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' ? 503 : 401;
      reason = a.reason;
    }
    if (req.token !== undefined) token = { ok: a.kind === 'continue', reason: a.kind === 'deny' ? a.reason : null, issuer: ctx.principal?.issuer ?? null, fingerprint: ctx.principal?.fingerprint ?? null };
    if (a.kind === 'continue') {
      const z = auth.stages.authorize(ctx);
      if (z.kind === 'deny') { status = 403; reason = z.reason; }
    }
  }
  const rules = [...certRules, ...explainPolicy(policy, ctx.principal, m.params)];
  if (cc !== undefined) { status = 401; reason = 'client_cert_missing'; }
  const allowed = status === 200;
  const summary = cc !== undefined ? certDenied : allowed
    ? `route ${m.route.name}: allowed, forwarded to ${m.route.config.upstream}`
    : `route ${m.route.name}: denied with ${status} (${reason ?? 'denied'})`;
  return { ...base, allowed, status, token, rules, summary };
}

/** Human-readable lines for the CLI. */
export function formatExplain(a: ExplainAnswer, method: string, path: string): string {
  // the query is judged (`?access_token=` on a route that reads it) but never printed: it may carry a token; so may a
  // fragment (a browser URL's `#access_token=`, the implicit flow), which no request carries
  const q = path.search(/[?#]/);
  const lines = [`${method.toUpperCase()} ${q === -1 ? path : `${path.slice(0, q)} (${path[q] === '?' ? 'query' : 'fragment'} not shown: it may carry a token)`}`];
  if (a.route === null) { lines.push(`  ${a.summary}`); return lines.join('\n'); }
  lines.push(`  route     ${a.route} → upstream ${a.upstream}${a.params !== null ? `  params ${JSON.stringify(a.params)}` : ''}`);
  if (a.token !== null) lines.push(`  token     ${a.token.ok ? `valid (${a.token.issuer}, fingerprint ${a.token.fingerprint})` : `refused: ${a.token.reason}`}`);
  for (const r of a.rules) lines.push(`  ${r.ok ? 'pass' : 'FAIL'}      ${r.rule} — ${r.why}`);
  lines.push(`  verdict   ${a.allowed ? 'ALLOWED' : 'DENIED'} (${a.status}): ${a.summary}`);
  return lines.join('\n');
}

export type { Logger };

/** The fields `POST /explain` takes: anything else is refused, not ignored (a misspelled `token` explained a request without one). */
const EXPLAIN_FIELDS: readonly string[] = ['method', 'path', 'host', 'token'];

/**
 * Admin `POST /explain`: `body` is JSON `{method, path, host?, token?}`; 400 `invalid_request`
 * naming every bad field (a field of the wrong type or an unknown one: answered as if absent, the
 * verdict was the one of another request), else 200 with the ExplainAnswer. Values are never quoted.
 */
export async function explainAdminCall(config: Config, auth: Auth, body: string): Promise<{ status: number; body: unknown }> {
  let q: unknown;
  try { q = JSON.parse(body); } catch { return { status: 400, body: { error: 'invalid_request', message: 'body must be JSON {method, path, host?, token?}' } }; }
  if (q === null || typeof q !== 'object' || Array.isArray(q)) return { status: 400, body: { error: 'invalid_request', message: 'body must be a JSON object {method, path, host?, token?}' } };
  const o = q as { method?: unknown; path?: unknown; host?: unknown; token?: unknown };
  const errors: string[] = [];
  // a name is quoted only when it looks like one: a key may be a pasted token
  for (const k of Object.keys(o)) if (!EXPLAIN_FIELDS.includes(k)) errors.push(`${/^[A-Za-z_][\w-]{0,31}$/.test(k) ? k : 'a field'}: unknown field (expected ${EXPLAIN_FIELDS.join(', ')})`);
  if (typeof o.method !== 'string' || typeof o.path !== 'string' || !o.path.startsWith('/')) errors.unshift('method (string) and path (starting with /) are required');
  if (o.host !== undefined && typeof o.host !== 'string') errors.push('host: expected a string (the request\'s Host header)');
  if (o.token !== undefined && typeof o.token !== 'string') errors.push('token: expected a string (the bearer token alone)');
  if (errors.length > 0) return { status: 400, body: { error: 'invalid_request', message: errors.join('; '), errors } };
  const answer = await explainRequest(config, auth, {
    method: o.method as string, path: o.path as string,
    ...(typeof o.host === 'string' ? { host: o.host } : {}), ...(typeof o.token === 'string' ? { token: o.token } : {}),
  });
  return { status: 200, body: answer };
}
