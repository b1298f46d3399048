// Claim paths in rules and identity headers: dots nest, a "quoted" key keeps its dots; a path that
// does not parse is a config error naming its path (before, quotes were read as part of the key names).
import { describe, it, expect } from 'vitest';
import { splitClaimPath } from '../../../node/config/claim-path-syntax.js';
import { validateConfig } from '../../../node/config/index.js';

describe('claim path syntax', () => {
  it('splits on dots outside quotes', () => {
    expect(splitClaimPath('realm_access.roles')).toEqual({ segments: ['realm_access', 'roles'] });
    expect(splitClaimPath('resource_access."api.billing".roles')).toEqual({ segments: ['resource_access', 'api.billing', 'roles'] });
    expect(splitClaimPath('"https://corp.example/roles"')).toEqual({ segments: ['https://corp.example/roles'] });
    expect(splitClaimPath('https://corp.example/roles')).toEqual({ segments: ['https://corp', 'example/roles'] }); // the whole name still wins at lookup
  });

  it('refuses unclosed, empty or partial quotes, in rules, roles and identity headers, with their paths', () => {
    const r = validateConfig({
      issuers: { kc: { issuer: 'https://kc.corp.example/realms/corp', audiences: ['orders-api'] } },
      upstreams: { app: { targets: ['http://127.0.0.1:1'] } },
      identity: { headers: { 'X-User': 'a""' } },
      routes: [{
        name: 'r', match: { path: '/r' }, upstream: 'app',
        auth: { claims: [{ claim: 'resource_access."api.billing.roles', contains: 'x' }], roles: { claim: 'a."".b', any: ['x'] } },
        forward: { identity_headers: { 'X-Roles': 'resource_access."api.billing"roles' } },
      }],
    });
    expect(r.ok).toBe(false);
    const e = r.ok ? [] : r.errors.map((x) => `${x.path}: ${x.message}`);
    expect(e).toEqual(expect.arrayContaining([
      expect.stringMatching(/^routes\[0\]\.auth\.claims\[0\]\.claim: a quoted key is not closed/),
      expect.stringMatching(/^routes\[0\]\.auth\.roles\.claim: an empty quoted key/),
      expect.stringMatching(/^routes\[0\]\.forward\.identity_headers\.X-Roles: a quoted key is followed by a dot or ends the path/),
      expect.stringMatching(/^identity\.headers\.X-User: a quote only around a whole key/),
    ]));
    expect(e).toHaveLength(4);
  });
});
