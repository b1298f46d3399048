// Mutate stage: claims forwarded as headers (defaults or per route), values made safe
// for the wire, client-sent identity headers recognised for stripping on every route,
// and the inbound credential dropped when the route says so.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  compileIdentityFilter, compileMutation, identityHeaderValue, isIdentityHeader, mutate, stripsAuthorization, DEFAULT_IDENTITY,
} from '../../../node/pipeline/mutate.js';
import { identitySchema } from '../../../node/config/index.js';
import type { Principal } from '../../../node/pipeline/context.js';
import { compiled, ctxFor, principal, route } from './pipeline-helpers.js';

function run(auth: unknown, p: Principal | null, extra: Record<string, unknown> = {}, out: string[] = []): string[] {
  const ctx = ctxFor(compiled(route(auth, extra)), { principal: p });
  mutate(ctx, out);
  return out;
}

describe('mutate: identity headers', () => {
  it('adds the default X-Auth-* headers from the principal', () => {
    const out = run({}, principal({ sub: 'alice', scope: 'a b', client_id: 'web', iss: 'https://as' }));
    expect(out).toEqual(['x-auth-subject', 'alice', 'x-auth-scopes', 'a b', 'x-auth-client-id', 'web', 'x-auth-issuer', 'https://as']);
  });

  it('uses the route mapping instead of the defaults, with dotted paths', () => {
    const out = run({}, principal({ sub: 'bob', realm_access: { roles: ['r1', 'r2'] }, tier: 3, admin: false }), {
      forward: { identity_headers: { 'X-User': 'sub', 'X-Roles': 'realm_access.roles', 'X-Tier': 'tier', 'X-Admin': 'admin' } },
    });
    expect(out).toEqual(['x-user', 'bob', 'x-roles', 'r1 r2', 'x-tier', '3', 'x-admin', 'false']);
  });

  it('forwards parsed scopes when the token carries scp instead of scope', () => {
    const p: Principal = { ...principal({ sub: 'c', scp: ['x', 'y'] }), scopes: ['x', 'y'] };
    expect(run({}, p)).toEqual(['x-auth-subject', 'c', 'x-auth-scopes', 'x y']);
  });

  it('forwards the scopes the policy judged: a `scope` array (no scopes to the policy) gives no scope header', () => {
    const p: Principal = { ...principal({ sub: 'c', scope: ['admin'] }), scopes: [] };
    expect(run({}, p)).toEqual(['x-auth-subject', 'c']);
  });

  it('an scp header (any spelling) carries the scopes the policy judged: the scope string beside a disagreeing scp', () => {
    const p: Principal = { ...principal({ sub: 'c', scope: 'read', scp: ['read', 'admin'] }), scopes: ['read'] };
    const fwd = { forward: { identity_headers: { 'X-Scp': 'scp', 'X-Quoted': '"scp"' } } };
    expect(run({}, p, fwd)).toEqual(['x-scp', 'read', 'x-quoted', 'read']);
    const only: Principal = { ...principal({ sub: 'c', scp: 'read write' }), scopes: ['read', 'write'] };
    expect(run({}, only, fwd)).toEqual(['x-scp', 'read write', 'x-quoted', 'read write']);
  });

  it('a string claim the route reads as a list (roles, contains) goes out only as its judged words', () => {
    const fwd = { forward: { identity_headers: { 'X-Roles': 'roles', 'X-Groups': 'groups', 'X-Name': 'name' } } };
    const auth = { roles: { any: ['reader'] }, claims: [{ claim: 'groups', contains: 'staff' }] };
    const p = principal({ roles: 'reader x,admin', groups: 'staff x\tadmin', name: 'Doe, John' });
    // name is judged by no rule: one value, as written
    expect(run(auth, p, fwd)).toEqual(['x-name', 'Doe, John']);
    expect(run(auth, principal({ roles: 'reader writer', groups: 'staff' }), fwd)).toEqual(['x-roles', 'reader writer', 'x-groups', 'staff']);
    // a route that judges neither forwards them as one value each, as before
    expect(run({}, p, fwd)).toEqual(['x-roles', 'reader x,admin', 'x-groups', 'staff x\tadmin', 'x-name', 'Doe, John']);
  });

  it('skips objects, null, missing claims and non-scalar array elements', () => {
    const out = run({}, principal({ sub: { id: 1 }, scope: null, client_id: ['a', { x: 1 }, ['b'], 2] }));
    expect(out).toEqual(['x-auth-client-id', 'a 2']);
  });

  it('adds nothing without a principal', () => {
    expect(run({}, null)).toEqual([]);
  });

  // a cached token's headers are remembered per (principal, compiled route): these hold across repeats
  it('gives a repeated principal its route\'s headers every time, the new mapping at once after a reload recompiles the route', () => {
    const p = principal({ sub: 'alice', scope: 'a', tier: 2 });
    const before = compiled(route({}));
    const after = compiled(route({}, { forward: { identity_headers: { 'X-Tier': 'tier' } } }));
    const headers = (r: ReturnType<typeof compiled>): string[] => { const out: string[] = []; mutate(ctxFor(r, { principal: p }), out); return out; };
    for (let i = 0; i < 4; i++) expect(headers(before)).toEqual(['x-auth-subject', 'alice', 'x-auth-scopes', 'a']);
    for (let i = 0; i < 4; i++) expect(headers(after)).toEqual(['x-tier', '2']);
    expect(headers(before)).toEqual(['x-auth-subject', 'alice', 'x-auth-scopes', 'a']);
  });

  it('never gives one principal\'s headers to another, repeated or interleaved, with the same token fingerprint', () => {
    const a = principal({ sub: 'alice' });
    const b = principal({ sub: 'bob' });
    expect(a.fingerprint).toBe(b.fingerprint);
    for (let i = 0; i < 4; i++) expect(run({}, a)).toEqual(['x-auth-subject', 'alice']);
    for (let i = 0; i < 4; i++) expect(run({}, b)).toEqual(['x-auth-subject', 'bob']);
    for (let i = 0; i < 4; i++) expect(run({}, i % 2 === 0 ? a : b)).toEqual(['x-auth-subject', i % 2 === 0 ? 'alice' : 'bob']);
  });

  it('reads a principal that is not frozen again on every request', () => {
    const claims: Record<string, unknown> = { sub: 'v1' };
    const p: Principal = { ...principal({}), claims };
    for (let i = 0; i < 3; i++) expect(run({}, p)).toEqual(['x-auth-subject', 'v1']);
    claims.sub = 'v2';
    expect(run({}, p)).toEqual(['x-auth-subject', 'v2']);
  });
});

describe('identityHeaderValue', () => {
  it('omits values with CR, LF, NUL or other control characters, and values over 4 KiB', () => {
    for (const v of ['a\r\nX-Admin: 1', 'a\nb', 'a\0b', 'a\x7fb', 'a\x1bb']) expect(identityHeaderValue(v)).toBeNull();
    expect(identityHeaderValue('tab\tok')).toBe('tab\tok');
    expect(identityHeaderValue('x'.repeat(4096))).toHaveLength(4096);
    expect(identityHeaderValue('x'.repeat(4097))).toBeNull();
    expect(identityHeaderValue(['a\r', 'b'])).toBeNull();
  });

  it('omits a list whose element holds a separator, a comma or non-ASCII (one element never reads as two)', () => {
    for (const el of ['x admin', 'x\tadmin', 'x,admin', 'x\u00a0admin', 'x\u00e0admin', 'x\u2003admin', 'M\u00fcller']) {
      expect(identityHeaderValue(['reader', el]), JSON.stringify(el)).toBeNull();
    }
    expect(identityHeaderValue(['reader', 'team-1', 42, true])).toBe('reader team-1 42 true');
    // the scope header is a space-separated list as written: spaces pass, tabs, commas and non-ASCII do not
    expect(identityHeaderValue('read  write', true)).toBe('read  write');
    for (const s of ['read x\tadmin', 'read x,admin', 'read x\u00a0admin']) expect(identityHeaderValue(s, true), JSON.stringify(s)).toBeNull();
    // a single-valued header keeps commas and UTF-8
    expect(identityHeaderValue('Doe, Jane')).toBe('Doe, Jane');
  });

  it('omits a string with a space or tab at either end (the upstream would read it trimmed)', () => {
    for (const v of [' admin', 'admin ', '\tadmin', 'admin\t', ' ']) expect(identityHeaderValue(v), JSON.stringify(v)).toBeNull();
    expect(identityHeaderValue('van  der\tBerg')).toBe('van  der\tBerg');
  });

  it('writes non-ASCII text as its UTF-8 bytes, so no code point can become CR or LF on the wire', () => {
    const v = identityHeaderValue('José \u010a')!;
    const wire = Buffer.from(v, 'latin1');
    expect(wire.toString('utf8')).toBe('José \u010a');
    expect(wire.includes(0x0a)).toBe(false);
  });

  it('never yields a value with a forbidden byte (property)', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.array(fc.string({ unit: 'grapheme' }))), (claim) => {
      const v = identityHeaderValue(claim);
      if (v === null) return;
      const wire = Buffer.from(v, 'latin1');
      expect(Buffer.from(wire.toString('latin1'), 'latin1').equals(wire)).toBe(true);
      for (const b of wire) expect(b === 0x09 || (b >= 0x20 && b !== 0x7f)).toBe(true);
      expect(wire.length).toBeLessThanOrEqual(4096);
    }));
  });
});

describe('mutate: credentials', () => {
  it('reports forward.authorization: strip and removes the custom token header', () => {
    const r = compiled(route({ token_sources: { header: 'X-Token' } }, { forward: { authorization: 'strip' } }));
    const ctx = ctxFor(r, { principal: principal({ sub: 'a' }) });
    expect(stripsAuthorization(ctx)).toBe(true);
    const out = ['x-token', 'secret', 'accept', '*/*'];
    mutate(ctx, out);
    expect(out.slice(0, 2)).toEqual(['accept', '*/*']);
    expect(out).not.toContain('secret');
  });

  it('keeps Authorization by default', () => {
    const r = compiled(route({}));
    expect(stripsAuthorization(ctxFor(r))).toBe(false);
    expect(compileMutation(route({ token_sources: { header: 'X-Token' } })).stripTokenHeader).toBeNull();
  });
});

describe('identity header filter', () => {
  it('strips names with a configured prefix, case-insensitively configured', () => {
    expect(isIdentityHeader('x-auth-subject')).toBe(true);
    expect(isIdentityHeader('x-authorization')).toBe(false);
    const f = compileIdentityFilter(identitySchema.parse({ strip_prefixes: ['X-Auth-', 'x-user-'] }));
    expect(f('x-auth-roles')).toBe(true);
    expect(f('x-user-id')).toBe(true);
    expect(f('x-request-id')).toBe(false);
  });

  it('also strips every header name a route maps a claim to, on every route', () => {
    const routes = [route({}, { forward: { identity_headers: { 'X-User': 'sub' } } }), route('none')];
    const f = compileIdentityFilter(DEFAULT_IDENTITY, routes);
    expect(f('x-user')).toBe(true);
    expect(f('x-auth-anything')).toBe(true);
    expect(f('authorization')).toBe(false);
  });

  it('every one also under grpc-gateway\'s grpc-metadata- spelling (the gateway hands it on as metadata <name>)', () => {
    const one = compileIdentityFilter(DEFAULT_IDENTITY);
    const many = compileIdentityFilter(identitySchema.parse({ strip_prefixes: ['X-Auth-', 'x-user-'] }), [route({}, { forward: { identity_headers: { 'X-Role': 'role' } } })]);
    for (const f of [one, many, isIdentityHeader]) {
      expect(f('grpc-metadata-x-auth-subject')).toBe(true);
      expect(f('grpc-metadata-trace')).toBe(false);
      expect(f('grpc-metadata-')).toBe(false);
    }
    expect(many('grpc-metadata-x-user-id')).toBe(true);
    expect(many('grpc-metadata-x-role')).toBe(true);
    expect(many('grpc-metadata-x-roles')).toBe(false);
  });
});
