// `routes[].match.host` is read as the request's Host is (host-normalize.ts): a spelling the
// request side can never produce — a trailing dot, a port, Unicode, junk — must not leave the
// route silently unmatched, or every request for that host falls to a looser any-host route
// (judged public, and a `host: preserve` upstream still reads the protected host).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startFixtureJwks, startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { waitReady } from '../auth/tokens-helpers.js';

let upstream: ScriptedUpstream;
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;

/** Routes: `admin` (a token needed) on `adminHost`, `api` (a token needed) on `wildHost`, and any other host open. */
function config(adminHost: string, wildHost = '*.internal.example'): Record<string, unknown> {
  return baseConfig(upstream.url, {
    issuers: { fx: fixtureIssuer(jwks.url) },
    upstreams: { app: { targets: [upstream.url], host: 'preserve' } },
    routes: [
      { name: 'admin', match: { path: '/*', host: adminHost }, upstream: 'app', auth: {} },
      { name: 'api', match: { path: '/*', host: wildHost }, upstream: 'app', auth: {} },
      { name: 'open', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  });
}

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => { req.resume(); req.on('end', () => res.end('reached')); });
  jwks = await startFixtureJwks();
  // written as an operator copies a DNS name: absolute (trailing dot), mixed case
  proxy = await startProxy(config('Admin.Example.', '*.Internal.Example.'), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await jwks?.close();
});

describe('match.host spelled with a trailing dot or upper case still guards its host', () => {
  it.each([
    'admin.example', 'admin.example.', 'ADMIN.example:8443', 'db.internal.example', 'DB.Internal.Example.:80',
  ])('Host: %s → 401 by its own route, nothing forwarded', async (host) => {
    const before = upstream.seen.length;
    const r = await rawRequest(proxy.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    expect(r.status, r.body.toString()).toBe(401);
    expect(upstream.seen.length).toBe(before);
  });

  it('another host still reaches the open route', async () => {
    const r = await rawRequest(proxy.port, 'GET /x HTTP/1.1\r\nHost: www.example\r\n\r\n');
    expect(r.status).toBe(200);
    expect(upstream.seen.at(-1)!.headers.host).toBe('www.example');
  });
});

describe('a match.host no request can carry is a config error', () => {
  it.each([
    ['admin.example:8443', 'a port'],
    ['bücher.example', 'Unicode (the punycode form is what clients send)'],
    ['admin..example', 'an empty label'],
    [' admin.example', 'a space'],
    ['a@admin.example', 'userinfo'],
    ['*', 'a bare *'],
    ['admin.*', 'a * not in front'],
    ['*.*.example', 'two *'],
    ['0x7f.1', 'a numeric name URL parsers read as 127.0.0.1'],
  ])('%s (%s) → check-config fails naming routes[0].match.host', async (host) => {
    const r = await runCli(['check-config', writeConfig(config(host))], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toContain('routes[0].match.host');
  });

  it('the punycode form and an IPv6 literal are accepted', async () => {
    for (const host of ['xn--bcher-kva.example', '[::1]']) {
      const r = await runCli(['check-config', writeConfig(config(host))], ADMIN_ENV);
      expect(r.code, `${host}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});
