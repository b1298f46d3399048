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

  it('stream management: push delivery by default with a push block, needs push_url; poll delivery needs the poll block', () => {
    const src = (extra: Record<string, unknown>): Record<string, unknown> => ({ issuer: 'https://tx.example', audiences: ['rp'], ...extra });
    const ok = validateConfig(base({ event_sources: { tx: src({ push: { path: '/e', authorization_env: 'P' }, stream: { authorization_env: 'M', push_url: 'https://proxy.example/e' } }) } }));
    expect(ok.ok && ok.config.event_sources.tx!.stream).toEqual({ authorization_env: 'M', push_url: 'https://proxy.example/e', refresh_s: 60, timeout_ms: 10_000, verify: true });
    const errs = paths(base({
      event_sources: {
        nourl: src({ push: { path: '/a', authorization_env: 'P' }, stream: { authorization_env: 'M' } }),
        nopoll: src({ push: { path: '/b', authorization_env: 'P' }, stream: { authorization_env: 'M', delivery: 'poll' } }),
        nopush: src({ poll: { endpoint: 'https://tx.example/poll', authorization_env: 'P' }, stream: { authorization_env: 'M', delivery: 'push', push_url: 'https://p.example/c' } }),
        typo: src({ poll: { endpoint: 'https://tx.example/poll', authorization_env: 'P' }, stream: { authorization_env: 'M', refresh: 5 } }),
      },
    }));
    const joined = errs.join('\n');
    expect(joined).toMatch(/event_sources\.nourl\.stream\.push_url: required for push delivery/);
    expect(joined).toMatch(/event_sources\.nopoll\.stream\.delivery: poll delivery needs the poll block/);
    expect(joined).toMatch(/event_sources\.nopush\.stream\.delivery: push delivery needs the push block/);
    expect(joined).toMatch(/event_sources\.typo\.stream\.refresh: unknown key/);
  });
});
