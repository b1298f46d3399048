// A controllable node:http authorization-server stand-in for the JWT tests:
// discovery (OIDC and/or RFC 8414 path), a JWKS endpoint with switchable
// outage modes and Cache-Control, and request counters.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwksOf, type FixtureKey } from '../../fixtures/keys.js';

export type JwksMode = 'normal' | 'down' | 'slow' | 'garbage' | 'empty' | 'html' | 'plain';

export interface JwksServer {
  readonly url: string;
  readonly issuer: string;
  readonly jwksUri: string;
  /** Publish these keys (or a raw document). */
  setKeys(keys: readonly FixtureKey[] | { keys: unknown[] }): void;
  mode: JwksMode;
  slowMs: number;
  /** Cache-Control of the JWKS response; null sends none. */
  cacheControl: string | null;
  /** Which discovery documents answer (others 404). */
  discovery: { oidc: boolean; oauth: boolean; issuerOverride: string | null };
  readonly counters: { jwks: number; oidc: number; oauth: number };
  close(): Promise<void>;
}

export async function startJwksServer(keys: readonly FixtureKey[], issuerPath = '/realms/main'): Promise<JwksServer> {
  let doc: unknown = jwksOf(keys);
  const timers = new Set<NodeJS.Timeout>();
  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === `${issuerPath}/.well-known/openid-configuration` || path === `/.well-known/oauth-authorization-server${issuerPath}`) {
      const oidc = path.endsWith('openid-configuration');
      if (oidc) s.counters.oidc++; else s.counters.oauth++;
      if (!(oidc ? s.discovery.oidc : s.discovery.oauth)) { send(res, 404, '{"error":"not_found"}'); return; }
      send(res, 200, JSON.stringify({ issuer: s.discovery.issuerOverride ?? s.issuer, jwks_uri: s.jwksUri }));
      return;
    }
    if (path !== '/jwks') { send(res, 404, '{"error":"not_found"}'); return; }
    s.counters.jwks++;
    const headers: Record<string, string> = s.cacheControl === null ? {} : { 'cache-control': s.cacheControl };
    switch (s.mode) {
      case 'down': send(res, 503, '{"error":"temporarily_unavailable"}'); return;
      case 'garbage': send(res, 200, '<html>oops</html>', headers); return;
      case 'empty': send(res, 200, '{"keys":[]}', headers); return;
      // the key set's JSON under another media type: an HTML page's (a login or error page that parses), or text/plain
      case 'html': send(res, 200, JSON.stringify(doc), { ...headers, 'content-type': 'text/html; charset=utf-8' }); return;
      case 'plain': send(res, 200, JSON.stringify(doc), { ...headers, 'content-type': 'text/plain' }); return;
      case 'slow': {
        const t = setTimeout(() => { timers.delete(t); if (!res.destroyed) send(res, 200, JSON.stringify(doc), headers); }, s.slowMs);
        timers.add(t);
        return;
      }
      case 'normal': send(res, 200, JSON.stringify(doc), headers);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const s: JwksServer = {
    url,
    issuer: url + issuerPath,
    jwksUri: `${url}/jwks`,
    setKeys: (k) => { doc = Array.isArray(k) ? jwksOf(k as FixtureKey[]) : k; },
    mode: 'normal',
    slowMs: 2000,
    cacheControl: 'max-age=300',
    discovery: { oidc: true, oauth: true, issuerOverride: null },
    counters: { jwks: 0, oidc: 0, oauth: 0 },
    close: () => new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
  return s;
}
