// checkMethodOverride: which `_method` spellings count, which pass (same route), and that a query
// full of separators or escapes is read without error (the integration test drives real processes).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { RouteTable } from '../../../node/routing/route-table.js';
import { checkMethodOverride, METHOD_OVERRIDE_REFUSED } from '../../../node/pipeline/method-override.js';
import { CONTINUE, type CompiledRoute, type RequestContext } from '../../../node/pipeline/context.js';
import type { RouteConfig } from '../../../node/config/index.js';

const specs = [
  { name: 'create', path: '/items/*', methods: ['POST'] },
  { name: 'delete', path: '/items/*', methods: ['DELETE'] },
  { name: 'notes', path: '/notes/*' },
];
const routes: CompiledRoute[] = specs.map((s, index) => ({
  index, name: s.name, policy: null,
  config: { name: s.name, match: { path: s.path, ...(s.methods ? { methods: s.methods } : {}) }, upstream: 'app', auth: 'none', forward: { authorization: 'keep' } } as RouteConfig,
}));
const table = new RouteTable(routes);

function check(path: string, query: string, method = 'POST'): typeof CONTINUE | typeof METHOD_OVERRIDE_REFUSED {
  const m = table.resolve(method, '', path);
  if (m === null || typeof m !== 'object' || !('route' in m)) throw new Error(`no route for ${method} ${path}`);
  return checkMethodOverride(table, { method, host: '', path, query, route: m.route } as unknown as RequestContext) as typeof CONTINUE;
}

describe('checkMethodOverride', () => {
  it('refuses every spelling of _method that selects another route, or no method at all', () => {
    for (const q of ['_method=DELETE', '_method=delete', '%5Fmethod=DELETE', '%5fmethod=DELETE', '_%6Dethod=DELETE', '_method%5B%5D=DELETE', '_method[]=DELETE',
      '_method[0]=DELETE', 'x=1;_method=DELETE', '&&_method=DELETE', '_method=DEL%45TE', '_method=POST&_method=DELETE', '_method=DE-LETE', '_method=',
      '_method', '_method=CONNECT', '_method=TRACE', '_method=%C5%BFEARCH']) {
      expect(check('/items/1', q), q).toBe(METHOD_OVERRIDE_REFUSED);
    }
  });

  it('passes overrides to the same route and parameters that are no override', () => {
    for (const q of ['', 'a=1', '_method=POST', '_method=post', 'x_method=DELETE', 'method=DELETE', '_methods=DELETE', '_method_=DELETE', 'a=%25&b=%_method', '%=x', 'a=_method=DELETE']) {
      expect(check('/items/1', q), q).toBe(CONTINUE);
    }
    expect(check('/notes/1', '_method=PUT')).toBe(CONTINUE);
    expect(check('/notes/1', '_method=DELETE&_method=patch')).toBe(CONTINUE);
  });

  it('never throws on any query, and refuses whenever a plain `_method=DELETE` part is in it', () => {
    const part = fc.stringMatching(/^[a-z_%5BFf&;=[\]0-9.+]{0,12}$/);
    fc.assert(fc.property(fc.array(part, { maxLength: 8 }), fc.boolean(), (parts, add) => {
      const q = [...parts, ...(add ? ['_method=DELETE'] : [])].join('&');
      const r = check('/items/1', q);
      if (add) expect(r).toBe(METHOD_OVERRIDE_REFUSED);
      else expect([CONTINUE, METHOD_OVERRIDE_REFUSED]).toContain(r);
    }));
  });
});
