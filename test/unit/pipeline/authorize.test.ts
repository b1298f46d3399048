// Authorize stage: issuers, scopes all/any (403 insufficient_scope with scope=),
// claim predicates, roles; judged per route on every request (the Oathkeeper #743
// class: a cached principal must not carry one route's verdict to another), and a
// reference model for the scope matcher.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { authorize, compilePolicy, judge, type CompiledPolicy } from '../../../node/pipeline/authorize.js';
import { createAuthenticator } from '../../../node/pipeline/authenticate.js';
import { explainPolicy } from '../../../node/pipeline/explain-policy.js';
import { CONTINUE, type Principal, type StageResult } from '../../../node/pipeline/context.js';
import type { TokenVerifier } from '../../../node/pipeline/token-verifier.js';
import { compiled, ctxFor, principal, route } from './pipeline-helpers.js';
import { DEFAULT_IDENTITY } from '../../../node/pipeline/mutate.js';

const policyOf = (auth: unknown): CompiledPolicy => compilePolicy(route(auth))!;
const check = (auth: unknown, p: Principal | null, params: Record<string, string> | null = null): StageResult => {
  const r = compiled(route(auth));
  return authorize(ctxFor(r, { principal: p, params }));
};
const reasonOf = (r: StageResult): string => (r.kind === 'deny' ? r.reason : 'continue');

describe('compilePolicy', () => {
  it('returns null for auth: none and a frozen policy otherwise', () => {
    expect(compilePolicy(route('none'))).toBeNull();
    const p = policyOf({ scopes: { all: ['a'] }, claims: [{ claim: 'realm_access.roles', contains: 'x' }] });
    expect(Object.isFrozen(p)).toBe(true);
    expect(p.claims[0]!.path.segments).toEqual(['realm_access', 'roles']);
    expect(p.issuers).toBeNull();
  });

  it('a frozen route compiled again (an unchanged route of the next policy version) gives the same policy, for the same identity only', () => {
    const deepFreeze = <T>(o: T): T => { if (o !== null && typeof o === 'object') { Object.freeze(o); for (const v of Object.values(o)) deepFreeze(v); } return o; };
    const r = deepFreeze(route({ scopes: { all: ['a'] } }));
    const first = compilePolicy(r);
    expect(compilePolicy(r)).toBe(first);
    expect(first).toEqual(compilePolicy(route({ scopes: { all: ['a'] } })));
    const identity = deepFreeze({ ...DEFAULT_IDENTITY, headers: { 'X-Who': 'sub' } });
    const other = compilePolicy(r, identity);
    expect(other).not.toBe(first);
    expect(other).toEqual(compilePolicy(route({ scopes: { all: ['a'] } }), identity));
    expect(other!.mutation).not.toEqual(first!.mutation);
    // a route that is not frozen may change between calls: compiled every time
    const open = route({ scopes: { all: ['a'] } });
    expect(compilePolicy(open)).not.toBe(compilePolicy(open));
  });

  it('a route naming no issuers takes the default it is compiled with (every issuer but the proxy\'s own); a named list wins', () => {
    const deepFreeze = <T>(o: T): T => { if (o !== null && typeof o === 'object') { Object.freeze(o); for (const v of Object.values(o)) deepFreeze(v); } return o; };
    const r = deepFreeze(route({}));
    expect(compilePolicy(r)!.issuers).toBeNull();
    // the same frozen route under a config that gained the proxy's own issuer: compiled again
    expect(compilePolicy(r, DEFAULT_IDENTITY, ['demo'])!.issuers).toEqual(['demo']);
    expect(compilePolicy(r, DEFAULT_IDENTITY, null)!.issuers).toBeNull();
    expect(compilePolicy(route({ issuers: ['self'] }), DEFAULT_IDENTITY, ['demo'])!.issuers).toEqual(['self']);
  });

  it('passes a route with auth: none without a principal', () => {
    expect(check('none', null)).toBe(CONTINUE);
  });

  it('default deny: a route with no auth at all (check-config refuses it) refuses every token, however privileged', () => {
    const r = check(undefined, principal({ sub: 'a', scope: 'admin', roles: ['admin'] }, 'main'));
    expect(reasonOf(r)).toBe('route_without_auth');
    expect(r.kind === 'deny' && r.error.code).toBe('PORTCULLIS_ERR_AUTH_FORBIDDEN');
  });

  it('refuses a policy route without a principal (authenticate did not run)', () => {
    const r = check({}, null);
    expect(reasonOf(r)).toBe('no_principal');
  });
});

describe('authorize: issuers and scopes', () => {
  it('refuses a principal of an issuer the route does not allow', () => {
    const r = check({ issuers: ['other'] }, principal({ sub: 'a' }, 'main'));
    expect(r.kind === 'deny' && r.error.code).toBe('PORTCULLIS_ERR_AUTH_FORBIDDEN');
    expect(reasonOf(r)).toBe('issuer_not_allowed');
    expect(check({ issuers: ['other', 'main'] }, principal({ sub: 'a' }, 'main'))).toBe(CONTINUE);
  });

  it('requires every scope of scopes.all and answers 403 insufficient_scope with the required scopes', () => {
    const auth = { scopes: { all: ['orders:read', 'orders:write'] } };
    expect(check(auth, principal({ scope: 'orders:write orders:read profile' }))).toBe(CONTINUE);
    const r = check(auth, principal({ scope: 'orders:read' }));
    expect(r.kind).toBe('deny');
    if (r.kind !== 'deny') return;
    expect(r.error.code).toBe('PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE');
    expect(r.error.scope).toBe('orders:read orders:write');
    expect(r.reason).toBe('insufficient_scope');
  });

  it('requires one scope of scopes.any', () => {
    const auth = { scopes: { any: ['admin', 'orders:write'] } };
    expect(check(auth, principal({ scope: 'orders:write' }))).toBe(CONTINUE);
    const r = check(auth, principal({ scope: 'orders:read' }));
    expect(r.kind === 'deny' && r.error.scope).toBe('admin orders:write');
  });

  it('does not match scope prefixes or substrings', () => {
    expect(reasonOf(check({ scopes: { all: ['orders'] } }, principal({ scope: 'orders:read' })))).toBe('insufficient_scope');
    expect(reasonOf(check({ scopes: { all: ['orders:read'] } }, principal({ scope: 'orders:readwrite' })))).toBe('insufficient_scope');
  });
});

describe('authorize: claim predicates and roles', () => {
  it('equals is strict about type', () => {
    const auth = { claims: [{ claim: 'tier', equals: 1 }] };
    expect(check(auth, principal({ tier: 1 }))).toBe(CONTINUE);
    const r = check(auth, principal({ tier: '1' }));
    expect(r.kind === 'deny' && r.error.code).toBe('PORTCULLIS_ERR_AUTH_FORBIDDEN');
    expect(reasonOf(r)).toBe('claim_mismatch:tier');
  });

  it('one_of takes a scalar claim in the list', () => {
    const auth = { claims: [{ claim: 'tenant', one_of: ['acme', 'globex'] }] };
    expect(check(auth, principal({ tenant: 'globex' }))).toBe(CONTINUE);
    expect(reasonOf(check(auth, principal({ tenant: 'initech' })))).toBe('claim_mismatch:tenant');
    expect(reasonOf(check(auth, principal({ tenant: ['acme'] })))).toBe('claim_mismatch:tenant');
  });

  it('contains: an array holding the value, or a space-separated string with it as a word', () => {
    const auth = { claims: [{ claim: 'groups', contains: 'ops' }] };
    expect(check(auth, principal({ groups: ['dev', 'ops'] }))).toBe(CONTINUE);
    expect(check(auth, principal({ groups: 'dev ops' }))).toBe(CONTINUE);
    expect(reasonOf(check(auth, principal({ groups: 'devops' })))).toBe('claim_mismatch:groups');
    expect(reasonOf(check(auth, principal({ groups: ['devops'] })))).toBe('claim_mismatch:groups');
    expect(reasonOf(check(auth, principal({})))).toBe('claim_mismatch:groups');
  });

  it('exists true / false', () => {
    expect(check({ claims: [{ claim: 'act', exists: true }] }, principal({ act: { sub: 'svc' } }))).toBe(CONTINUE);
    expect(reasonOf(check({ claims: [{ claim: 'act', exists: true }] }, principal({ act: null })))).toBe('claim_mismatch:act');
    expect(check({ claims: [{ claim: 'act', exists: false }] }, principal({}))).toBe(CONTINUE);
    expect(reasonOf(check({ claims: [{ claim: 'act', exists: false }] }, principal({ act: {} })))).toBe('claim_mismatch:act');
  });

  it('equals_param compares the claim with a path parameter exactly', () => {
    const auth = { claims: [{ claim: 'tenant', equals_param: 'tenant' }] };
    expect(check(auth, principal({ tenant: 'acme' }), { tenant: 'acme' })).toBe(CONTINUE);
    expect(reasonOf(check(auth, principal({ tenant: 'acme' }), { tenant: 'ACME' }))).toBe('claim_mismatch:tenant');
    expect(reasonOf(check(auth, principal({ tenant: 'acme' }), null))).toBe('claim_mismatch:tenant');
    expect(reasonOf(check(auth, principal({ tenant: 7 }), { tenant: '7' }))).toBe('claim_mismatch:tenant');
  });

  it('equals_param reads an escaped parameter decoded, as the upstream does; an escape that is not UTF-8 matches nothing', () => {
    const auth = { claims: [{ claim: 'tenant', equals_param: 'tenant' }] };
    expect(check(auth, principal({ tenant: 'acme&co' }), { tenant: 'acme%26co' })).toBe(CONTINUE);
    expect(reasonOf(check(auth, principal({ tenant: 'acme%26co' }), { tenant: 'acme%26co' }))).toBe('claim_mismatch:tenant');
    expect(check(auth, principal({ tenant: 'münchen' }), { tenant: 'm%C3%BCnchen' })).toBe(CONTINUE);
    expect(reasonOf(check(auth, principal({ tenant: 'm%FCnchen' }), { tenant: 'm%FCnchen' }))).toBe('claim_mismatch:tenant');
    expect(reasonOf(check(auth, principal({ tenant: 'm\ufffdnchen' }), { tenant: 'm%FCnchen' }))).toBe('claim_mismatch:tenant');
    // NFD "münchen" (u + U+0308): an NFC/NFKC-folding upstream reads it as the NFC name, another tenant
    expect(reasonOf(check(auth, principal({ tenant: 'mu\u0308nchen' }), { tenant: 'mu%CC%88nchen' }))).toBe('claim_mismatch:tenant');
  });

  it('resolves dotted paths through own properties only, and a literal namespaced claim first', () => {
    const nested = { claims: [{ claim: 'realm_access.roles', contains: 'admin' }] };
    expect(check(nested, principal({ realm_access: { roles: ['admin'] } }))).toBe(CONTINUE);
    expect(reasonOf(check(nested, principal({ realm_access: ['admin'] })))).toBe('claim_mismatch:realm_access.roles');
    const proto = { claims: [{ claim: 'constructor.name', equals: 'Object' }] };
    expect(reasonOf(check(proto, principal({})))).toBe('claim_mismatch:constructor.name');
    // an inherited member is no claim (exists), nor is an array's own `length` a path segment
    const inherited = { claims: [{ claim: 'realm_access.constructor', exists: true }] };
    expect(reasonOf(check(inherited, principal({ realm_access: {} })))).toBe('claim_mismatch:realm_access.constructor');
    const length = { claims: [{ claim: 'groups.length', equals: 1 }] };
    expect(reasonOf(check(length, principal({ groups: ['admins'] })))).toBe('claim_mismatch:groups.length');
    const ns = { claims: [{ claim: 'https://example.com/tenant', equals: 'acme' }] };
    expect(check(ns, principal({ 'https://example.com/tenant': 'acme' }))).toBe(CONTINUE);
  });

  it('a role or contains value with a space is no word of a string claim (two words of it are two roles)', () => {
    const any = { roles: { any: ['Domain Admins'] } };
    expect(reasonOf(check(any, principal({ roles: 'Domain Admins' })))).toBe('roles_mismatch:roles');
    expect(reasonOf(check(any, principal({ roles: 'users Domain Admins' })))).toBe('roles_mismatch:roles');
    expect(check(any, principal({ roles: ['users', 'Domain Admins'] }))).toBe(CONTINUE);
    const contains = { claims: [{ claim: 'groups', contains: 'a b' }] };
    expect(reasonOf(check(contains, principal({ groups: 'x a b' })))).toBe('claim_mismatch:groups');
    expect(reasonOf(check({ claims: [{ claim: 'groups', contains: ' b' }] }, principal({ groups: 'a  b' })))).toBe('claim_mismatch:groups');
    expect(check(contains, principal({ groups: ['a b'] }))).toBe(CONTINUE);
  });

  it('a literal dotted key beside a different nested claim passes no rule but exists, and explain says why', () => {
    const both = principal({ 'realm_access.roles': ['admin'], realm_access: { roles: ['user'] } });
    expect(reasonOf(check({ roles: { claim: 'realm_access.roles', any: ['admin'] } }, both))).toBe('roles_mismatch:realm_access.roles');
    expect(reasonOf(check({ roles: { claim: 'realm_access.roles', any: ['user'] } }, both))).toBe('roles_mismatch:realm_access.roles');
    expect(reasonOf(check({ claims: [{ claim: 'realm_access.roles', exists: false }] }, both))).toBe('claim_mismatch:realm_access.roles');
    expect(check({ claims: [{ claim: 'realm_access.roles', exists: true }] }, both)).toBe(CONTINUE);
    const tier = principal({ 'a.b': 'gold', a: { b: 'free' } });
    for (const t of [{ equals: 'gold' }, { equals: 'free' }, { one_of: ['gold', 'free'] }, { contains: 'gold' }]) {
      expect(reasonOf(check({ claims: [{ claim: 'a.b', ...t }] }, tier)), JSON.stringify(t)).toBe('claim_mismatch:a.b');
    }
    // the same value in both (arrays compared element by element) is no ambiguity
    expect(check({ roles: { claim: 'realm_access.roles', any: ['admin'] } }, principal({ 'realm_access.roles': ['admin'], realm_access: { roles: ['admin'] } }))).toBe(CONTINUE);
    const why = explainPolicy(policyOf({ roles: { claim: 'realm_access.roles', any: ['admin'] } }), both, null).at(-1)!;
    expect(why.ok).toBe(false);
    expect(why.why).toContain('ambiguous');
  });

  it('roles all / any at a dotted claim', () => {
    const all = { roles: { claim: 'realm_access.roles', all: ['reader', 'writer'] } };
    expect(check(all, principal({ realm_access: { roles: ['writer', 'reader', 'x'] } }))).toBe(CONTINUE);
    expect(reasonOf(check(all, principal({ realm_access: { roles: ['reader'] } })))).toBe('roles_mismatch:realm_access.roles');
    const any = { roles: { any: ['admin', 'ops'] } };
    expect(check(any, principal({ roles: ['ops'] }))).toBe(CONTINUE);
    expect(check(any, principal({ roles: 'user ops' }))).toBe(CONTINUE);
    expect(reasonOf(check(any, principal({ roles: ['user'] })))).toBe('roles_mismatch:roles');
  });
});

describe('authorize: every route judges the same cached principal afresh (Oathkeeper #743 class)', () => {
  // a verifier answering from its cache: the same frozen principal for every request
  const cached = principal({ sub: 'alice', scope: 'orders:read' });
  const verifier: TokenVerifier = { verify: () => ({ ok: true, principal: cached }) };
  const authenticate = createAuthenticator({ jwt: verifier, introspection: {} });
  const read = compiled(route({ scopes: { all: ['orders:read'] } }), 0);
  const write = compiled(route({ scopes: { all: ['orders:write'] } }), 1);
  const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';

  const request = (r: typeof read): StageResult => {
    const ctx = ctxFor(r);
    ctx.token = JWT;
    const a = authenticate(ctx);
    expect(a).toBe(CONTINUE); // synchronous: the verifier answered synchronously
    return authorize(ctx);
  };

  it('allows the first route and refuses the second with the same token, in either order', () => {
    expect(request(read)).toBe(CONTINUE);
    const denied = request(write);
    expect(denied.kind === 'deny' && denied.error.scope).toBe('orders:write');
    expect(request(write).kind).toBe('deny');
    expect(request(read)).toBe(CONTINUE);
    expect(Object.isFrozen(cached)).toBe(true);
  });
});

describe('authorize: scope matcher agrees with a set-based reference', () => {
  const scope = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'a:b', 'read', 'write');
  it('all/any against random scope sets', () => {
    fc.assert(fc.property(
      fc.uniqueArray(scope, { maxLength: 5 }), fc.uniqueArray(scope, { maxLength: 4 }), fc.uniqueArray(scope, { maxLength: 4 }),
      (have, all, any) => {
        const scopes: Record<string, string[]> = {};
        if (all.length > 0) scopes.all = all;
        if (any.length > 0) scopes.any = any;
        const policy = policyOf(Object.keys(scopes).length > 0 ? { scopes } : {});
        const p = principal({ scope: have.join(' ') });
        const set = new Set(have);
        const expected = all.every((s) => set.has(s)) && (any.length === 0 || any.some((s) => set.has(s)));
        const r = judge(policy, p, null);
        expect(r.kind === 'continue').toBe(expected);
        if (!expected) expect(r.kind === 'deny' && r.error.code).toBe('PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE');
        // explain reaches the same verdict
        expect(explainPolicy(policy, p, null).every((x) => x.ok)).toBe(expected);
      },
    ), { numRuns: 1000 });
  });

  it('contains agrees with a word-split reference for string claims', () => {
    const word = fc.constantFrom('ops', 'dev', 'devops', 'o', 'ops:x');
    fc.assert(fc.property(fc.array(word, { maxLength: 5 }), word, fc.constantFrom(' ', '  '), (words, wanted, sep) => {
      const policy = policyOf({ claims: [{ claim: 'g', contains: wanted }] });
      const r = judge(policy, principal({ g: words.join(sep) }), null);
      expect(r.kind === 'continue').toBe(words.includes(wanted));
    }));
  });
});

describe('explainPolicy', () => {
  it('lists every rule with a verdict and a reason', () => {
    const policy = policyOf({
      issuers: ['main'], scopes: { all: ['orders:read'], any: ['x', 'y'] },
      claims: [{ claim: 'tenant', equals_param: 'tenant' }], roles: { any: ['admin'] },
    });
    const lines = explainPolicy(policy, principal({ scope: 'orders:read y', tenant: 'acme', roles: ['user'] }), { tenant: 'acme' });
    expect(lines.map((l) => [l.rule, l.ok])).toEqual([
      ['token', true],
      ['issuers [main]', true],
      ['scopes.all [orders:read]', true],
      ['scopes.any [x y]', true],
      ['claim tenant equals path parameter :tenant', true],
      ['roles.any [admin] at roles', false],
    ]);
    expect(lines[5]!.why).toContain('["user"]');
    expect(explainPolicy(null, null, null)).toEqual([{ rule: 'auth: none', ok: true, why: 'route needs no token' }]);
    expect(explainPolicy(policy, null, null)[0]).toMatchObject({ rule: 'token', ok: false });
  });
});
