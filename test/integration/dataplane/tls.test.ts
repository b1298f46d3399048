// HTTPS on the listener from cert/key files: a request works end to end, the upstream
// is told the client used https, and plain HTTP on the TLS port gets no response.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { tempDir } from '../../helpers/temp-dirs.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let agent: Agent;

function selfSignedCert(): { cert: string; key: string } {
  const dir = tempDir('portcullis-tls-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`openssl is needed to generate a test certificate (install it: sudo apt-get install -y openssl): ${(err as Error).message}`);
  }
  return { cert, key };
}

beforeAll(async () => {
  const { cert, key } = selfSignedCert();
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key } } }), { env: ADMIN_ENV });
  agent = new Agent({ connect: { rejectUnauthorized: false } });
});

afterAll(async () => {
  await agent?.close();
  await proxy?.stop();
  await echo?.close();
});

describe('TLS listener', () => {
  it('serves https through to a plain-http upstream, with X-Forwarded-Proto: https', async () => {
    const r = await request(`https://127.0.0.1:${proxy.port}/secure/path?x=1`, { dispatcher: agent, method: 'POST', body: 'hello tls' });
    expect(r.statusCode).toBe(200);
    const e = await r.body.json() as { url: string; bodyBytes: number; headers: Record<string, string> };
    expect(e).toMatchObject({ url: '/secure/path?x=1', bodyBytes: 9 });
    expect(e.headers['x-forwarded-proto']).toBe('https');
  });

  it('streams a larger response over TLS', async () => {
    const r = await request(`https://127.0.0.1:${proxy.port}/bytes/3000000`, { dispatcher: agent });
    expect(r.statusCode).toBe(200);
    expect((await r.body.arrayBuffer()).byteLength).toBe(3_000_000);
  });

  it('plain HTTP on the TLS port never gets an HTTP response', async () => {
    const before = echo.requests;
    const r = await rawRequest(proxy.port, requestText('GET', '/plain'), { timeoutMs: 1_500 });
    expect(r.status).toBe(0);
    expect(echo.requests).toBe(before);
  });
});
