// DPoP `htu` scheme per listener: a proof names the scheme the client used on the connection
// that carried it. Two real `portcullis serve` processes: (1) main listener cleartext, HTTP/2
// listener with TLS (h2 and HTTP/1.1 by ALPN); (2) main listener TLS, HTTP/2 listener h2c. A
// proof for `https://` passes only over TLS, one for `http://` only in cleartext.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { call, waitReady } from '../auth/tokens-helpers.js';
import { clientKey, proof, type ClientKey } from '../../unit/dpop/dpop-helpers.js';

function config(as: AuthServer, upstream: string, tlsFiles: { cert: string; key: string }, mainTls: boolean): Record<string, unknown> {
  const tls = { cert_file: tlsFiles.cert, key_file: tlsFiles.key };
  return {
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      ...(mainTls ? { tls } : {}),
      http2: { listen: { host: '127.0.0.1', port: 0 }, ...(mainTls ? {} : { tls }) },
    },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [upstream] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

/** HTTP/1.1 over TLS (self-signed certificate accepted). */
function h1Tls(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; challenge: string }> {
  return new Promise((resolve, reject) => {
    const opts: https.RequestOptions = { host: '127.0.0.1', port, path, headers, rejectUnauthorized: false, agent: false, ...{ ALPNProtocols: ['http/1.1'] } };
    const req = https.request(opts, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, challenge: String(res.headers['www-authenticate'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

let as: AuthServer;
let echo: EchoUpstream;
let h2Tls: ProxyProcess; // main cleartext, HTTP/2 listener TLS
let mainTls: ProxyProcess; // main TLS, HTTP/2 listener h2c
let key: ClientKey;
let token: string;

beforeAll(async () => {
  [as, echo, key] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream(), clientKey('ES256')]);
  token = await as.issueJwt({ cnf: { jkt: key.jkt } });
  const files = selfSignedCert();
  [h2Tls, mainTls] = await Promise.all([
    startProxy(config(as, echo.url, files, false), { env: ADMIN_ENV }),
    startProxy(config(as, echo.url, files, true), { env: ADMIN_ENV }),
  ]);
  await Promise.all([waitReady(h2Tls, 20_000), waitReady(mainTls, 20_000)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([h2Tls?.stop(), mainTls?.stop()]);
  await Promise.all([as?.close(), echo?.close()]);
});

const dpop = async (htu: string): Promise<Record<string, string>> => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token }) });

describe('DPoP htu scheme on the HTTP/2 listener with TLS (main listener cleartext)', () => {
  it('h2 over TLS: a proof for https:// passes, one for http:// is refused; nothing forwarded for it', async () => {
    const port = http2PortOf(h2Tls.logs());
    const ok = await h2Fetch(`https://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/api/orders', ...await dpop(`https://127.0.0.1:${port}/api/orders`) });
    expect(ok.status, ok.text).toBe(200);
    const before = echo.requests;
    const plain = await h2Fetch(`https://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/api/orders', ...await dpop(`http://127.0.0.1:${port}/api/orders`) });
    expect(plain.status).toBe(401);
    expect(String(plain.headers['www-authenticate'])).toContain('error="invalid_dpop_proof", error_description="DPoP proof htu does not match the request URI"');
    expect(echo.requests).toBe(before);
  });

  it('HTTP/1.1 over the same TLS port: https:// passes, http:// is refused', async () => {
    const port = http2PortOf(h2Tls.logs());
    expect((await h1Tls(port, '/api/orders', await dpop(`https://127.0.0.1:${port}/api/orders`))).status).toBe(200);
    expect((await h1Tls(port, '/api/orders', await dpop(`http://127.0.0.1:${port}/api/orders`))).status).toBe(401);
  });

  it('the cleartext main listener still wants http://', async () => {
    expect((await call(`${h2Tls.url}/api/orders`, { headers: await dpop(`${h2Tls.url}/api/orders`) })).status).toBe(200);
    expect((await call(`${h2Tls.url}/api/orders`, { headers: await dpop(`${h2Tls.url.replace('http:', 'https:')}/api/orders`) })).status).toBe(401);
  });
});

describe('DPoP htu scheme on the h2c listener (main listener TLS)', () => {
  it('h2c: a proof for http:// passes; one minted for https:// is refused over cleartext', async () => {
    const port = http2PortOf(mainTls.logs());
    const ok = await h2Fetch(`http://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/api/orders', ...await dpop(`http://127.0.0.1:${port}/api/orders`) });
    expect(ok.status, ok.text).toBe(200);
    const before = echo.requests;
    const secure = await h2Fetch(`http://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/api/orders', ...await dpop(`https://127.0.0.1:${port}/api/orders`) });
    expect(secure.status).toBe(401);
    expect(echo.requests).toBe(before);
  });

  it('the TLS main listener wants https://', async () => {
    const port = mainTls.port;
    expect((await h1Tls(port, '/api/orders', await dpop(`https://127.0.0.1:${port}/api/orders`))).status).toBe(200);
    expect((await h1Tls(port, '/api/orders', await dpop(`http://127.0.0.1:${port}/api/orders`))).status).toBe(401);
  });
});
