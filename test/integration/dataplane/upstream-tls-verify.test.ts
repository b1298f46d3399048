// https upstreams as the proxy checks them: a self-signed certificate, one for another name, an upstream's
// alert or a port without TLS is refused (502) naming the TLS handshake and what went wrong — not "refused the
// connection" — as upstream_errors_total{kind="tls"}, log upstream_tls; the target's host is checked and sent as SNI.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http2 from 'node:http2';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { metrics } from '../auth/tokens-helpers.js';

let h1: https.Server;
let h2: http2.Http2SecureServer;
let h1Port: number;
let h2Port: number;
let certFile: string;
const seenSni: string[] = [];
const proxies: ProxyProcess[] = [];

beforeAll(async () => {
  const dir = tempDir('portcullis-upstream-tls-');
  certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', certFile], { stdio: 'pipe' });
  const opts = { cert: readFileSync(certFile), key: readFileSync(join(dir, 'key.pem')) };
  h1 = https.createServer(opts, (req, res) => { seenSni.push(String((req.socket as TLSSocket).servername)); res.end('served'); });
  h2 = http2.createSecureServer(opts, (_req, res) => { res.end('served'); });
  await Promise.all([new Promise<void>((r) => h1.listen(0, '127.0.0.1', r)), new Promise<void>((r) => h2.listen(0, '127.0.0.1', r))]);
  h1Port = (h1.address() as AddressInfo).port;
  h2Port = (h2.address() as AddressInfo).port;
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  h1?.closeAllConnections();
  await Promise.all([new Promise((r) => h1?.close(r)), new Promise((r) => h2?.close(r))]);
});

async function proxyTo(upstreams: Record<string, unknown>, env: Record<string, string> = {}): Promise<ProxyProcess> {
  const p = await startProxy(baseConfig('http://127.0.0.1:9', {
    upstreams,
    routes: Object.keys(upstreams).map((name) => ({ name, match: { path: `/${name}/*` }, upstream: name, auth: 'none' })),
  }), { env: { ...ADMIN_ENV, ...env } });
  proxies.push(p);
  return p;
}

const get = async (p: ProxyProcess, path: string): Promise<{ status: number; body: string }> => {
  const r = await fetch(`http://127.0.0.1:${p.port}${path}`);
  return { status: r.status, body: await r.text() };
};

describe('an https upstream whose certificate does not verify', () => {
  it('self-signed (HTTP/1.1 and HTTP/2 upstreams): 502 naming the TLS handshake and the check that failed, kind="tls", reason upstream_tls', async () => {
    const p = await proxyTo({ one: { targets: [`https://localhost:${h1Port}`] }, two: { targets: [`https://localhost:${h2Port}`], protocol: 'h2' } });
    for (const name of ['one', 'two']) {
      const r = await get(p, `/${name}/x`);
      expect(r.status, r.body).toBe(502);
      expect(JSON.parse(r.body).message).toBe(`upstream "${name}" failed the TLS handshake (DEPTH_ZERO_SELF_SIGNED_CERT): its certificate is not trusted for its name`);
    }
    const text = await metrics(p, ADMIN_TOKEN);
    expect(text).toMatch(/portcullis_upstream_errors_total\{upstream="one",kind="tls"\} [1-9]/);
    expect(text).toMatch(/portcullis_upstream_errors_total\{upstream="two",kind="tls"\} [1-9]/);
    expect(p.logs().some((l) => (l as { reason?: string }).reason === 'upstream_tls')).toBe(true);
  });

  it('trusted (NODE_EXTRA_CA_CERTS) but for another name: refused with ERR_TLS_CERT_ALTNAME_INVALID; the right name is served, with SNI', async () => {
    const p = await proxyTo({ byip: { targets: [`https://127.0.0.1:${h1Port}`] }, byname: { targets: [`https://localhost:${h1Port}`] } }, { NODE_EXTRA_CA_CERTS: certFile });
    const wrong = await get(p, '/byip/x');
    expect(wrong.status, wrong.body).toBe(502);
    expect(JSON.parse(wrong.body).message).toContain('(ERR_TLS_CERT_ALTNAME_INVALID)');
    const right = await get(p, '/byname/x');
    expect(right.status, right.body).toBe(200);
    expect(right.body).toBe('served');
    expect(seenSni).toContain('localhost');
  });

  it('a TLS 1.2 upstream that requires a client certificate: its alert reads as the upstream refusing the handshake, not as its certificate failing', async () => {
    const opts = { cert: readFileSync(certFile), key: readFileSync(join(certFile, '..', 'key.pem')) };
    const mtls = https.createServer({ ...opts, requestCert: true, rejectUnauthorized: true, ca: opts.cert, maxVersion: 'TLSv1.2' }, (_q, s) => s.end('served'));
    await new Promise<void>((r) => mtls.listen(0, '127.0.0.1', r));
    try {
      const p = await proxyTo({ mtls: { targets: [`https://localhost:${(mtls.address() as AddressInfo).port}`] } }, { NODE_EXTRA_CA_CERTS: certFile });
      const r = await get(p, '/mtls/x');
      expect(r.status, r.body).toBe(502);
      const message = JSON.parse(r.body).message as string;
      expect(message).toMatch(/failed the TLS handshake \(ERR_SSL_\w*ALERT\w*\): it refused the handshake/);
      expect(message).not.toContain('certificate is not trusted');
      expect(await metrics(p, ADMIN_TOKEN)).toMatch(/portcullis_upstream_errors_total\{upstream="mtls",kind="tls"\} [1-9]/);
    } finally {
      mtls.closeAllConnections();
      await new Promise((r) => mtls.close(r));
    }
  });

  it('an https target that speaks plain HTTP: 502 upstream_tls, never a downgrade', async () => {
    const plain = await import('node:http');
    let hits = 0;
    const srv = plain.createServer((_q, s) => { hits++; s.end('plain'); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const p = await proxyTo({ plain: { targets: [`https://127.0.0.1:${(srv.address() as AddressInfo).port}`] } });
      const r = await get(p, '/plain/x');
      expect(r.status, r.body).toBe(502);
      expect(JSON.parse(r.body).message).toMatch(/failed the TLS handshake \(ERR_SSL_\w+\): it does not speak TLS/);
      expect(hits).toBe(0);
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });
});
