// Request headers a client must not be able to set for the upstream (issue 8, item 3):
// client-address, URL and method overrides that frameworks trust are stripped unless
// `server.forwarded.keep_headers` names them; and the `uWebSockets: 20` response mark,
// which the pinned uWS build writes on every response (README "Limitations").
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import uWS from 'uWebSockets.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { CLIENT_CERT_HEADERS, IDENTITY_ASSERTION_HEADERS, UNTRUSTED_REQUEST_HEADERS } from '../../../node/config/untrusted-headers.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let keeping: ProxyProcess;

interface Echo { url: string; method: string; headers: Record<string, string | undefined> }

/** The headers the issue names, plus a few more of each kind, as a client would send them. */
const HOSTILE: Array<[string, string]> = [
  ['X-Real-IP', '10.9.8.7'],
  ['X-Original-URL', '/admin/delete-all'],
  ['X-Rewrite-URL', '/admin/delete-all'],
  ['X-HTTP-Method-Override', 'DELETE'],
  ['X-HTTP-Method', 'DELETE'],
  ['X-Method-Override', 'DELETE'],
  ['X-Original-URI', '/admin'],
  ['X-Forwarded-Prefix', '/admin'],
  ['X-Forwarded-Port', '443'],
  ['True-Client-IP', '10.9.8.7'],
  ['X-Client-IP', '10.9.8.7'],
  // httpoxy (CVE-2016-5385): CGI, PHP-FPM and Go's net/http/cgi hand `Proxy` to the application as HTTP_PROXY
  ['Proxy', 'http://attacker.example:8080'],
  ['CF-Connecting-IP', '10.9.8.7'],
  // identity and client certificate as other authenticating proxies assert them to their apps (oauth2-proxy,
  // Authelia/Traefik forward-auth, Kubernetes request-header auth, AWS ALB, Google IAP, RFC 9440)
  ['X-Forwarded-User', 'admin'],
  ['X-Forwarded-Email', 'admin@example.com'],
  ['Remote-User', 'admin'],
  ['X-Remote-Group', 'system:masters'],
  ['X-Amzn-Oidc-Identity', 'admin'],
  ['X-Goog-Authenticated-User-Email', 'accounts.google.com:admin@example.com'],
  ['Client-Cert', ':MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZ:'],
  // Kong's consumer headers and Google Cloud Endpoints / API Gateway's user info: before, each reached the upstream
  ['X-Consumer-Username', 'admin'],
  ['X-Consumer-ID', '7f3c0d1e-0000-4000-8000-000000000001'],
  ['X-Authenticated-Userid', 'admin'],
  ['X-Credential-Identifier', 'admin-key'],
  ['X-Endpoint-API-UserInfo', 'eyJpZCI6ImFkbWluIn0'],
  // Kong's other two: the credential's name (basic-auth, hmac-auth, ldap-auth before 3.0) and the ACL plugin's
  // authenticated groups; before, both reached the upstream, and an app authorizing by group believed `admins`
  ['X-Credential-Username', 'admin'],
  ['X-Authenticated-Groups', 'admins'],
];

beforeAll(async () => {
  echo = await startEchoUpstream();
  [proxy, keeping] = await Promise.all([
    startProxy(baseConfig(echo.url), { env: ADMIN_ENV }),
    startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, forwarded: { keep_headers: ['X-Real-IP', 'x-forwarded-prefix'] } } }), { env: ADMIN_ENV }),
  ]);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), keeping?.stop()]);
  await echo?.close();
});

async function echoed(p: ProxyProcess, target: string, headers: Array<[string, string]>): Promise<Echo> {
  const r = await rawRequest(p.port, requestText('GET', target, headers));
  expect(r.status, r.raw).toBe(200);
  return JSON.parse(r.body.toString()) as Echo;
}

describe('client-sent override headers', () => {
  it('are stripped by default: the upstream sees the request as the proxy authorized it', async () => {
    const e = await echoed(proxy, '/public/x', [...HOSTILE, ['X-Request-Id', 'kept']]);
    for (const [name] of HOSTILE) expect(e.headers[name.toLowerCase()], name).toBeUndefined();
    expect(e.method).toBe('GET');
    expect(e.url).toBe('/public/x');
    expect(e.headers['x-request-id']).toBe('kept');
  });

  it('every name of the default list is stripped, in any letter case', async () => {
    const headers = UNTRUSTED_REQUEST_HEADERS.map((n, i): [string, string] => [i % 2 === 0 ? n.toUpperCase() : n, 'client-value']);
    // 40 per request: the pinned uWS drops a request of 49 or more header lines unanswered (README, uWS limits)
    for (let at = 0; at < headers.length; at += 40) {
      const batch = headers.slice(at, at + 40);
      const e = await echoed(proxy, '/x', batch);
      for (const [n] of batch) expect(e.headers[n.toLowerCase()], n).toBeUndefined();
    }
  });

  it('grpc-gateway\'s spelling of the identity and client-certificate names is stripped too (it hands Grpc-Metadata-X-Forwarded-User to the service as x-forwarded-user)', async () => {
    const names = [...IDENTITY_ASSERTION_HEADERS, ...CLIENT_CERT_HEADERS].map((n) => `Grpc-Metadata-${n}`);
    for (let at = 0; at < names.length; at += 40) {
      const batch = names.slice(at, at + 40).map((n): [string, string] => [n, 'admin']);
      const e = await echoed(proxy, '/public/x', [...batch, ['Grpc-Metadata-Trace-Tag', 'kept']]);
      // before, each reached the upstream as sent
      for (const [n] of batch) expect(e.headers[n.toLowerCase()], n).toBeUndefined();
      expect(e.headers['grpc-metadata-trace-tag']).toBe('kept');
    }
  });

  it('server.forwarded.keep_headers passes the named ones (any case in config) and still strips the rest', async () => {
    const e = await echoed(keeping, '/public/x', HOSTILE);
    expect(e.headers['x-real-ip']).toBe('10.9.8.7');
    expect(e.headers['x-forwarded-prefix']).toBe('/admin');
    for (const [name] of HOSTILE.filter(([n]) => !/^(x-real-ip|x-forwarded-prefix)$/i.test(n))) expect(e.headers[name.toLowerCase()], name).toBeUndefined();
  });

  it('keep_headers naming a header that is not stripped is a config error naming its path', async () => {
    const file = writeConfig(baseConfig('http://127.0.0.1:9', { server: { forwarded: { keep_headers: ['X-Real-IP', 'X-Request-Id'] } } }));
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/server\.forwarded\.keep_headers\[1\]/);
    expect(r.stdout + r.stderr).toMatch(/x-real-ip/);
  });
});

describe('the uWebSockets response mark (a limitation of the pinned build)', () => {
  it('uWS alone writes "uWebSockets: 20" on every response and JS has no way to drop it', async () => {
    // Minimal reproduction against uWS only: the handler writes nothing but a body.
    const app = uWS.App().any('/*', (res) => { res.end('ok'); });
    const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
      app.listen('127.0.0.1', 0, (s) => (s === false ? reject(new Error('listen')) : resolve(s)));
    });
    const port = uWS.us_socket_local_port(socket);
    try {
      const r = await rawRequest(port, requestText('GET', '/'));
      expect(r.status).toBe(200);
      // If this fails, the build no longer marks responses: update README "Limitations".
      expect(r.headerList.filter(([k]) => k === 'uwebsockets')).toEqual([['uwebsockets', '20']]);
      // the binding exposes no switch for it (UWS_HTTPRESPONSE_NO_WRITEMARK is compile-time only)
      expect(Object.keys(uWS).filter((k) => /mark/i.test(k))).toEqual([]);
    } finally {
      uWS.us_listen_socket_close(socket);
    }
  });

  it('so proxied responses carry it too, once, after the upstream\'s own headers', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/x'));
    expect(r.status).toBe(200);
    expect(r.headerList.filter(([k]) => k === 'uwebsockets')).toEqual([['uwebsockets', '20']]);
  });
});
