// The policy/local split: a full config round-trips through extract + combine, the local part
// of the file wins for local keys and is ignored for policy keys, foreign keys in a policy are
// errors with their path, and the digest does not depend on key order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalRouteMemo, canonicalJson, combinePolicy, extractPolicy, policyDigest, POLICY_KEYS, splitDocument, validateConfig, validateLocal } from '../../../node/config/index.js';

const full = {
  server: { listen: { host: '127.0.0.1', port: 8080 } },
  admin: { listen: { host: '127.0.0.1', port: 9090 } },
  issuers: { main: { issuer: 'https://as.example', audiences: ['api'] } },
  upstreams: { app: { targets: ['http://127.0.0.1:3000'] } },
  routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: { scopes: { all: ['read'] } } }],
  log: { level: 'warn' },
};

describe('policy split', () => {
  it('extract then combine with the same local part gives the config a single file gives', () => {
    const single = validateConfig(full);
    if (!single.ok) throw new Error(JSON.stringify(single.errors));
    const policy = extractPolicy(single.config);
    expect(Object.keys(policy).every((k) => (POLICY_KEYS as readonly string[]).includes(k))).toBe(true);
    expect(policy).not.toHaveProperty('server');
    const combined = combinePolicy(full, policy);
    if (!combined.ok) throw new Error(JSON.stringify(combined.errors));
    expect(combined.config).toEqual(single.config);
  });

  it('the local part is the instance\'s own: its policy keys are replaced, its listen address kept', () => {
    const other = { ...full, server: { listen: { host: '127.0.0.1', port: 7000 } }, routes: [{ name: 'stale', match: { path: '/' }, upstream: 'app', auth: 'none' }] };
    const r = combinePolicy(other, { upstreams: full.upstreams, routes: full.routes, issuers: full.issuers });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.config.server.listen.port).toBe(7000);
    expect(r.config.routes.map((x) => x.name)).toEqual(['api']);
  });

  it('a policy naming local keys or broken references fails with every path, as a single file would', () => {
    const r = combinePolicy(full, { routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'nope', auth: 'none' }], server: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([expect.objectContaining({ path: 'server', message: expect.stringMatching(/not part of the policy/) })]);
    const r2 = combinePolicy(full, { upstreams: full.upstreams, routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'nope', auth: 'none' }] });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.errors.map((e) => e.path)).toContain('routes[0].upstream');
  });

  it('splitDocument separates the keys; validateLocal accepts a file without any policy', () => {
    const { local, policy } = splitDocument(full);
    expect(Object.keys(local).sort()).toEqual(['admin', 'log', 'server']);
    expect(Object.keys(policy).sort()).toEqual(['issuers', 'routes', 'upstreams']);
    expect(validateLocal(local).ok).toBe(true);
    expect(validateLocal({ ...local, server: { listen: { port: 'x' } } }).ok).toBe(false);
  });

  it('the digest is over canonical JSON: key order does not change it, content does', () => {
    const a = { routes: [{ b: 1, a: 2 }], upstreams: { x: { y: 1, z: 2 } } };
    const b = { upstreams: { x: { z: 2, y: 1 } }, routes: [{ a: 2, b: 1 }] };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(policyDigest(a)).toBe(policyDigest(b));
    expect(policyDigest({ ...a, routes: [{ a: 2, b: 3 }] })).not.toBe(policyDigest(a));
  });

  it('property: canonicalJson is exactly the plain recursive form it replaced (sorted keys, undefined skipped, holes empty)', () => {
    const reference = (v: unknown): string => {
      if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
      if (v !== null && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(',')}}`;
      }
      return JSON.stringify(v ?? null);
    };
    const value = fc.anything({ withSparseArray: true, withNullPrototype: true, withObjectString: false, withBigInt: false, withDate: false, withMap: false, withSet: false, withTypedArray: false, withBoxedValues: false });
    fc.assert(fc.property(fc.oneof(fc.jsonValue(), value), (v) => { expect(canonicalJson(v)).toBe(reference(v)); }), { numRuns: 500 });
  });

  it('property: a digest through CanonicalRouteMemo equals the plain digest over any sequence of decoded versions', () => {
    const memo = new CanonicalRouteMemo();
    const route = fc.record({ name: fc.constantFrom('a', 'b', 'c'), match: fc.record({ path: fc.constantFrom('/a', '/b/*') }, { requiredKeys: [] }), x: fc.jsonValue() }, { requiredKeys: ['name'] });
    const version = fc.record({ routes: fc.array(fc.oneof(route, fc.jsonValue()), { maxLength: 6 }), upstreams: fc.jsonValue() }, { requiredKeys: ['routes'] });
    fc.assert(fc.property(fc.array(version, { minLength: 1, maxLength: 5 }), (versions) => {
      for (const v of versions) {
        const decoded = JSON.parse(JSON.stringify(v)) as Record<string, unknown>; // as an entry arrives: straight from JSON.parse
        expect(policyDigest(decoded, memo)).toBe(policyDigest(decoded));
        // the digest's JSON texts of these very routes, handed to validation: JSON.stringify of each object route
        const rs = decoded.routes;
        if (Array.isArray(rs)) expect(memo.textsOf(rs)).toEqual(rs.map((r) => (r !== null && typeof r === 'object' && !Array.isArray(r) ? JSON.stringify(r) : undefined)));
      }
    }), { numRuns: 300 });
    // a version changing one route of three writes only that route's canonical JSON
    const routes = [{ name: 'a', match: { path: '/a' } }, { name: 'b', match: { path: '/b' } }, { name: 'c', match: { path: '/c' } }];
    policyDigest(JSON.parse(JSON.stringify({ routes })), memo);
    expect(policyDigest(JSON.parse(JSON.stringify({ routes: [routes[0], { name: 'b', match: { path: '/b2' } }, routes[2]] })), memo)).toBe(policyDigest({ routes: [routes[0], { name: 'b', match: { path: '/b2' } }, routes[2]] }));
    expect(memo.last).toEqual({ reused: 2, written: 1 });
    // texts only for the very array digested last: an equal copy gets none
    const decoded = JSON.parse(JSON.stringify({ routes })) as { routes: unknown[] };
    policyDigest(decoded, memo);
    expect(memo.textsOf(decoded.routes)).toEqual(routes.map((r) => JSON.stringify(r)));
    expect(memo.textsOf(JSON.parse(JSON.stringify(routes)) as unknown[])).toBeNull();
  });
});
