// `portcullis explain` and POST /explain: every rule of a compiled policy, whether the
// principal passes it and why. Uses the same predicates as authorize, so the verdicts agree.
import type { Principal } from './context.js';
import { AMBIGUOUS_CLAIM, claimHas, resolveClaim } from './claim-path.js';
import { hasAll, hasAny, paramReading, testClaim, type ClaimTest, type CompiledPolicy } from './authorize.js';

export interface ExplainedRule {
  readonly rule: string;
  readonly ok: boolean;
  readonly why: string;
}

const show = (v: unknown): string => (v === undefined ? 'absent'
  : v === AMBIGUOUS_CLAIM ? 'ambiguous: a claim named by the whole path and the nested claim differ' : JSON.stringify(v));
const list = (xs: readonly unknown[]): string => xs.map((x) => JSON.stringify(x)).join(', ');

function describe(t: ClaimTest): string {
  switch (t.op) {
    case 'equals': return `equals ${JSON.stringify(t.value)}`;
    case 'one_of': return `one_of [${list(t.values)}]`;
    case 'contains': return `contains ${JSON.stringify(t.value)}`;
    case 'exists': return t.value ? 'exists' : 'is absent';
    case 'equals_param': return `equals path parameter :${t.param}`;
  }
}

/**
 * One line per rule, in evaluation order. `principal` null explains only the token
 * requirement. The request is allowed exactly when every rule is ok.
 */
export function explainPolicy(policy: CompiledPolicy | null, principal: Principal | null, params: Readonly<Record<string, string>> | null): ExplainedRule[] {
  if (policy === null) return [{ rule: 'auth: none', ok: true, why: 'route needs no token' }];
  const out: ExplainedRule[] = [];
  if (policy.denyAll) out.push({ rule: 'auth', ok: false, why: 'route has no auth block: denied by default' });
  if (principal === null) {
    out.push({ rule: 'token', ok: false, why: 'route requires a valid bearer token and none was verified' });
    return out;
  }
  out.push({ rule: 'token', ok: true, why: `${principal.kind} token from issuer ${principal.issuer} (fingerprint ${principal.fingerprint})` });
  if (policy.issuers !== null) {
    const ok = policy.issuers.includes(principal.issuer);
    out.push({ rule: `issuers [${policy.issuers.join(', ')}]`, ok, why: ok ? `issuer ${principal.issuer} is allowed` : `issuer ${principal.issuer} is not allowed` });
  }
  const have = principal.scopes;
  if (policy.scopesAll.length > 0) {
    const missing = policy.scopesAll.filter((s) => !have.includes(s));
    out.push({ rule: `scopes.all [${policy.scopesAll.join(' ')}]`, ok: hasAll(have, policy.scopesAll), why: missing.length === 0 ? 'token has every scope' : `missing: ${missing.join(' ')}` });
  }
  if (policy.scopesAny.length > 0) {
    const present = policy.scopesAny.filter((s) => have.includes(s));
    out.push({ rule: `scopes.any [${policy.scopesAny.join(' ')}]`, ok: hasAny(have, policy.scopesAny), why: present.length > 0 ? `token has ${present.join(' ')}` : `token has none of them (has: ${have.join(' ') || 'no scopes'})` });
  }
  for (const rule of policy.claims) {
    const v = resolveClaim(principal.claims, rule.path);
    for (const t of rule.tests) {
      const ok = testClaim(t, v, params);
      // the parameter as paramReads compares it: `acme%26co` is read as `acme&co` (before, only the escaped text was shown)
      const p = t.op === 'equals_param' ? ` (:${t.param} = ${params !== null && Object.hasOwn(params, t.param) ? paramReading(params[t.param]!) : 'absent'})` : '';
      out.push({ rule: `claim ${rule.path.text} ${describe(t)}`, ok, why: `claim is ${show(v)}${p}` });
    }
  }
  const roles = policy.roles;
  if (roles !== null) {
    const v = resolveClaim(principal.claims, roles.path);
    if (roles.all.length > 0) {
      const missing = roles.all.filter((r) => !claimHas(v, r));
      out.push({ rule: `roles.all [${roles.all.join(' ')}] at ${roles.path.text}`, ok: missing.length === 0, why: missing.length === 0 ? 'token has every role' : `missing: ${missing.join(' ')} (claim is ${show(v)})` });
    }
    if (roles.any.length > 0) {
      const present = roles.any.filter((r) => claimHas(v, r));
      out.push({ rule: `roles.any [${roles.any.join(' ')}] at ${roles.path.text}`, ok: present.length > 0, why: present.length > 0 ? `token has ${present.join(' ')}` : `none present (claim is ${show(v)})` });
    }
  }
  return out;
}
