// cookieOriginAllowed: no Origin passes; the one Origin must be the addressed origin (TLS or a
// trusted X-Forwarded-Proto/-Host) or one listed in cookie_origins or websocket_origins, compared
// as origins; null, two or malformed fail.
import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../../../node/config/index.js';
import { cookieOriginAllowed as allowed } from '../../../node/ws/ws-origin.js';

const h = (...kv: string[]): string[] => kv;
const route = (websocket: string[], cookie: string[] = []): RouteConfig => ({ websocket_origins: websocket, cookie_origins: cookie }) as unknown as RouteConfig;
const cookieOriginAllowed = (headers: string[], secure: boolean, trust: boolean, websocket: string[]): boolean => allowed(headers, secure, trust, route(websocket));

describe('cookieOriginAllowed', () => {
  const listed = ['https://app.example'];
  it('judges the Origin against the addressed origin and the list', () => {
    expect(cookieOriginAllowed(h('host', 'api.example'), false, false, [])).toBe(true);
    expect(cookieOriginAllowed(h('host', 'api.example', 'origin', 'http://api.example'), false, false, [])).toBe(true);
    expect(cookieOriginAllowed(h('host', 'API.example:80', 'origin', 'http://api.example'), false, false, [])).toBe(true);
    expect(cookieOriginAllowed(h('host', 'api.example', 'origin', 'https://api.example'), false, false, [])).toBe(false); // scheme differs
    expect(cookieOriginAllowed(h('host', 'api.example', 'origin', 'https://api.example'), true, false, [])).toBe(true);
    expect(cookieOriginAllowed(h('host', 'api.example', 'origin', 'https://app.example:443'), true, false, listed)).toBe(true);
    expect(cookieOriginAllowed(h('host', 'api.example', 'origin', 'https://evil.example'), true, false, listed)).toBe(false);
    expect(cookieOriginAllowed(h('host', 'api.example', 'origin', 'null'), true, false, listed)).toBe(false);
    expect(cookieOriginAllowed(h('host', 'api.example', 'origin', 'https://app.example', 'origin', 'https://app.example'), true, false, listed)).toBe(false);
  });

  it('cookie_origins admit a handshake too; an Origin with a path is malformed', () => {
    const hs = (o: string): string[] => h('host', 'api.example', 'origin', o);
    expect(allowed(hs('https://shop.example'), true, false, route([], ['https://shop.example']))).toBe(true);
    expect(allowed(hs('https://shop.example'), true, false, route(['https://app.example'], []))).toBe(false);
    expect(allowed(hs('https://app.example/x'), true, false, route(['https://app.example']))).toBe(false);
  });

  it('X-Forwarded-Proto/-Host count only when trusted', () => {
    const hs = h('host', 'internal:8080', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'api.example', 'origin', 'https://api.example');
    expect(cookieOriginAllowed(hs, false, true, [])).toBe(true);
    expect(cookieOriginAllowed(hs, false, false, [])).toBe(false);
  });
});
