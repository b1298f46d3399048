// Validating a config whose routes mostly equal those of the config validated before it (a
// pushed policy version that changes a few of thousands of routes). A route's schema parse
// depends on that route alone, so a route whose raw JSON equals one parsed last time reuses that
// parse; every other section, the cross-references and the environment are checked in full, as
// validateConfig does. Anything refused is validated again by validateConfig, so the errors
// (and their paths) are exactly its errors.
import { z } from 'zod';
import { checkEnvironment } from './env-check.js';
import { crossCheck, deepFreeze, validateConfig, type ConfigResult, type LoadOptions } from './load.js';
import { configSchema, routeSchema, type Config, type RouteConfig } from './schema.js';

/** The config schema with routes left unparsed (each is parsed on its own, or reused). */
const withoutRoutes = configSchema.extend({ routes: z.array(z.unknown()).min(1) });

/** Parsed routes of the last validation, by their raw JSON: one per validating thread, replaced by every validation. */
export class RouteParseMemo {
  private byJson = new Map<string, RouteConfig>();
  /** Routes reused and parsed by the last validation (tests, timings). */
  last = { reused: 0, parsed: 0 };

  get(json: string): RouteConfig | undefined {
    return this.byJson.get(json);
  }

  replace(next: Map<string, RouteConfig>, reused: number, parsed: number): void {
    this.byJson = next;
    this.last = { reused, parsed };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * validateConfig, reusing the frozen parse of every route whose raw JSON equals a route of the
 * previous call with the same `memo`; same result (a deep-frozen Config, or every problem with
 * its path). The memo then holds this call's routes (also when the environment check refuses).
 */
export function validateConfigReusing(raw: unknown, opts: LoadOptions, memo: RouteParseMemo): ConfigResult {
  if (!isObject(raw) || !Array.isArray(raw.routes)) return validateConfig(raw, opts);
  const rest = withoutRoutes.safeParse(raw);
  if (!rest.success) return validateConfig(raw, opts);
  const next = new Map<string, RouteConfig>();
  const routes: RouteConfig[] = [];
  let reused = 0;
  for (const r of raw.routes) {
    const json = JSON.stringify(r);
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
  memo.replace(next, reused, routes.length - reused);
  const config = { ...rest.data, routes } as Config;
  if (crossCheck(config).length > 0) return validateConfig(raw, opts);
  const env = opts.env ?? null;
  const envErrors = env === null ? [] : checkEnvironment(config, env);
  if (envErrors.length > 0) return { ok: false, errors: envErrors };
  return { ok: true, config: deepFreeze(config) };
}
