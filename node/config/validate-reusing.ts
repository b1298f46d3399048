// Validating a config whose routes mostly equal those of the config validated before it (a
// pushed policy version that changes a few of thousands of routes). A route's schema parse
// depends on that route alone, so a route whose raw JSON equals one parsed last time reuses that
// parse; likewise the sections other than routes, parsed together, when their JSON equals last
// time's (a push that changes only routes). The cross-references and the environment are checked
// in full, as validateConfig does. Anything refused is validated again by validateConfig, so the
// errors (and their paths) are exactly its errors.
import { z } from 'zod';
import { checkEnvironment } from './env-check.js';
import { crossCheck, deepFreeze, validateConfig, type ConfigResult, type LoadOptions } from './load.js';
import { shadowedRoutes } from './route-shadow.js';
import { configSchema, routeSchema, type Config, type RouteConfig } from './schema.js';

/** The config schema with routes left unparsed (each is parsed on its own, or reused). */
const withoutRoutes = configSchema.extend({ routes: z.array(z.unknown()).min(1) });

/** The parsed config without its routes (deep-frozen). */
type Rest = Omit<Config, 'routes'>;

/** Parsed routes (and the other sections) of the last validation, by their raw JSON: one per validating thread, replaced by every validation. */
export class RouteParseMemo {
  private byJson = new Map<string, RouteConfig>();
  /** The sections other than routes of the last valid parse, by their raw JSON. */
  rest: { json: string; data: Rest } | null = null;
  /** Routes reused and parsed by the last validation (tests, timings); `rest`: the other sections reused. */
  last = { reused: 0, parsed: 0, rest: false };

  get(json: string): RouteConfig | undefined {
    return this.byJson.get(json);
  }

  replace(next: Map<string, RouteConfig>, reused: number, parsed: number, rest: boolean): void {
    this.byJson = next;
    this.last = { reused, parsed, rest };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * validateConfig, reusing the frozen parse of every route whose raw JSON equals a route of the
 * previous call with the same `memo`; same result (a deep-frozen Config, or every problem with
 * its path). The memo then holds this call's routes (also when the environment check refuses).
 * `routeTexts[i]`, when given, must be JSON.stringify(raw.routes[i]) (or undefined: written here).
 */
export function validateConfigReusing(raw: unknown, opts: LoadOptions, memo: RouteParseMemo, routeTexts?: ReadonlyArray<string | undefined> | null): ConfigResult {
  if (!isObject(raw) || !Array.isArray(raw.routes) || raw.routes.length === 0) return validateConfig(raw, opts);
  const { routes: _routes, ...restRaw } = raw;
  const restJson = exactJson(restRaw);
  let rest: Rest;
  const restReused = restJson !== null && memo.rest?.json === restJson;
  if (restReused) rest = memo.rest!.data;
  else {
    const parsed = withoutRoutes.safeParse(raw);
    if (!parsed.success) return validateConfig(raw, opts);
    const { routes: _parsedRoutes, ...data } = parsed.data;
    rest = deepFreeze(data);
    memo.rest = restJson === null ? null : { json: restJson, data: rest };
  }
  const next = new Map<string, RouteConfig>();
  const routes: RouteConfig[] = [];
  let reused = 0;
  // the caller's texts are JSON.stringify of these very routes (the digest wrote them): not written twice
  const texts = routeTexts != null && routeTexts.length === raw.routes.length ? routeTexts : null;
  for (let i = 0; i < raw.routes.length; i++) {
    const r: unknown = raw.routes[i];
    const json = texts?.[i] ?? JSON.stringify(r);
    let parsed = next.get(json) ?? memo.get(json);
    if (parsed !== undefined) reused++;
    else {
      const p = routeSchema.safeParse(r);
      if (!p.success) return validateConfig(raw, opts);
      parsed = deepFreeze(p.data);
    }
    next.set(json, parsed);
    routes.push(parsed);
  }
  memo.replace(next, reused, routes.length - reused, restReused);
  const config = { ...rest, routes } as Config;
  if (crossCheck(config).length > 0 || (opts.refuseHiddenRoutes === true && shadowedRoutes(config).length > 0)) return validateConfig(raw, opts);
  const env = opts.env ?? null;
  const envErrors = env === null ? [] : checkEnvironment(config, env);
  if (envErrors.length > 0) return { ok: false, errors: envErrors };
  return { ok: true, config: deepFreeze(config) };
}

/**
 * JSON text of `v` when that text determines `v` (plain objects and arrays, strings, booleans,
 * null, finite numbers other than -0); null when `v` holds anything JSON writes lossily (a YAML
 * `.inf` or `.nan` becomes null, a Date a string, a Uint8Array an object, undefined disappears):
 * such a document is never reused.
 */
function exactJson(v: unknown): string | null {
  let lossy = false;
  const text = JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    const orig = this[k]; // before toJSON (a Date would already be a string)
    if (lossy) return undefined;
    if (orig === undefined || typeof orig === 'function' || typeof orig === 'symbol' || typeof orig === 'bigint' || (typeof orig === 'number' && (!Number.isFinite(orig) || Object.is(orig, -0)))) { lossy = true; return undefined; }
    if (orig !== null && typeof orig === 'object') {
      const proto = Object.getPrototypeOf(orig);
      if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) { lossy = true; return undefined; }
    }
    return x;
  });
  return lossy ? null : text;
}
