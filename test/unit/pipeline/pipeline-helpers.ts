// Builders for pipeline unit tests: a RouteConfig through the real schema (defaults
// applied), a compiled route and a request context, and a principal.
import { routeSchema, type RouteConfig } from '../../../node/config/index.js';
import { compilePolicy } from '../../../node/pipeline/authorize.js';
import type { CompiledRoute, Principal, RequestContext } from '../../../node/pipeline/context.js';

export function route(auth: unknown, extra: Record<string, unknown> = {}, path = '/api/*'): RouteConfig {
  return routeSchema.parse({ name: 'r', match: { path }, upstream: 'app', auth, ...extra });
}

export function compiled(cfg: RouteConfig, index = 0): CompiledRoute {
  return { index, name: cfg.name, config: cfg, policy: compilePolicy(cfg) };
}

export function ctxFor(r: CompiledRoute, init: { headers?: string[]; query?: string; params?: Record<string, string> | null; principal?: Principal | null } = {}): RequestContext {
  return {
    method: 'GET', path: '/api/x', query: init.query ?? '', host: 'example.com', headers: init.headers ?? [], remoteAddress: '127.0.0.1',
    route: r, params: init.params ?? null, token: null, tokenSource: null, principal: init.principal ?? null, denyReason: null,
  };
}

export function principal(claims: Record<string, unknown>, issuer = 'main', kind: 'jwt' | 'opaque' = 'jwt'): Principal {
  const scope = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return Object.freeze({ issuer, kind, claims: Object.freeze({ ...claims }), scopes: Object.freeze(scope), exp: 2_000_000_000, validUntil: 2_000_000_000, fingerprint: '0011223344556677', facts: Object.freeze({ tokenHash: '00'.repeat(32) }) });
}
