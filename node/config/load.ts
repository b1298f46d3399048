// Loads portcullis.yaml: parse, validate against the schema, check cross-references and
// (when asked) the environment it names, report every error at once with its path, then
// deep-freeze. Used at start, on reload, by check-config and by explain.
import { readFileSync, statSync } from 'node:fs';
import type { ZodIssue } from 'zod';
import { checkS2sConfig } from '../s2s/s2s-config.js';
import { proxyOwnedHeaderProblem } from './proxy-owned-headers.js';
import { checkClientCertRoutes } from './client-cert-schema.js';
import { checkEnvironment, secretFields, type Environment } from './env-check.js';
import { localSecretProblems } from './local-secrets.js';
import { ownAdminTargetProblems } from './own-admin-target.js';
import { ownJwksIssuerProblems } from './own-jwks-issuer.js';
import { configSchema, type Config } from './schema.js';
import { quotedName, shownName } from './shown-value.js';
import { defaultRouteIssuers, routeIssuers } from './route-issuers.js';
import { shadowedRoutes } from './route-shadow.js';
import { otherMethodsProblems } from './fall-through.js';
import { foreignPatternProblem, typeHint } from './shape-hints.js';
import { MAX_YAML_BYTES, parseYamlText } from './yaml-text.js';

import { readProblem, type ConfigProblem, type ConfigResult } from './problem.js';
export type { ConfigProblem, ConfigResult } from './problem.js';

export interface LoadOptions {
  /**
   * Also check the environment the config names (checkEnvironment): every `*_env` variable set
   * and non-empty. Pass process.env for anything that will run the config; omitted or null =
   * the file alone is validated (`check-config --no-env`, tests, benchmarks).
   */
  env?: Environment | null;
  /**
   * With `env`, at start (serve, check-config): also the folders of the files the proxy rewrites while it runs
   * (stateFolderProblems). Default false: a reload or a pushed version cannot change those restart-only paths.
   * `before-start` (check-config): the same, except a folder missing under /run or /var/lib, which systemd's
   * RuntimeDirectory=/StateDirectory= make only when the unit starts (madeAtStartWarnings names it instead).
   */
  stateFolders?: boolean | 'before-start';
  /**
   * Also refuse a route an earlier, equally specific route hides (route-shadow.ts). True where an operator
   * writes a config (check-config, serve's start from a file, a file reload, a policy push); default false
   * for what was already accepted: a cluster version from the bucket or the state file, a worker's boot text.
   */
  refuseHiddenRoutes?: boolean;
}

/** Keys that were renamed or removed: old dotted key → replacement text. */
const REMOVED: Record<string, string> = {
  'server.port': 'server.listen.port',
  'server.host': 'server.listen.host',
  'admin.token': 'admin.token_env (secrets are read from the environment)',
  'issuers.*.introspection.client_secret': 'issuers.*.introspection.client_secret_env',
  'cluster.nats.password': 'cluster.nats.password_env',
  'cluster.nats.token': 'cluster.nats.token_env',
};

export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out === '' ? '(root)' : out;
}

function genericPath(path: ReadonlyArray<string | number>): string {
  // issuers.<name>.x → issuers.*.x so REMOVED can name the replacement
  return path.map((p, i) => (i === 1 && (path[0] === 'issuers' || path[0] === 'upstreams') ? '*' : p)).join('.');
}

function describeIssue(issue: ZodIssue): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k, n) => {
      const full = [...issue.path, k];
      const replacement = REMOVED[genericPath(full)];
      // a key that does not look like a config word may be a secret pasted as a key: name it by position
      const shown = replacement !== undefined ? k : (shownName(k) ?? `(unknown key #${n + 1} here, not shown: it may be a secret)`);
      return {
        path: formatPath([...issue.path, shown]),
        message: replacement !== undefined ? `removed key; use ${replacement}` : 'unknown key (check the spelling; unknown keys are refused)',
      };
    });
  }
  if (issue.code === 'invalid_type') {
    const hint = issue.received === 'undefined' ? null : typeHint(issue.path);
    const msg = issue.received === 'undefined' ? `required (expected ${issue.expected})` : `expected ${issue.expected}, got ${issue.received}${hint === null ? '' : ` — ${hint}`}`;
    return [{ path: formatPath(issue.path), message: msg }];
  }
  if (issue.code === 'invalid_union') {
    // Report the branch that got furthest rather than "Invalid input": a branch with a
    // complaint inside the value (auth.scopes.all not a list) is the one the author meant.
    const depth = issue.path.length;
    const deeper = issue.unionErrors.filter((e) => e.issues.some((i) => i.path.length > depth));
    if (deeper.length > 0) return deeper.flatMap((e) => e.issues).flatMap(describeIssue);
    const inner = issue.unionErrors.flatMap((e) => e.issues);
    const deepest = inner.filter((i) => i.code !== 'invalid_type' && i.code !== 'invalid_literal');
    if (deepest.length > 0) return deepest.flatMap(describeIssue);
    return [{ path: formatPath(issue.path), message: 'none of the accepted forms matches (see deploy/portcullis.example.yaml)' }];
  }
  if (issue.code === 'invalid_string' && issue.validation === 'regex' && issue.message === 'Invalid') {
    // a record key (issuers, upstreams, headers…) that fails its pattern is the last path segment: name it only when it looks like a name
    const last = issue.path[issue.path.length - 1];
    const path = typeof last === 'string' && shownName(last) === undefined ? [...issue.path.slice(0, -1), '(name not shown: it may be a secret)'] : issue.path;
    return [{ path: formatPath(path), message: 'letters, digits, _ and - only' }];
  }
  if (issue.code === 'invalid_enum_value' && issue.message.startsWith('Invalid enum value')) {
    // zod's own message ends "received '<value>'": the value may be a secret typed in the wrong field
    return [{ path: formatPath(issue.path), message: `expected one of ${issue.options.join(', ')}` }];
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}

/** The name of the first route taking tokens of both issuers `a` and `b` (its auth.issuers, else every one but the proxy's own), or null. */
function routeAcceptingBoth(cfg: Config, a: string, b: string): string | null {
  for (const r of Array.isArray(cfg.routes) ? cfg.routes : []) {
    if (r?.auth === undefined || r.auth === 'none' || typeof r.auth !== 'object') continue;
    const allowed = routeIssuers(cfg, r.auth);
    if (allowed === null || (allowed.includes(a) && allowed.includes(b))) return r.name;
  }
  return null;
}

/** References between sections (route → upstream, route → issuer…) and rules spanning fields; empty = fine. */
export function crossCheck(cfg: Config): ConfigProblem[] {
  const errors: ConfigProblem[] = [];
  const upstreams = Object.keys(cfg.upstreams);
  const issuers = Object.keys(cfg.issuers);
  const logoutPaths = new Map<string, string>();
  for (const [name, iss] of Object.entries(cfg.issuers)) {
    const p = iss?.backchannel_logout?.path;
    if (typeof p !== 'string') continue;
    const other = logoutPaths.get(p);
    if (other !== undefined) errors.push({ path: `issuers.${name}.backchannel_logout.path`, message: `"${p}" is already issuer "${other}"'s back-channel logout path` });
    else logoutPaths.set(p, name);
  }
  for (const [name, src] of Object.entries(cfg.event_sources ?? {})) {
    const p = src?.push?.path;
    if (typeof p !== 'string') continue;
    const other = logoutPaths.get(p);
    if (other !== undefined) errors.push({ path: `event_sources.${name}.push.path`, message: `"${p}" is already the event path of "${other}"` });
    else logoutPaths.set(p, name);
  }
  const names = new Set<string>();
  cfg.routes.forEach((r, i) => {
    if (names.has(r.name)) errors.push({ path: `routes[${i}].name`, message: `duplicate route name "${r.name}"` });
    names.add(r.name);
    // own keys only: `in` found `constructor`, `toString`… on the prototype, and serve then crashed at start
    if (!Object.hasOwn(cfg.upstreams, r.upstream)) {
      errors.push({ path: `routes[${i}].upstream`, message: `unknown upstream ${quotedName(r.upstream)} (known: ${upstreams.join(', ') || 'none'})` });
    }
    if (r.auth === undefined) {
      errors.push({ path: `routes[${i}].auth`, message: 'required: "none" or an auth block (routes are denied by default, say so explicitly)' });
    } else if (r.auth !== 'none') {
      if (issuers.length === 0) errors.push({ path: `routes[${i}].auth`, message: 'route requires a token but no issuers are configured' });
      else if (r.auth.issuers === undefined && defaultRouteIssuers(cfg)?.length === 0) errors.push({ path: `routes[${i}].auth.issuers`, message: `required: every configured issuer is the proxy's own (internal_tokens.issuer), which a route accepts only when it names it (known: ${issuers.join(', ')})` });
      r.auth.issuers?.forEach((name, j) => {
        if (!Object.hasOwn(cfg.issuers, name)) errors.push({ path: `routes[${i}].auth.issuers[${j}]`, message: `unknown issuer ${quotedName(name)} (known: ${issuers.join(', ') || 'none'})` });
      });
      r.auth.claims.forEach((c, j) => {
        const ops = ['equals', 'one_of', 'contains', 'exists', 'equals_param'].filter((k) => (c as Record<string, unknown>)[k] !== undefined);
        if (ops.length !== 1) errors.push({ path: `routes[${i}].auth.claims[${j}]`, message: `exactly one of equals, one_of, contains, exists, equals_param (got ${ops.length === 0 ? 'none' : ops.join(', ')})` });
        if (c.equals_param !== undefined && !r.match.path.split('/').includes(`:${c.equals_param}`)) {
          errors.push({ path: `routes[${i}].auth.claims[${j}].equals_param`, message: `path "${r.match.path}" has no parameter :${c.equals_param}` });
        }
      });
    }
    const pathProblem = checkPattern(r.match.path);
    if (pathProblem !== undefined) errors.push({ path: `routes[${i}].match.path`, message: pathProblem });
    if (r.strip_prefix !== undefined && !r.match.path.startsWith(r.strip_prefix)) {
      errors.push({ path: `routes[${i}].strip_prefix`, message: `"${r.strip_prefix}" is not a prefix of the route path "${r.match.path}"` });
    }
  });
  // one `iss` under two names is allowed with disjoint audiences (the token's aud picks the config, node/jwt/issuer-select),
  // or when no route accepts both (each route's auth.issuers picks one first); with an audience in common on a route
  // accepting both, which one verifies a token — its algorithms, skew, introspection — was their order's accident
  const sameIss = new Map<string, Array<{ name: string; audiences: readonly string[] }>>();
  for (const [name, iss] of Object.entries(cfg.issuers)) {
    if (typeof iss?.issuer !== 'string' || !Array.isArray(iss.audiences)) continue;
    const before = sameIss.get(iss.issuer) ?? [];
    for (const other of before) {
      const shared = iss.audiences.find((a) => other.audiences.includes(a));
      const route = shared === undefined ? null : routeAcceptingBoth(cfg, other.name, name);
      if (route !== null) {
        errors.push({ path: `issuers.${name}.audiences`, message: `issuer ${quotedName(other.name)} has the same issuer "${iss.issuer}" and audience "${shared}", and route ${quotedName(route)} accepts both: which of the two verifies such a token would depend on their order (give each its own audiences, name one in the route's auth.issuers, or merge them)` });
      }
    }
    sameIss.set(iss.issuer, [...before, { name, audiences: iss.audiences }]);
  }
  for (const [name, iss] of Object.entries(cfg.issuers)) {
    if (iss.jwks.min_refresh_s > iss.jwks.max_refresh_s) errors.push({ path: `issuers.${name}.jwks.min_refresh_s`, message: 'must not exceed max_refresh_s' });
    if (iss.discovery === false && iss.jwks_uri === undefined) errors.push({ path: `issuers.${name}.jwks_uri`, message: 'required when discovery is false' });
  }
  if (cfg.server.listen.port !== 0 && cfg.server.listen.port === cfg.admin.listen.port) {
    errors.push({ path: 'admin.listen.port', message: `must differ from server.listen.port (${cfg.server.listen.port})` });
  }
  // the HTTP/2 listener binds its own port (node:http2, no SO_REUSEPORT): the same one as another listener failed serve with EADDRINUSE
  const h2Port = cfg.server.http2?.listen.port ?? 0;
  for (const [other, port] of [['server.listen.port', cfg.server.listen.port], ['admin.listen.port', cfg.admin.listen.port]] as const) {
    if (h2Port !== 0 && h2Port === port) errors.push({ path: 'server.http2.listen.port', message: `must differ from ${other} (${port})` });
  }
  // an identity header under a name the proxy owns: `Host: <claim>` ahead of the real Host, a second
  // Authorization; and the name joins the client-header filter, dropping the client's own from every route
  for (const name of Object.keys(cfg.identity?.headers ?? {})) {
    const why = proxyOwnedHeaderProblem(name);
    if (why !== null) errors.push({ path: `identity.headers.${name}`, message: why });
  }
  cfg.routes.forEach((r, i) => {
    for (const name of Object.keys(r.forward?.identity_headers ?? {})) {
      const why = proxyOwnedHeaderProblem(name);
      if (why !== null) errors.push({ path: `routes[${i}].forward.identity_headers.${name}`, message: why });
    }
  });
  errors.push(...otherMethodsProblems(cfg));
  errors.push(...checkS2sConfig(cfg));
  errors.push(...checkClientCertRoutes(cfg));
  errors.push(...localSecretProblems(secretFields(cfg)));
  errors.push(...ownAdminTargetProblems(cfg));
  errors.push(...ownJwksIssuerProblems(cfg));
  return errors;
}

/** Returns a reason when a route path pattern is not one we can match unambiguously. */
export function checkPattern(pattern: string): string | undefined {
  const foreign = foreignPatternProblem(pattern);
  if (foreign !== undefined) return foreign;
  const segs = pattern.split('/').slice(1);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '*' && i !== segs.length - 1) return 'a * wildcard is only allowed as the last segment (/api/*)';
    if (s.includes('*') && s !== '*') return 'a * wildcard must be a whole segment (/api/*)';
    if (s === '.' || s === '..') return 'dot segments are not allowed in patterns';
    if (s.startsWith(':') && !/^:[A-Za-z_][A-Za-z0-9_]*$/.test(s)) return `bad parameter name "${s}"`;
    // a route's parameters are a plain object: `__proto__` would set its prototype, never hold the value (equals_param refused every request)
    if (s === ':__proto__') return 'parameter name "__proto__" names a JavaScript object\'s prototype, not a parameter';
    if (s === '' && i !== segs.length - 1) return 'empty segment (//) in pattern';
    if (/[?#%\\]/.test(s)) return 'patterns match decoded paths: no ?, #, % or \\';
    if (s.includes(';')) return 'no ; in patterns: routes match segments without their ;parameters (server.paths.allow_params)';
    // nginx and Servlet containers decode %XX before they route, Express does not: a reserved
    // character in a literal would match differently upstream ("%40me" vs "@me")
    if (!s.startsWith(':') && s !== '*' && !/^[A-Za-z0-9._~-]*$/.test(s)) return `literal segments are letters, digits and - . _ ~ only ("${s}"): upstreams that decode %XX and those that do not would read other characters differently`;
  }
  const params = segs.filter((s) => s.startsWith(':'));
  if (new Set(params).size !== params.length) return 'duplicate parameter name';
  return undefined;
}

/** Shape a raw (schema-invalid) document enough for crossCheck to read safely. */
function lenient(raw: unknown): Config {
  const o = (v: unknown): Record<string, any> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, any> : {});
  const r = o(raw);
  const routes = (Array.isArray(r.routes) ? r.routes : []).map((x: unknown, i: number) => {
    const rt = o(x);
    const auth = rt.auth === 'none' || rt.auth === undefined ? rt.auth : { ...o(rt.auth), claims: Array.isArray(o(rt.auth).claims) ? o(rt.auth).claims.map(o) : [], issuers: Array.isArray(o(rt.auth).issuers) ? o(rt.auth).issuers : undefined };
    const m = o(rt.match);
    // methods and host as written (without them every method-split pair of routes read as one hiding
    // the other, route-shadow.ts); a malformed match gets a host of its own, so it hides nothing
    const wellFormed = typeof m.path === 'string' && (m.methods === undefined || (Array.isArray(m.methods) && m.methods.every((x: unknown) => typeof x === 'string'))) && (m.host === undefined || typeof m.host === 'string');
    const match = { path: typeof m.path === 'string' ? m.path : '/', methods: wellFormed ? m.methods : undefined, host: wellFormed ? m.host : `\u0000malformed-${i}` };
    return { name: String(rt.name ?? ''), upstream: String(rt.upstream ?? ''), match, auth, strip_prefix: typeof rt.strip_prefix === 'string' ? rt.strip_prefix : undefined };
  });
  const issuers: Record<string, any> = {};
  // jwks after the spread: `jwks:` with every child commented out is null, and crossCheck reads its fields
  for (const [k, v] of Object.entries(o(r.issuers))) issuers[k] = { discovery: true, ...o(v), jwks: { min_refresh_s: 0, max_refresh_s: 1, ...o(o(v).jwks) } };
  return { routes, upstreams: o(r.upstreams), issuers, server: { listen: { port: 0 } }, admin: { listen: { port: -1 } } } as unknown as Config;
}

/** Freeze `o` and everything it reaches (already frozen objects are skipped with what they reach). */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Validate an already-parsed document (and its environment when `opts.env` is given). */
export function validateConfig(raw: unknown, opts: LoadOptions = {}): ConfigResult {
  const parsed = configSchema.safeParse(raw ?? {});
  const env = opts.env ?? null;
  if (!parsed.success) {
    // Report reference and environment errors too, so one run lists everything that is wrong.
    const schemaErrors = parsed.error.issues.flatMap(describeIssue);
    const seen = new Set(schemaErrors.map((e) => e.path));
    const fresh = (e: ConfigProblem): boolean => !seen.has(e.path) && ![...seen].some((p) => e.path.startsWith(p + '.'));
    const loose = lenient(raw);
    const extra = [...crossCheck(loose), ...(opts.refuseHiddenRoutes === true ? shadowedRoutes(loose) : [])].filter(fresh);
    const envErrors = env === null ? [] : checkEnvironment(lenientEnv(raw), env, opts).filter(fresh);
    return { ok: false, errors: [...schemaErrors, ...extra, ...envErrors] };
  }
  const errors = [...crossCheck(parsed.data), ...(opts.refuseHiddenRoutes === true ? shadowedRoutes(parsed.data) : []), ...(env === null ? [] : checkEnvironment(parsed.data, env, opts))];
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: deepFreeze(parsed.data) };
}

/** A schema-invalid document as far as checkEnvironment reads it: the walk is generic, `dpop` must be an object. */
function lenientEnv(raw: unknown): Config {
  const r = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw as Record<string, any> : {};
  const nonce = r.dpop?.nonce?.secret_env;
  return { ...r, dpop: { nonce: { secret_env: typeof nonce === 'string' ? nonce : undefined } } } as unknown as Config;
}

/** Parse YAML text (node/config/yaml-text.ts: size, nesting, alias and number caps); YAML errors are reported with line numbers. */
export function parseConfigText(text: string, opts: LoadOptions = {}): ConfigResult {
  const doc = parseYamlText(text);
  return doc.ok ? validateConfig(doc.raw, opts) : doc;
}

/** Read a config file's text (a regular file of at most MAX_YAML_BYTES); the problem names the file when it cannot be read. */
export function readConfigText(file: string): { ok: true; text: string } | { ok: false; errors: ConfigProblem[] } {
  try {
    // a FIFO blocks the event loop until a writer comes, /dev/zero never ends: only regular files,
    // and none larger than the parser accepts (yaml-text.ts says why) is read at all
    const st = statSync(file);
    if (!st.isFile()) return { ok: false, errors: [{ path: file, message: 'not a regular file' }] };
    if (st.size > MAX_YAML_BYTES) return { ok: false, errors: [{ path: file, message: `${st.size} bytes, more than the ${MAX_YAML_BYTES} bytes accepted` }] };
    return { ok: true, text: readFileSync(file, 'utf8') };
  } catch (err) {
    return { ok: false, errors: [{ path: file, message: `cannot read: ${readProblem(file, err as NodeJS.ErrnoException)}` }] };
  }
}

/** Read and validate a config file (and its environment when `opts.env` is given). Never throws. */
export function loadConfigFile(file: string, opts: LoadOptions = {}): ConfigResult {
  const r = readConfigText(file);
  return r.ok ? parseConfigText(r.text, opts) : r;
}

export function formatProblems(errors: readonly ConfigProblem[]): string {
  return errors.map((e) => `  ${e.path}: ${e.message}`).join('\n');
}
