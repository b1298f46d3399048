// validateConfigReusing gives exactly what validateConfig gives — the same frozen config for a
// valid document, the same problems with the same paths for an invalid one — while a version that
// changes one route of many re-parses only that route (the cost a cluster policy push pays).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RouteParseMemo, validateConfig, validateConfigReusing } from '../../../node/config/index.js';

const base = {
  server: { listen: { host: '127.0.0.1', port: 8080 } },
  admin: { listen: { host: '127.0.0.1', port: 9090 } },
  issuers: { main: { issuer: 'https://as.example', audiences: ['api'] } },
  upstreams: { app: { targets: ['http://127.0.0.1:3000'] } },
};
const route = (i: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: `r${i}`, match: { path: `/r/${i}/*` }, upstream: 'app', auth: { scopes: { all: [`s${i}`] } }, ...extra });
const doc = (routes: unknown[], more: Record<string, unknown> = {}): Record<string, unknown> => ({ ...base, routes, ...more });
const routes = (n: number): Array<Record<string, unknown>> => Array.from({ length: n }, (_, i) => route(i));

describe('validateConfigReusing', () => {
  it('a valid document: the same config as validateConfig, deep-frozen; the next version re-parses only the route it changed', () => {
    const memo = new RouteParseMemo();
    const first = validateConfigReusing(doc(routes(50)), {}, memo);
    const full = validateConfig(doc(routes(50)));
    expect(first).toEqual(full);
    expect(memo.last).toEqual({ reused: 0, parsed: 50, rest: false });
    const changed = routes(50);
    changed[7] = route(7, { strip_prefix: '/r' });
    const second = validateConfigReusing(doc(changed), {}, memo);
    expect(second).toEqual(validateConfig(doc(changed)));
    expect(memo.last).toEqual({ reused: 49, parsed: 1, rest: true });
    if (!second.ok || !first.ok) throw new Error('expected valid');
    expect(Object.isFrozen(second.config)).toBe(true);
    expect(Object.isFrozen(second.config.routes[7]!.match)).toBe(true);
    // an unchanged route is the very object parsed before (what the snapshot build can reuse)
    expect(second.config.routes[3]).toBe(first.config.routes[3]);
  });

  it('unknown keys stay refused at every level (the top level too: the route-less schema is still strict)', () => {
    const memo = new RouteParseMemo();
    validateConfigReusing(doc(routes(3)), {}, memo);
    for (const bad of [doc(routes(3), { extra: 1 }), doc([...routes(2), route(2, { colour: 'red' })]), doc(routes(3), { identity: { headers: {}, nope: true } })]) {
      const r = validateConfigReusing(bad, {}, memo);
      expect(r.ok).toBe(false);
      expect(r).toEqual(validateConfig(bad));
    }
  });

  it('schema, reference and environment errors: exactly validateConfig\'s, every one with its path', () => {
    const memo = new RouteParseMemo();
    validateConfigReusing(doc(routes(5)), {}, memo);
    const cases = [
      doc([...routes(4), route(4, { upstream: 'nope' })]), // reference
      doc([...routes(4), { ...route(4), match: { path: 'no-slash' } }, route(5, { auth: { scopes: { all: 'x' } } })]), // schema, two routes
      doc([...routes(4), route(0)]), // duplicate name, reused parse
      doc([]), // no routes
      { ...doc(routes(5)), upstreams: 'x' }, // another section
      doc([...routes(4), route(4, { client_credentials: { client_id: 'c', client_secret_env: 'UNSET_SECRET_FOR_TEST' } })]),
    ];
    for (const c of cases) {
      for (const env of [null, {}]) {
        const r = validateConfigReusing(c, { env }, memo);
        expect(r.ok).toBe(false);
        expect(r).toEqual(validateConfig(c, { env }));
      }
    }
  });

  it('property: over any sequence of versions (routes kept, changed, broken, reordered) the result equals validateConfig\'s', () => {
    const memo = new RouteParseMemo();
    const variant = fc.oneof(
      fc.constant<Record<string, unknown>>({}),
      fc.constant({ strip_prefix: '/r' }),
      fc.constant({ upstream: 'missing' }),
      fc.constant({ match: { path: '/x/*', methods: ['GET'] } }),
      fc.constant({ auth: 'none' }),
      fc.constant({ websocket: 'yes' }),
      fc.constant({ client_credentials: { issuer: 'main', client_id: 'c', client_secret_env: 'PROP_SECRET_A' } }),
      fc.constant({ client_credentials: { issuer: 'main', client_id: 'c', client_secret_env: 'PROP_SECRET_B' } }),
    );
    // the environment changes between versions too: a reused (frozen) route's secrets are looked up again
    const envs = fc.constantFrom(null, {}, { PROP_SECRET_A: 'a' }, { PROP_SECRET_A: 'a', PROP_SECRET_B: '' }, { PROP_SECRET_A: 'a', PROP_SECRET_B: 'b' });
    // the sections other than routes change too (or not: then their parse is reused)
    const rest = fc.constantFrom<Record<string, unknown>>(
      {}, {}, { verifier: { pool_size: 1 } }, { upstreams: { app: { targets: ['http://127.0.0.1:3001'] } } }, { upstreams: { other: { targets: ['http://127.0.0.1:3000'] } } },
      { identity: { nope: true } }, { server: { listen: { host: '127.0.0.1', port: Infinity } } }, { issuers: { main: { issuer: 'https://as.example', audiences: ['api'], client_secret_env: 'PROP_SECRET_A' } } },
    );
    // and the routes' JSON texts come from the digest (as for a decoded entry) or are written here
    fc.assert(fc.property(fc.array(fc.tuple(fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), variant), { minLength: 1, maxLength: 8 }), envs, rest, fc.boolean()), { minLength: 1, maxLength: 6 }), (versions) => {
      for (const [v, env, more, given] of versions) {
        const d = doc(v.map(([i, extra]) => route(i, extra)), more);
        const texts = given ? (d.routes as unknown[]).map((r) => JSON.stringify(r)) : undefined;
        expect(validateConfigReusing(d, { env }, memo, texts)).toEqual(validateConfig(d, { env }));
      }
    }), { numRuns: 60 });
  });

  it('a version that changes only routes reuses the parse of every other section (the same frozen objects); one that changes them parses them again', () => {
    const memo = new RouteParseMemo();
    const first = validateConfigReusing(doc(routes(5)), {}, memo);
    const second = validateConfigReusing(doc([...routes(4), route(4, { strip_prefix: '/r' })]), {}, memo);
    expect(memo.last.rest).toBe(true);
    if (!first.ok || !second.ok) throw new Error('expected valid');
    expect(second.config.upstreams).toBe(first.config.upstreams);
    expect(second).toEqual(validateConfig(doc([...routes(4), route(4, { strip_prefix: '/r' })])));
    const moved = doc(routes(5), { upstreams: { app: { targets: ['http://127.0.0.1:3001'] } } });
    const third = validateConfigReusing(moved, {}, memo);
    expect(memo.last.rest).toBe(false);
    expect(third).toEqual(validateConfig(moved));
  });

  it('a document JSON cannot stand for exactly (YAML .inf, a Date) is never reused: the same result as validateConfig, also right after an equal-looking one', () => {
    const memo = new RouteParseMemo();
    const nul = doc(routes(3), { server: { listen: { host: '127.0.0.1', port: null } } });
    const inf = doc(routes(3), { server: { listen: { host: '127.0.0.1', port: Infinity } } });
    for (const d of [nul, inf, nul, doc(routes(3)), doc(routes(3), { version: new Date(0) }), doc(routes(3), { version: new Date(0).toJSON() })]) {
      expect(validateConfigReusing(d, {}, memo)).toEqual(validateConfig(d));
    }
    validateConfigReusing(inf, {}, memo);
    expect(memo.last.rest).toBe(false);
  });
});
