// Sharing of the low-cardinality strings of cached principals. Every verified token comes
// back from a worker as a fresh structured clone, so without this a million cached tokens
// hold a million copies of the same issuer URL, audience, scope string and scope array.
// Bounded: a table that fills up is dropped and refilled (values already shared stay shared).

/**
 * Claims whose values repeat across tokens (issuer, audience, client, scopes, token kind): the list
 * `claims()` reads, one named property each (kept here for the test that checks the two agree).
 */
export const SHARED_CLAIMS = ['iss', 'aud', 'azp', 'client_id', 'scope', 'scp', 'typ', 'token_use', 'tid', 'acr', 'amr', 'roles', 'groups'] as const;
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

  /**
   * Replace the repeating claim values (SHARED_CLAIMS) of `claims` (a fresh, not yet frozen object)
   * with shared copies. One named load per claim, not a loop of `claims[k]`: a loop is one keyed
   * load and store site seeing 13 names, megamorphic on every cache miss (perf: KeyedLoadIC_Megamorphic).
   */
  claims(c: Record<string, unknown>): Record<string, unknown> {
    let v: unknown;
    if (typeof (v = c.iss) === 'string') c.iss = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.aud) === 'string') c.aud = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.azp) === 'string') c.azp = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.client_id) === 'string') c.client_id = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.scope) === 'string') c.scope = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.scp) === 'string') c.scp = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.typ) === 'string') c.typ = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.token_use) === 'string') c.token_use = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.tid) === 'string') c.tid = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.acr) === 'string') c.acr = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.amr) === 'string') c.amr = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.roles) === 'string') c.roles = this.string(v); else if (Array.isArray(v)) this.#array(v);
    if (typeof (v = c.groups) === 'string') c.groups = this.string(v); else if (Array.isArray(v)) this.#array(v);
    return c;
  }

  /** The string elements of a claim array replaced by their shared copies, in place. */
  #array(v: unknown[]): void {
    for (let i = 0; i < v.length; i++) if (typeof v[i] === 'string') v[i] = this.string(v[i] as string);
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
