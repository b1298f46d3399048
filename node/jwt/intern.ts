// Sharing of the low-cardinality strings of cached principals. Every verified token comes
// back from a worker as a fresh structured clone, so without this a million cached tokens
// hold a million copies of the same issuer URL, audience, scope string and scope array.
// Bounded: a table that fills up is dropped and refilled (values already shared stay shared).

/** Claims whose values repeat across tokens (issuer, audience, client, scopes, token kind). */
const SHARED_CLAIMS = ['iss', 'aud', 'azp', 'client_id', 'scope', 'scp', 'typ', 'token_use', 'tid', 'acr', 'amr', 'roles', 'groups'] as const;
const MAX_STRING = 512;

export class Interner {
  readonly #strings = new Map<string, string>();
  readonly #scopes = new Map<string, readonly string[]>();
  constructor(private readonly max = 4096) {}

  /** The shared copy of `s` (long strings are returned as they are). */
  string(s: string): string {
    if (s.length > MAX_STRING) return s;
    const c = this.#strings.get(s);
    if (c !== undefined) return c;
    if (this.#strings.size >= this.max) this.#strings.clear();
    this.#strings.set(s, s);
    return s;
  }

  /** Replace the repeating claim values of `claims` (a fresh, not yet frozen object) with shared copies. */
  claims(claims: Record<string, unknown>): Record<string, unknown> {
    for (const k of SHARED_CLAIMS) {
      const v = claims[k];
      if (typeof v === 'string') claims[k] = this.string(v);
      else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (typeof v[i] === 'string') v[i] = this.string(v[i] as string);
      }
    }
    return claims;
  }

  /** Parsed `scope` (space separated) or `scp` (array or string), frozen and shared between tokens with the same scopes. */
  scopes(claims: Readonly<Record<string, unknown>>): readonly string[] {
    const scope = typeof claims.scope === 'string' ? claims.scope : typeof claims.scp === 'string' ? claims.scp : null;
    if (scope !== null) {
      let s = this.#scopes.get(scope);
      if (s === undefined) {
        s = Object.freeze(scope.split(' ').filter((x) => x.length > 0).map((x) => this.string(x)));
        if (scope.length <= MAX_STRING) {
          if (this.#scopes.size >= this.max) this.#scopes.clear();
          this.#scopes.set(scope, s);
        }
      }
      return s;
    }
    const scp = claims.scp;
    if (Array.isArray(scp)) return Object.freeze(scp.filter((x): x is string => typeof x === 'string'));
    return EMPTY;
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
