// Authorize stage: a route's policy compiled once (scope lists, split claim paths,
// preallocated denials) and judged against the principal on every request, cache
// hits included. Judging reads only the policy, principal and params: no shared state.
import { proxyError, type ErrorCode } from '../errors.js';
import type { ClaimPredicate, RouteConfig } from '../config/index.js';
import { CONTINUE, type Principal, type RequestContext, type StageResult } from './context.js';
import { claimHas, compileClaimPath, resolveClaim, type ClaimPath } from './claim-path.js';
import { compileSources, type CompiledSources } from './extract.js';
import { compileDpopPolicy, type DpopPolicy } from '../dpop/index.js';
import { compileMutation, DEFAULT_IDENTITY, type CompiledMutation, type IdentityConfig } from './mutate.js';

/** One test of a claim predicate (a predicate with several operators needs all of them). */
export type ClaimTest =
  | { readonly op: 'equals'; readonly value: string | number | boolean }
  | { readonly op: 'one_of'; readonly values: readonly (string | number)[] }
  | { readonly op: 'contains'; readonly value: string | number }
  | { readonly op: 'exists'; readonly value: boolean }
  | { readonly op: 'equals_param'; readonly param: string };

export interface CompiledClaimRule {
  readonly path: ClaimPath;
  readonly tests: readonly ClaimTest[];
  readonly deny: StageResult;
}

export interface CompiledRoles {
  readonly path: ClaimPath;
  readonly all: readonly string[];
  readonly any: readonly string[];
  readonly deny: StageResult;
}

export interface CompiledPolicy {
  readonly route: string;
  /** Allowed issuer config names; null = every configured issuer. */
  readonly issuers: readonly string[] | null;
  readonly scopesAll: readonly string[];
  readonly scopesAny: readonly string[];
  readonly claims: readonly CompiledClaimRule[];
  readonly roles: CompiledRoles | null;
  /** Where extract looks for the token on this route. */
  readonly sources: CompiledSources;
  /** DPoP (RFC 9449) on this route: required or not, iat window, nonces (node/dpop). */
  readonly dpop: DpopPolicy;
  /** What mutate forwards on this route. */
  readonly mutation: CompiledMutation;
  /** The route has no `auth` at all (config validation forbids it): deny everything. */
  readonly denyAll: boolean;
  readonly denyScope: StageResult;
}

const deny = (code: ErrorCode, message: string, reason: string, scope?: string): StageResult =>
  Object.freeze({ kind: 'deny' as const, error: Object.freeze(proxyError(code, message, scope === undefined ? undefined : { scope })), reason });

const NO_PRINCIPAL = deny('PORTCULLIS_ERR_AUTH_MISSING', 'a bearer token is required', 'no_principal');
const ISSUER_NOT_ALLOWED = deny('PORTCULLIS_ERR_AUTH_FORBIDDEN', 'token issuer not allowed on this route', 'issuer_not_allowed');
const NO_AUTH_CONFIG = deny('PORTCULLIS_ERR_AUTH_FORBIDDEN', 'route has no auth rule', 'route_without_auth');

function compileTests(p: ClaimPredicate): ClaimTest[] {
  const tests: ClaimTest[] = [];
  if (p.equals !== undefined) tests.push({ op: 'equals', value: p.equals });
  if (p.one_of !== undefined) tests.push({ op: 'one_of', values: Object.freeze([...p.one_of]) });
  if (p.contains !== undefined) tests.push({ op: 'contains', value: p.contains });
  if (p.exists !== undefined) tests.push({ op: 'exists', value: p.exists });
  if (p.equals_param !== undefined) tests.push({ op: 'equals_param', param: p.equals_param });
  // validation requires exactly one operator; a bare `claim:` fails closed as "must exist"
  if (tests.length === 0) tests.push({ op: 'exists', value: true });
  return tests;
}

/**
 * Compile a route's auth block: null for `auth: none`. `identity` supplies the default
 * claim→header mapping for mutate (schema defaults when omitted); `defaultIssuers` the issuers a
 * route without `auth.issuers` accepts (null: every configured one; config defaultRouteIssuers).
 */
export function compilePolicy(route: RouteConfig, identity: IdentityConfig = DEFAULT_IDENTITY, defaultIssuers: readonly string[] | null = null): CompiledPolicy | null {
  // a frozen route cannot change: compiled again with the same identity object and default
  // issuers, it gives the same (frozen) policy — a pushed version's unchanged routes are the very
  // objects of the last one
  if (!Object.isFrozen(route)) return compileFresh(route, identity, defaultIssuers);
  const hit = compiledRoutes.get(route);
  if (hit !== undefined && hit.identity === identity && sameNames(hit.defaultIssuers, defaultIssuers)) return hit.compiled;
  const compiled = compileFresh(route, identity, defaultIssuers);
  compiledRoutes.set(route, { identity, defaultIssuers, compiled });
  return compiled;
}

function sameNames(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((n, i) => b[i] === n);
}

/** compilePolicy's results for frozen (validated, deep-frozen) routes; an entry goes when its route is collected. */
const compiledRoutes = new WeakMap<RouteConfig, { readonly identity: IdentityConfig; readonly defaultIssuers: readonly string[] | null; readonly compiled: CompiledPolicy | null }>();

function compileFresh(route: RouteConfig, identity: IdentityConfig, defaultIssuers: readonly string[] | null): CompiledPolicy | null {
  const auth = route.auth;
  if (auth === 'none') return null;
  const all = Object.freeze([...(auth?.scopes?.all ?? [])]);
  const any = Object.freeze([...(auth?.scopes?.any ?? [])]);
  // RFC 6750 §3 `scope=`: every scope the route names (all, then any not already listed)
  const scopeText = [...all, ...any.filter((s) => !all.includes(s))].join(' ');
  const claims = (auth?.claims ?? []).map((p): CompiledClaimRule => Object.freeze({
    path: compileClaimPath(p.claim),
    tests: Object.freeze(compileTests(p)),
    deny: deny('PORTCULLIS_ERR_AUTH_FORBIDDEN', 'a claim rule of this route refused the token', `claim_mismatch:${p.claim}`),
  }));
  const r = auth?.roles;
  const roles: CompiledRoles | null = r === undefined ? null : Object.freeze({
    path: compileClaimPath(r.claim ?? 'roles'),
    all: Object.freeze([...(r.all ?? [])]),
    any: Object.freeze([...(r.any ?? [])]),
    deny: deny('PORTCULLIS_ERR_AUTH_FORBIDDEN', 'a role rule of this route refused the token', `roles_mismatch:${r.claim ?? 'roles'}`),
  });
  return Object.freeze({
    route: route.name,
    issuers: auth?.issuers !== undefined ? Object.freeze([...auth.issuers]) : defaultIssuers === null ? null : Object.freeze([...defaultIssuers]),
    scopesAll: all,
    scopesAny: any,
    claims: Object.freeze(claims),
    roles,
    sources: compileSources(auth?.token_sources),
    dpop: compileDpopPolicy(auth?.dpop),
    mutation: compileMutation(route, identity),
    denyAll: auth === undefined,
    denyScope: deny('PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE', 'token lacks the scope this route requires', 'insufficient_scope', scopeText),
  });
}

/** Every element of `need` is in `have` (also true for an empty `need`). */
export function hasAll(have: readonly string[], need: readonly string[]): boolean {
  for (let i = 0; i < need.length; i++) if (!have.includes(need[i]!)) return false;
  return true;
}

/** Some element of `need` is in `have`; true for an empty `need` (no `any` rule). */
export function hasAny(have: readonly string[], need: readonly string[]): boolean {
  if (need.length === 0) return true;
  for (let i = 0; i < need.length; i++) if (have.includes(need[i]!)) return true;
  return false;
}

/** Strict (type-sensitive) comparisons: `"1"` never equals `1`. */
export function testClaim(t: ClaimTest, v: unknown, params: Readonly<Record<string, string>> | null): boolean {
  switch (t.op) {
    case 'equals': return v === t.value;
    case 'one_of': return (typeof v === 'string' || typeof v === 'number') && t.values.includes(v);
    case 'contains': return claimHas(v, t.value);
    case 'exists': return (v !== undefined && v !== null) === t.value;
    case 'equals_param':
      return typeof v === 'string' && params !== null && Object.hasOwn(params, t.param) && paramReads(params[t.param]!, v);
    default: {
      const never: never = t;
      return never;
    }
  }
}

/**
 * A path parameter read as the upstream's router hands it to its handler (Express, Spring,
 * JAX-RS, Go, Django, Rails all percent-decode it) equals `claim`. The normalised path keeps
 * escapes of reserved and non-ASCII bytes, so a parameter with `%` is compared decoded: raw,
 * a claim holding `acme%26co` passed for `/tenants/acme%26co/…`, which the upstream reads as
 * tenant `acme&co`. An escape that is not UTF-8 matches nothing (closed), nor does a value that
 * NFKC changes (`mu%CC%88nchen`, u + combining diaeresis): an upstream folding its input to NFC or
 * NFKC (a database collation, a framework's normaliser) reads it as another name, `münchen`.
 */
function paramReads(param: string, claim: string): boolean {
  if (param.indexOf('%') === -1) return param === claim;
  let value: string;
  try {
    value = decodeURIComponent(param);
  } catch {
    return false;
  }
  return value === claim && value === value.normalize('NFKC');
}

/**
 * explain's account of paramReads for `param` (as the normalised path holds it): what a claim is compared
 * with, or why no claim equals it. Off the request path.
 */
export function paramReading(param: string): string {
  const raw = JSON.stringify(param);
  if (param.indexOf('%') === -1) return raw;
  let value: string;
  try {
    value = decodeURIComponent(param);
  } catch {
    return `${raw}, an escape that is not UTF-8: equals no claim`;
  }
  if (value !== value.normalize('NFKC')) return `${raw}, read as ${JSON.stringify(value)}, which NFKC changes: equals no claim`;
  return `${raw}, read as ${JSON.stringify(value)}`;
}

/** Role list at the roles claim: an array of strings, or a space-separated string. */
function roleHas(v: unknown, role: string): boolean {
  return claimHas(v, role);
}

export function rolesOk(roles: CompiledRoles, claims: Readonly<Record<string, unknown>>): boolean {
  const v = resolveClaim(claims, roles.path);
  for (const r of roles.all) if (!roleHas(v, r)) return false;
  if (roles.any.length === 0) return true;
  for (const r of roles.any) if (roleHas(v, r)) return true;
  return false;
}

/** Judge `principal` against `policy`: the first refusal, or CONTINUE. Pure. */
export function judge(policy: CompiledPolicy, principal: Principal, params: Readonly<Record<string, string>> | null): StageResult {
  if (policy.denyAll) return NO_AUTH_CONFIG;
  if (policy.issuers !== null && !policy.issuers.includes(principal.issuer)) return ISSUER_NOT_ALLOWED;
  if (!hasAll(principal.scopes, policy.scopesAll) || !hasAny(principal.scopes, policy.scopesAny)) return policy.denyScope;
  const claims = principal.claims;
  // indexed loops: for…of over these frozen arrays allocated iterator results on every request
  const rules = policy.claims;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    const v = resolveClaim(claims, rule.path);
    const tests = rule.tests;
    for (let j = 0; j < tests.length; j++) if (!testClaim(tests[j]!, v, params)) return rule.deny;
  }
  if (policy.roles !== null && !rolesOk(policy.roles, claims)) return policy.roles.deny;
  return CONTINUE;
}

/**
 * The authorize stage: the route's compiled policy (ctx.route.policy) against ctx.principal.
 * Null policy (auth: none) → continue. Runs on every request; never mutates anything.
 */
export function authorize(ctx: RequestContext): StageResult {
  const policy = ctx.route.policy as CompiledPolicy | null;
  if (policy === null) return CONTINUE;
  const principal = ctx.principal;
  if (principal === null) return NO_PRINCIPAL;
  return judge(policy, principal, ctx.params);
}
