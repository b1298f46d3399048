// Config of identity-provider event endpoints: off by default, complete and strict, every error with its path.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../node/config/index.js';

const base = (extra: Record<string, unknown>, issuerExtra: Record<string, unknown> = {}): Record<string, unknown> => ({
  issuers: { kc: { issuer: 'https://sso.example/realms/a', audiences: ['api'], ...issuerExtra } },
  upstreams: { u: { targets: ['http://127.0.0.1:1'] } },
  routes: [{ name: 'r', match: { path: '/x' }, upstream: 'u', auth: {} }],
  ...extra,
});
const paths = (raw: Record<string, unknown>): string[] => { const r = validateConfig(raw); return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`); };

describe('event endpoint config', () => {
  it('is off by default', () => {
    const r = validateConfig(base({}));
    expect(r.ok && r.config.event_sources).toEqual({});
    expect(r.ok && r.config.issuers.kc!.backchannel_logout).toBeUndefined();
  });

  it('fills back-channel logout and SSF defaults', () => {
    const r = validateConfig(base({ event_sources: { tx: { issuer: 'https://tx.example', audiences: ['rp'], poll: { endpoint: 'https://tx.example/poll', authorization_env: 'P' } } } },
      { backchannel_logout: { path: '/bcl', client_id: 'rp' } }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.issuers.kc!.backchannel_logout).toEqual({ path: '/bcl', client_id: 'rp', max_age_s: 120 });
    expect(r.config.event_sources.tx).toMatchObject({ max_age_s: 900, clock_skew_s: 60, subjects: { email: 'ignore', opaque: 'ignore' }, poll: { interval_ms: 1000, max_events: 100 } });
  });

  it('reports every problem with its path', () => {
    const errs = paths(base({
      event_sources: {
        none: { issuer: 'https://tx.example', audiences: ['rp'] },
        bad: { issuer: 'ftp://x', audiences: [], push: { path: 'relative', authorization_env: '1x' }, subjects: { email: 'sid' } },
        typo: { issuer: 'https://tx.example', audiences: ['rp'], push: { path: '/t', authorization_env: 'P' }, audience: 'rp' },
        dup: { issuer: 'https://tx.example', audiences: ['rp'], push: { path: '/bcl', authorization_env: 'P' } },
      },
    }, { backchannel_logout: { path: '/bcl/../x', client_id: '' } }));
    const joined = errs.join('\n');
    expect(joined).toMatch(/event_sources\.none: give push, poll or both/);
    expect(joined).toMatch(/event_sources\.bad\.issuer: /);
    expect(joined).toMatch(/event_sources\.bad\.audiences: /);
    expect(joined).toMatch(/event_sources\.bad\.push\.path: /);
    expect(joined).toMatch(/event_sources\.bad\.push\.authorization_env: /);
    expect(joined).toMatch(/event_sources\.bad\.subjects\.email: /);
    expect(joined).toMatch(/event_sources\.typo\.audience: unknown key/);
    expect(joined).toMatch(/issuers\.kc\.backchannel_logout\.path: /);
    expect(joined).toMatch(/issuers\.kc\.backchannel_logout\.client_id: /);
  });

  it('refuses two endpoints on one path', () => {
    const errs = paths(base({ event_sources: { tx: { issuer: 'https://tx.example', audiences: ['rp'], push: { path: '/events', authorization_env: 'P' } } } },
      { backchannel_logout: { path: '/events', client_id: 'rp' } }));
    expect(errs).toEqual([expect.stringMatching(/^event_sources\.tx\.push\.path: "\/events" is already the event path of "kc"/)]);
  });
});
