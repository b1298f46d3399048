// The one place that says which part of portcullis.yaml is cluster policy (the same on every
// instance: issuers, upstreams, routes, identity, verifier, DPoP, internal tokens) and which
// part is local (listen, TLS, workers, admin, cluster connection, log): extract, combine, digest.
import { createHash } from 'node:crypto';
import { validateConfig, type ConfigProblem, type ConfigResult, type LoadOptions } from './load.js';
import type { Config } from './schema.js';
import { validateConfigReusing, type RouteParseMemo } from './validate-reusing.js';
import { POLICY_KEYS, isPolicyKey, type PolicyKey } from './policy-keys.js';
export { POLICY_KEYS, type PolicyKey };

/** A policy document: the policy keys of a config, as plain JSON data. */
export type PolicyDocument = { readonly [K in PolicyKey]?: unknown };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The policy part of a validated config (defaults filled in, so two equal policies have one digest). */
export function extractPolicy(config: Config): PolicyDocument {
  const out: Record<string, unknown> = {};
  for (const k of POLICY_KEYS) if (config[k] !== undefined) out[k] = JSON.parse(JSON.stringify(config[k]));
  return out;
}

/** A raw document (config file or policy file) cut into its local and policy parts. */
export function splitDocument(raw: unknown): { local: Record<string, unknown>; policy: Record<string, unknown> } {
  const local: Record<string, unknown> = {};
  const policy: Record<string, unknown> = {};
  if (isObject(raw)) for (const [k, v] of Object.entries(raw)) (isPolicyKey(k) ? policy : local)[k] = v;
  return { local, policy };
}

/** Keys of a policy-only document that belong to the local part: each is an error with its path. */
export function foreignPolicyKeys(policy: unknown): ConfigProblem[] {
  if (!isObject(policy)) return [{ path: '(policy)', message: `a policy is a mapping of ${POLICY_KEYS.join(', ')}` }];
  return Object.keys(policy).filter((k) => !isPolicyKey(k)).map((k) => ({ path: k, message: `not part of the policy (local to each instance; the policy has ${POLICY_KEYS.join(', ')})` }));
}

/**
 * The full config an instance runs: its local part (from `localRaw`, policy keys ignored) with
 * `policy`, validated by the same schema as a single file (every error with its path; with
 * `opts.env` also the secrets it names). Never throws. With `memo`, routes equal to those of the
 * previous call with it reuse their parse (validate-reusing.ts: same result, less work);
 * `routeTexts`: each route's JSON.stringify text, already written (CanonicalRouteMemo.textsOf).
 */
export function combinePolicy(localRaw: unknown, policy: unknown, opts: LoadOptions = {}, memo?: RouteParseMemo, routeTexts?: ReadonlyArray<string | undefined> | null): ConfigResult {
  const foreign = foreignPolicyKeys(policy);
  if (foreign.length > 0) return { ok: false, errors: foreign };
  const doc = { ...splitDocument(localRaw).local, ...(policy as Record<string, unknown>) };
  return memo === undefined ? validateConfig(doc, opts) : validateConfigReusing(doc, opts, memo, routeTexts);
}

/** JSON with object keys sorted at every level: the form a digest is taken of. */
export function canonicalJson(v: unknown): string {
  // One concatenation instead of map/filter/join per level: every member digests every pushed
  // version on its event loop. Same text as the plain recursive form (test/unit/config/policy-split).
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + (i in v ? canonicalJson(v[i]) : ''); // a hole: empty, as join made it
    return out + ']';
  }
  if (isObject(v)) {
    let out = '{';
    for (const k of Object.keys(v).sort()) {
      const x = v[k];
      if (x === undefined) continue;
      out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(x);
    }
    return out + '}';
  }
  return `${JSON.stringify(v ?? null)}`;
}

/**
 * The canonical JSON of the routes digested last, by each route's JSON.stringify text: one per
 * thread that digests pushed versions, replaced by every digest. Exact only for data straight
 * from JSON.parse — there, equal JSON.stringify text means equal keys and values, so equal
 * canonical JSON (test/unit/config/policy-split.test.ts checks it against canonicalJson).
 */
export class CanonicalRouteMemo {
  private byJson = new Map<string, string>();
  /** The routes array digested last and each element's JSON.stringify text (undefined: not an object). */
  private lastRoutes: readonly unknown[] | null = null;
  private lastTexts: Array<string | undefined> = [];
  /** Routes reused and written by the last digest (tests). */
  last = { reused: 0, written: 0 };

  /**
   * The JSON.stringify text of each element of `routes` when it is the very array digested last
   * (validation keys its route memo by the same text: one stringify per route, not two); null
   * for any other array. Exact only while nothing changed the array since (a decoded entry's,
   * digested and validated in one synchronous step).
   */
  textsOf(routes: readonly unknown[]): ReadonlyArray<string | undefined> | null {
    return routes === this.lastRoutes ? this.lastTexts : null;
  }

  /** `[…]` of `routes`, each element from the memo when its JSON text was digested last time. */
  routes(routes: readonly unknown[]): string {
    const next = new Map<string, string>();
    const texts: Array<string | undefined> = new Array(routes.length);
    let out = '[';
    let reused = 0;
    for (let i = 0; i < routes.length; i++) {
      if (i > 0) out += ',';
      if (!(i in routes)) continue; // a hole: empty, as canonicalJson writes it
      const r = routes[i];
      if (!isObject(r)) { out += canonicalJson(r); continue; }
      const json = JSON.stringify(r);
      texts[i] = json;
      let c = next.get(json) ?? this.byJson.get(json);
      if (c !== undefined) reused++;
      else c = canonicalJson(r);
      next.set(json, c);
      out += c;
    }
    this.byJson = next;
    this.lastRoutes = routes;
    this.lastTexts = texts;
    this.last = { reused, written: routes.length - reused };
    return out + ']';
  }
}

/** canonicalJson(policy), its routes through `memo`. */
function canonicalPolicy(policy: unknown, memo: CanonicalRouteMemo): string {
  if (!isObject(policy) || !Array.isArray(policy.routes)) return canonicalJson(policy);
  let out = '{';
  for (const k of Object.keys(policy).sort()) {
    const x = policy[k];
    if (x === undefined) continue;
    out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + (k === 'routes' ? memo.routes(x as unknown[]) : canonicalJson(x));
  }
  return out + '}';
}

/**
 * SHA-256 (hex) of the canonical policy. `memo` (only for a policy straight from JSON.parse: a
 * decoded bucket entry) reuses the canonical JSON of routes equal to the last digest's.
 */
export function policyDigest(policy: PolicyDocument, memo?: CanonicalRouteMemo): string {
  return createHash('sha256').update(memo === undefined ? canonicalJson(policy) : canonicalPolicy(policy, memo)).digest('hex');
}

/** Stands in for the policy when only the local part is checked (it satisfies the schema's required policy keys). */
const PLACEHOLDER_POLICY = {
  upstreams: { placeholder: { targets: ['http://127.0.0.1:9'] } },
  routes: [{ name: 'placeholder', match: { path: '/' }, upstream: 'placeholder', auth: 'none' }],
} as const;

/**
 * Validate only the local part of `raw` (its policy keys are ignored): for an instance whose
 * policy comes from the cluster, whose file may carry no routes at all. The returned config's
 * policy part is a placeholder that must never serve.
 */
export function validateLocal(raw: unknown, opts: LoadOptions = {}): ConfigResult {
  return validateConfig({ ...splitDocument(raw).local, ...PLACEHOLDER_POLICY }, opts);
}
