// Client-certificate TLS on the HTTP/2 listener and RFC 8705 certificate-bound tokens, with an
// openssl-made PKI: a token with cnf.x5t#S256 passes only with the certificate it names (JWT and
// introspected opaque tokens alike); the verified certificate goes upstream as
// X-Forwarded-Client-Cert (a client's copy stripped); other-CA and expired certificates are
// refused (connection closed when optional, handshake failed when required).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf, type H2Reply } from '../../helpers/h2-client.js';
import { makePki, type ClientCert, type Pki } from '../../helpers/mtls-certs.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { asIssuer, bearer, call, introspection, parseChallenge, SECRET_ENV, waitReady } from '../auth/tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let pki: Pki;
let optional: ProxyProcess;
let required: ProxyProcess;

function config(mode: 'optional' | 'required'): Record<string, unknown> {
  const { cert, key } = selfSignedCert();
  return baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: pki.caFile, client_certificates: mode } } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'], introspection: introspection() }) },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
    ],
    verifier: { pool_size: 1 },
  });
}

beforeAll(async () => {
  pki = makePki();
  as = await startAuthServer();
  echo = await startEchoUpstream();
  [optional, required] = await Promise.all([
    startProxy(config('optional'), { env: { ...ADMIN_ENV, ...SECRET_ENV } }),
    startProxy(config('required'), { env: { ...ADMIN_ENV, ...SECRET_ENV } }),
  ]);
  await Promise.all([waitReady(optional), waitReady(required)]);
});

afterAll(async () => {
  await Promise.all([optional?.stop(), required?.stop()]);
  await Promise.all([as?.close(), echo?.close()]);
});

const origin = (p: ProxyProcess): string => `https://127.0.0.1:${http2PortOf(p.logs())}`;

async function get(p: ProxyProcess, cert: ClientCert | null, path: string, headers: Record<string, string> = {}): Promise<H2Reply> {
  const s = await h2Connect(origin(p), cert === null ? {} : { cert: cert.cert, key: cert.key });
  try { return await h2Request(s, { ':method': 'GET', ':path': path, ...headers }); } finally { s.close(); }
}

/** The request fails at the connection: handshake refused, or the connection closed before any answer. */
async function refusedConnection(p: ProxyProcess, cert: ClientCert | null): Promise<boolean> {
  try {
    const r = await get(p, cert, '/public/x');
    return r.status === 0;
  } catch {
    return true;
  }
}

function expectInvalidToken(r: H2Reply, description: RegExp): void {
  expect(r.status, r.text).toBe(401);
  const ch = parseChallenge(String(r.headers['www-authenticate'])).params;
  expect(ch.error).toBe('invalid_token');
  expect(ch.error_description).toMatch(description);
}

describe('RFC 8705 certificate-bound tokens (client_certificates: optional)', () => {
  it('a JWT bound to the presented certificate passes; the upstream gets the certificate as X-Forwarded-Client-Cert, not the client\'s forged copy', async () => {
    const token = await as.issueJwt({ cnf: { 'x5t#S256': pki.good.thumbprint } });
    const r = await get(optional, pki.good, '/orders/1', { ...bearer(token), 'x-forwarded-client-cert': 'Hash=forged;Subject="CN=admin"' });
    expect(r.status, r.text).toBe(200);
    const xfcc = (r.json as { headers: Record<string, string> }).headers['x-forwarded-client-cert'];
    expect(xfcc).toBe(`Hash=${pki.good.hashHex};Subject="CN=orders,O=Shop";URI=spiffe://example.org/ns/shop/sa/orders;DNS=orders.internal`);
  });

  it('the same token with another valid certificate, or with none → 401 invalid_token; nothing forwarded', async () => {
    const token = await as.issueJwt({ cnf: { 'x5t#S256': pki.good.thumbprint } });
    const before = echo.requests;
    expectInvalidToken(await get(optional, pki.other, '/orders/1', bearer(token)), /bound to another client certificate/);
    expectInvalidToken(await get(optional, null, '/orders/1', bearer(token)), /presented none/);
    expect(echo.requests).toBe(before);
  });

  it('an introspected opaque token with cnf.x5t#S256 is held to the same rule', async () => {
    const opaque = as.issueOpaque({ scope: 'orders:read', cnf: { 'x5t#S256': pki.good.thumbprint } });
    expect((await get(optional, pki.good, '/orders/2', bearer(opaque))).status).toBe(200);
    expectInvalidToken(await get(optional, pki.other, '/orders/2', bearer(opaque)), /bound to another client certificate/);
  });

  it('an unbound token needs no certificate when client certificates are optional', async () => {
    const r = await get(optional, null, '/orders/1', bearer(await as.issueJwt()));
    expect(r.status, r.text).toBe(200);
    expect((r.json as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it('a certificate of another CA, or an expired one, closes the connection (counted)', async () => {
    expect(await refusedConnection(optional, pki.wrongCa)).toBe(true);
    expect(await refusedConnection(optional, pki.expired)).toBe(true);
    const m = await call(`${optional.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
    expect(m.text).toMatch(/portcullis_http2_client_certificates_refused_total 2/);
  });
});

describe('client_certificates: required', () => {
  it('no certificate, another CA\'s or an expired one fails the TLS handshake; a valid one is served', async () => {
    expect(await refusedConnection(required, null)).toBe(true);
    expect(await refusedConnection(required, pki.wrongCa)).toBe(true);
    expect(await refusedConnection(required, pki.expired)).toBe(true);
    const r = await get(required, pki.good, '/public/x');
    expect(r.status, r.text).toBe(200);
  });

  it('a CA bundle renewed in place (a new CA added beside the old) is trusted after a reload of the unchanged config, the old CA still is', async () => {
    // last in the file: the bundle both proxies were started with is changed
    appendFileSync(pki.caFile, readFileSync(join(dirname(pki.caFile), 'rogue-ca.pem')));
    const r = await call(`${required.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });
    expect(r.status, r.text).toBe(200);
    expect((await get(required, pki.wrongCa, '/public/x')).status).toBe(200);
    expect((await get(required, pki.good, '/public/x')).status).toBe(200);
    expect(await refusedConnection(required, null)).toBe(true);
  });
});
