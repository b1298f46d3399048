// An IPv6 literal has many spellings of one address (`[2001:db8::1]`, `[2001:0db8::1]`,
// `[2001:db8:0:0::1]`, `[::ffff:127.0.0.1]` for `[::ffff:7f00:1]`); a URL parser upstream reads them
// all as the canonical one (RFC 5952). Routes compare hosts as text, so before, any other spelling
// missed the route guarding that address and fell to a looser any-host route — judged public and
// forwarded. Like the non-canonical IPv4 forms, they are refused (400), and a `match.host` must
// be written canonically (a config error otherwise).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startFixtureJwks, startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { waitReady } from '../auth/tokens-helpers.js';

let upstream: ScriptedUpstream;
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;

function config(adminHost: string): Record<string, unknown> {
  return baseConfig(upstream.url, {
    issuers: { fx: fixtureIssuer(jwks.url) },
    upstreams: { app: { targets: [upstream.url], host: 'preserve' } },
    routes: [
      { name: 'admin', match: { path: '/*', host: adminHost }, upstream: 'app', auth: {} },
      { name: 'loop', match: { path: '/*', host: '[::ffff:7f00:1]' }, upstream: 'app', auth: {} },
      { name: 'open', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  });
}

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => { req.resume(); req.on('end', () => res.end('reached')); });
  jwks = await startFixtureJwks();
  proxy = await startProxy(config('[2001:db8::1]'), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await jwks?.close();
});

describe('IPv6 Host literals', () => {
  it.each(['[2001:db8::1]', '[2001:DB8::1]', '[2001:db8::1]:8443', '[::ffff:7f00:1]'])('the canonical spelling (any case, any port) %s → 401 by its own route', async (host) => {
    const before = upstream.seen.length;
    const r = await rawRequest(proxy.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    expect(r.status, r.body.toString()).toBe(401);
    expect(upstream.seen.length).toBe(before);
  });

  it.each([
    '[2001:0db8::1]', '[2001:db8:0::1]', '[2001:db8:0:0:0:0:0:1]', '[2001:db8::0001]',
    '[::ffff:127.0.0.1]', '[0:0:0:0:0:ffff:7f00:1]', '[1:2]', '[:::1]', '[1::2::3]',
  ])('another spelling %s → 400 before routing, nothing forwarded (before: the open route, 200)', async (host) => {
    const before = upstream.seen.length;
    const r = await rawRequest(proxy.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    expect(r.status, r.body.toString()).toBe(400);
    expect(r.body.toString()).toContain('PORTCULLIS_ERR_REQUEST_MALFORMED');
    expect(upstream.seen.length).toBe(before);
  });

  it('a match.host IPv6 literal not in canonical form is a config error naming the route', async () => {
    for (const host of ['[2001:0db8::1]', '[2001:db8:0:0:0:0:0:1]', '[::ffff:127.0.0.1]']) {
      const r = await runCli(['check-config', '--no-env', writeConfig(config(host))]);
      expect(r.code, `${host}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('routes[0].match.host');
      expect(r.stderr).toMatch(/canonical/);
    }
  });
});
