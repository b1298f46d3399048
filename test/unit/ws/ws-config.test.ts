// The WebSocket config fields: defaults, and the values uWS would abort the process on
// (idle_timeout_s 1–7 or above 960) refused at load with their path.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../node/config/index.js';

const base = (extra: { server?: Record<string, unknown>; route?: Record<string, unknown> } = {}): Record<string, unknown> => ({
  server: { listen: { port: 0 }, ...extra.server },
  issuers: { demo: { issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks', audiences: ['api'] } },
  upstreams: { app: { targets: ['http://127.0.0.1:1'] } },
  routes: [{ name: 'r', match: { path: '/*' }, upstream: 'app', auth: 'none', ...extra.route }],
});

describe('websocket config', () => {
  it('defaults: routes do not proxy upgrades; 1 MiB messages and buffers; 120 s idle', () => {
    const v = validateConfig(base());
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.config.routes[0]!.websocket).toBe(false);
    expect(v.config.server.websocket).toEqual({ max_message_bytes: 1024 * 1024, max_buffered_bytes: 1024 * 1024, idle_timeout_s: 120 });
  });

  it('token_sources.websocket_protocol defaults to false and can be enabled', () => {
    const v = validateConfig(base({ route: { websocket: true, auth: { token_sources: { websocket_protocol: true } } } }));
    expect(v.ok, JSON.stringify(v)).toBe(true);
    if (v.ok && v.config.routes[0]!.auth !== 'none') expect(v.config.routes[0]!.auth!.token_sources.websocket_protocol).toBe(true);
    const d = validateConfig(base({ route: { auth: {} } }));
    if (d.ok && d.config.routes[0]!.auth !== 'none') expect(d.config.routes[0]!.auth!.token_sources.websocket_protocol).toBe(false);
  });

  it.each([4, 961, -1])('idle_timeout_s %i is refused with its path', (n) => {
    const v = validateConfig(base({ server: { websocket: { idle_timeout_s: n } } }));
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.errors.map((e) => e.path)).toContain('server.websocket.idle_timeout_s');
  });

  it.each([0, 8, 960])('idle_timeout_s %i is accepted', (n) => {
    expect(validateConfig(base({ server: { websocket: { idle_timeout_s: n } } })).ok).toBe(true);
  });

  it('unknown keys under server.websocket are errors', () => {
    const v = validateConfig(base({ server: { websocket: { max_message_byte: 10 } } }));
    expect(v.ok).toBe(false);
  });
});
