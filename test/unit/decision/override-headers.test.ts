// checkOverrideHeaders: which header names count (method, URL and host overrides; dash or underscore spelling), which values pass
// (the judged method's route, the judged path, a host selecting the judged route), and that arbitrary header lists never throw and are
// refused only when they carry one of the names (test/integration/decision/override-headers.test.ts
// drives real processes).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RouteConfig } from '../../../node/config/index.js';
import { METHOD_OVERRIDE_HEADERS, URL_OVERRIDE_HEADERS } from '../../../node/config/untrusted-headers.js';
import { checkOverrideHeaders } from '../../../node/decision/override-headers.js';
import type { CompiledRoute, RequestContext } from '../../../node/pipeline/context.js';
import { RouteTable } from '../../../node/routing/route-table.js';

const specs = [
  { name: 'public', path: '/public/*', methods: ['GET', 'POST'] },
  { name: 'public-delete', path: '/public/*', methods: ['DELETE'] },
  { name: 'admin', path: '/admin/*' },
];
const routes: CompiledRoute[] = specs.map((s, index) => ({
  index, name: s.name, policy: null,
  config: { name: s.name, match: { path: s.path, ...(s.methods ? { methods: s.methods } : {}) }, upstream: 'app', auth: 'none', forward: { authorization: 'keep' } } as RouteConfig,
}));
const table = new RouteTable(routes);

/** The code of the refusal for `headers` on `method /public/x`, or null when it passes. */
function check(headers: string[], method = 'POST', path = '/public/x'): string | null {
  const m = table.resolve(method, '', path);
  if (m === null || typeof m !== 'object' || !('route' in m)) throw new Error(`no route for ${method} ${path}`);
  const ctx = { method, host: '', path, query: '', headers, route: m.route } as unknown as RequestContext;
  return checkOverrideHeaders(table, ctx, headers, false, 8192)?.code ?? null;
}

describe('checkOverrideHeaders', () => {
  it('every method-override name, dash or underscore spelling, is held to the route rule', () => {
    for (const n of METHOD_OVERRIDE_HEADERS) {
      for (const name of [n, n.replace(/-/g, '_')]) {
        expect(check([name, 'DELETE']), name).toBe('PORTCULLIS_ERR_METHOD_OVERRIDE');
        expect(check([name, 'get']), name).toBeNull();
      }
    }
  });

  it('every URL-override name, dash or underscore spelling, must name the judged path', () => {
    for (const n of URL_OVERRIDE_HEADERS) {
      for (const name of [n, n.replace(/-/g, '_')]) {
        expect(check([name, '/admin/x']), name).toBe('PORTCULLIS_ERR_URL_OVERRIDE');
        expect(check([name, '/public/x?a=1']), name).toBeNull();
      }
    }
  });

  it('every host-override name, dash or underscore spelling, must be one host selecting the judged route', () => {
    for (const n of ['x-forwarded-host', 'x-original-host', 'x-host', 'x-http-host-override']) {
      for (const name of [n, n.replace(/-/g, '_')]) {
        // routes here match any host: one valid host selects the judged route, a list or junk does not
        expect(check([name, 'Other.Example.:8080']), name).toBeNull();
        expect(check([name, '']), `${name} empty`).toBeNull();
        expect(check([name, 'a.example, b.example']), name).toBe('PORTCULLIS_ERR_FORWARDED_HOST');
        expect(check([name, 'a.example/admin']), name).toBe('PORTCULLIS_ERR_FORWARDED_HOST');
      }
    }
  });

  it('the judged method itself passes even when it is not letters only (a dialect\'s own X-Original-Method)', () => {
    expect(check(['x-original-method', 'POST'])).toBeNull();
    expect(check(['x-http-method-override', 'PO-ST'])).toBe('PORTCULLIS_ERR_METHOD_OVERRIDE');
  });

  it('names that only resemble an override are not read', () => {
    expect(check(['x-http-method-overrides', 'DELETE', 'xhttp-method-override', 'DELETE', 'x-original-url-x', '/admin/x', 'method-override', 'DELETE'])).toBeNull();
  });

  it('any header list: never throws, refuses only when it carries an override name', () => {
    const names = [...METHOD_OVERRIDE_HEADERS, ...URL_OVERRIDE_HEADERS, 'x-forwarded-host', 'x-original-host', 'x-host', 'x-http-host-override'];
    const name = fc.oneof(fc.constantFrom(...names, 'x-forwarded-for', 'x-request-id', 'x', 'x-', ''), fc.string({ maxLength: 12 }));
    fc.assert(fc.property(fc.array(fc.tuple(name, fc.string({ maxLength: 20 })), { maxLength: 6 }), (pairs) => {
      const flat = pairs.flat();
      const code = check(flat);
      if (code !== null) expect(pairs.some(([n]) => names.includes(n.replace(/_/g, '-')))).toBe(true);
    }));
  });
});
