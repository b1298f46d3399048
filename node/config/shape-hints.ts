// The fix for the shape mistakes people bring from other gateways' configs (Oathkeeper, Envoy
// jwt_authn): a scope list written as one string, a regular expression or a full URL as a route
// path, `{id}` for a parameter. Appended to the schema's "expected object, got string".

/** `routes[3].auth.scopes` → `auth.scopes`: the route-relative key hints are looked up by. */
function routeKey(path: ReadonlyArray<string | number>): string | null {
  if (path[0] !== 'routes' || typeof path[1] !== 'number') return null;
  return path.slice(2).join('.');
}

const LIST = 'a YAML list ([a, b]), not one space-separated string';
const BY_KEY: Record<string, string> = {
  'auth.scopes': 'write scopes: { all: [orders:read, orders:write] } (every one needed) or { any: [orders:read, orders:admin] } (one is enough), or both',
  'auth.scopes.all': LIST,
  'auth.scopes.any': LIST,
  'auth.roles': 'write roles: { claim: realm_access.roles, any: [admin, clerk] } (or all:; claim defaults to roles)',
  'auth.roles.all': LIST,
  'auth.roles.any': LIST,
  'auth.issuers': 'a list of names under issuers: [keycloak]',
  'auth.claims': 'a list of predicates: [{ claim: realm_access.roles, contains: admin }]',
  'auth.claims.one_of': LIST,
  'match.methods': 'a list: [GET, HEAD]',
};

/** A hint for a wrong type at `path`, or null. */
export function typeHint(path: ReadonlyArray<string | number>): string | null {
  const key = routeKey(path);
  if (key === null) return null;
  return BY_KEY[key.replace(/^auth\.claims\.\d+\./, 'auth.claims.')] ?? null;
}

const SYNTAX = 'route paths are neither regular expressions nor globs: literal segments, :name for one segment, and * as the last segment for the rest (/api/v1/*)';

/** Why a route path is not the proxy's pattern syntax but another gateway's, or undefined. */
export function foreignPatternProblem(pattern: string): string | undefined {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(pattern)) {
    return 'a path, not a URL: put the host in match.host and the path here (https://api.example/<**> is host: api.example, path: /*; the scheme is not matched)';
  }
  if (pattern.startsWith('^') || pattern.endsWith('$')) return SYNTAX;
  for (const s of pattern.split('/')) {
    const param = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(s);
    if (param !== null) return `parameters are written :${param[1]}, not {${param[1]}}`;
    if (s === '**' || s.includes('.*') || /[<>()|[\]{}^$+]/.test(s)) return SYNTAX;
  }
  return undefined;
}
