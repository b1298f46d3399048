// Route policy on the client certificate's identity (routes[].client_cert), with the openssl-made
// PKI of the mTLS test and the proxy as the CLI starts it: subject CN, SPIFFE SAN URI (exact and
// prefix) and SAN DNS rules; certificate-only routes (auth: none); certificate and token together
// (both must pass); 401 without a certificate, 403 for the wrong one, 421 on the uWS listener
// that cannot see certificates; gRPC hears PERMISSION_DENIED; check-config refuses such routes
// without a listener asking for client certificates.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf, type H2Reply } from '../../helpers/h2-client.js';
import { makePki, type ClientCert, type Pki } from '../../helpers/mtls-certs.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { startOtlpCollector, type OtlpCollector } from '../../helpers/otlp-collector.js';
import { asIssuer, bearer, call, metrics, SECRET_ENV, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let pki: Pki;
let proxy: ProxyProcess;
let collector: OtlpCollector;

const routes = [
  { name: 'cn', match: { path: '/cn/*' }, upstream: 'app', auth: 'none', client_cert: { subject_cn: ['orders'] } },
  { name: 'spiffe-exact', match: { path: '/spiffe-exact/*' }, upstream: 'app', auth: 'none', client_cert: { san_uri: ['spiffe://example.org/ns/shop/sa/orders'] } },
  { name: 'spiffe-ns', match: { path: '/spiffe-ns/*' }, upstream: 'app', auth: 'none', client_cert: { san_uri: ['spiffe://example.org/ns/shop/*'] } },
  { name: 'spiffe-other-ns', match: { path: '/spiffe-other-ns/*' }, upstream: 'app', auth: 'none', client_cert: { san_uri: ['spiffe://example.org/ns/shopping/*'] } },
  { name: 'dns', match: { path: '/dns/*' }, upstream: 'app', auth: 'none', client_cert: { san_dns: ['*.internal'] } },
  { name: 'and', match: { path: '/and/*' }, upstream: 'app', auth: 'none', client_cert: { subject_cn: ['billing', 'orders'], san_dns: ['billing.internal'] } },
  { name: 'both', match: { path: '/both/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } }, client_cert: { san_uri: ['spiffe://example.org/ns/shop/sa/orders'] } },
  { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
];

beforeAll(async () => {
  pki = makePki();
  as = await startAuthServer();
  echo = await startEchoUpstream();
  collector = await startOtlpCollector();
  const { cert, key } = selfSignedCert();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: pki.caFile, client_certificates: 'optional' } } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes,
    verifier: { pool_size: 1 },
    tracing: { enabled: true, endpoint: collector.url, batch: { max_spans: 64, interval_ms: 50 } },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), collector?.close()]);
});

async function get(cert: ClientCert | null, path: string, headers: Record<string, string> = {}): Promise<H2Reply> {
  const s = await h2Connect(`https://127.0.0.1:${http2PortOf(proxy.logs())}`, cert === null ? {} : { cert: cert.cert, key: cert.key });
  try { return await h2Request(s, { ':method': 'GET', ':path': path, ...headers }); } finally { s.close(); }
}

const codeOf = (r: H2Reply): unknown => r.json?.code;

describe('certificate-only routes (auth: none)', () => {
  it('admit the certificate the rule names and refuse others with 403 PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN', async () => {
    const ok = await get(pki.good, '/cn/x');
    expect(ok.status, ok.text).toBe(200);
    expect((ok.json as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toContain('URI=spiffe://example.org/ns/shop/sa/orders');
    const other = await get(pki.other, '/cn/x');
    expect(other.status).toBe(403);
    expect(codeOf(other)).toBe('PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN');
    expect(String(other.json?.message)).toContain('subject CN');
  });

  it('401 PORTCULLIS_ERR_CLIENT_CERT_MISSING when no certificate was presented; an unrestricted route still serves', async () => {
    const none = await get(null, '/cn/x');
    expect(none.status).toBe(401);
    expect(codeOf(none)).toBe('PORTCULLIS_ERR_CLIENT_CERT_MISSING');
    expect((await get(null, '/public/x')).status).toBe(200);
  });

  it('match SPIFFE ids exactly or by prefix, never across a namespace boundary', async () => {
    expect((await get(pki.good, '/spiffe-exact/x')).status).toBe(200);
    expect((await get(pki.other, '/spiffe-exact/x')).status).toBe(403);
    expect((await get(pki.good, '/spiffe-ns/x')).status).toBe(200);
    expect((await get(pki.other, '/spiffe-ns/x')).status).toBe(200);
    const r = await get(pki.good, '/spiffe-other-ns/x');
    expect(r.status, '"ns/shop/…" is not under "ns/shopping/*"').toBe(403);
    expect(String(r.json?.message)).toContain('SAN URI');
  });

  it('match SAN DNS by *.suffix, and need every field given (AND) with any listed value (OR)', async () => {
    expect((await get(pki.good, '/dns/x')).status).toBe(200);
    expect((await get(pki.other, '/and/x')).status, 'billing: CN listed and DNS billing.internal').toBe(200);
    const r = await get(pki.good, '/and/x');
    expect(r.status, 'orders: CN listed but DNS orders.internal is not').toBe(403);
    expect(String(r.json?.message)).toContain('SAN DNS');
  });
});

describe('certificate and token on one route', () => {
  it('needs both: the right certificate without a token is 401 (token), a token with the wrong certificate is 403 (certificate)', async () => {
    const token = await as.issueJwt({ sub: 'svc', scope: 'orders:read' });
    expect((await get(pki.good, '/both/1', bearer(token))).status).toBe(200);
    const noToken = await get(pki.good, '/both/1');
    expect(noToken.status).toBe(401);
    expect(codeOf(noToken)).toBe('PORTCULLIS_ERR_AUTH_MISSING');
    const wrongCert = await get(pki.other, '/both/1', bearer(token));
    expect(wrongCert.status).toBe(403);
    expect(codeOf(wrongCert)).toBe('PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN');
    const noCert = await get(null, '/both/1', bearer(token));
    expect(noCert.status).toBe(401);
    expect(codeOf(noCert)).toBe('PORTCULLIS_ERR_CLIENT_CERT_MISSING');
  });

  it('logs the denial reason and counts it as an auth decision', async () => {
    await get(pki.other, '/cn/deny-me');
    const line = (): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === '/cn/deny-me');
    await waitFor('line() !== undefined', () => line() !== undefined);
    expect(line()?.deny).toBe('client_cert_mismatch:subject_cn');
    const text = await metrics(proxy, ADMIN_TOKEN);
    expect(text).toMatch(/client_cert_mismatch:subject_cn/);
  });

  it('traces the certificate check as its own stage span, before the token stages', async () => {
    const t = '77777777777777777777777777777777';
    const token = await as.issueJwt({ sub: 'svc', scope: 'orders:read' });
    expect((await get(pki.good, '/both/2', { ...bearer(token), traceparent: `00-${t}-00f067aa0ba902b7-01` })).status).toBe(200);
    const u = 'dddddddddddddddddddddddddddddd77';
    expect((await get(pki.other, '/cn/3', { traceparent: `00-${u}-00f067aa0ba902b7-01` })).status).toBe(403);
    await waitFor("collector.spans.some((s) => s.traceId === t && s.name === 'authorize') && collector.spans.some((s) => s.tra…", () => collector.spans.some((s) => s.traceId === t && s.name === 'authorize') && collector.spans.some((s) => s.traceId === u && s.kind === 2));
    const ok = collector.spans.filter((s) => s.traceId === t);
    const check = ok.find((s) => s.name === 'client certificate')!;
    expect(check.parentSpanId).toBe(ok.find((s) => s.kind === 2)!.spanId);
    expect(BigInt(check.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(ok.find((s) => s.name === 'extract')!.startTimeUnixNano));
    const denied = collector.spans.find((s) => s.traceId === u && s.name === 'client certificate')!;
    expect(denied.status.code, 'the refusing stage is marked').toBe(2);
    expect(denied.status.message).toBe('client_cert_mismatch:subject_cn');
  });
});

describe('where the certificate cannot be seen or checked', () => {
  it('the uWS listener refuses such routes with 421, never serves them', async () => {
    const r = await call(`${proxy.url}/cn/x`);
    expect(r.status).toBe(421);
    expect(r.json?.code).toBe('PORTCULLIS_ERR_CLIENT_CERT_UNAVAILABLE');
    expect(String(r.json?.message)).toContain('HTTP/2 TLS listener');
    expect((await call(`${proxy.url}/public/x`)).status).toBe(200);
  });

  it('a gRPC client hears PERMISSION_DENIED for the wrong certificate', async () => {
    const r = await get(pki.other, '/cn/x', { 'content-type': 'application/grpc' });
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBe('7');
  });

  it('explain names the client_cert rule and answers what a request without a certificate gets', async () => {
    const { cert, key } = selfSignedCert();
    const file = writeConfig(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: pki.caFile } } },
      routes: [routes[0], routes[2]],
    }));
    const r = await runCli(['explain', '--config', file, 'GET', '/spiffe-ns/x'], ADMIN_ENV);
    expect(r.stdout, r.stderr).toContain('client_cert san_uri ∈ [spiffe://example.org/ns/shop/*]');
    expect(r.stdout).toMatch(/DENIED \(401\).*client_cert_missing/);
  });

  it('check-config refuses a client_cert route when no listener asks for client certificates', async () => {
    const cfg = writeConfig(baseConfig(echo.url, { routes: [routes[0]] }));
    const r = await runCli(['check-config', cfg], ADMIN_ENV);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('routes[0].client_cert');
    expect(r.stdout + r.stderr).toContain('client_ca_file');
    const bad = writeConfig(baseConfig(echo.url, { routes: [{ ...routes[0], client_cert: { san_uri: ['spiffe://x/*/y'] } }] }));
    const r2 = await runCli(['check-config', bad], ADMIN_ENV);
    expect(r2.code).not.toBe(0);
    expect(r2.stdout + r2.stderr).toContain('routes[0].client_cert.san_uri[0]');
  });
});
