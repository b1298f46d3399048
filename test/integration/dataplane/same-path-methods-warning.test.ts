// A protected route for [GET, POST] followed by a route of the same path with no method list and
// auth: none: DELETE reaches the upstream without a token. Before, check-config said only "ok" (the
// fall-through warning skipped same-path routes); now it names the methods that fall to the open route,
// and listing that route's methods silences it. The real proxy forwards the DELETE, as the warning says.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { startFixtureJwks, fixtureIssuer, startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';

let jwks: ScriptedUpstream;
let up: ScriptedUpstream;
let proxy: ProxyProcess;
const admin = { scopes: { all: ['admin'] } };

function config(open: Record<string, unknown>): Record<string, unknown> {
  return baseConfig(up.url, {
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'admin', match: { path: '/admin/*', methods: ['GET', 'POST'] }, upstream: 'app', auth: admin },
      { name: 'admin-rest', match: { path: '/admin/*', ...open }, upstream: 'app', auth: 'none' },
    ],
  });
}

beforeAll(async () => {
  jwks = await startFixtureJwks();
  up = await startScriptedUpstream((_req, res) => { res.end('upstream'); });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await up?.close();
  await jwks?.close();
});

describe('an open route of the same path after a protected one with a method list', () => {
  it('check-config names the methods that reach the open route; listing its methods silences it', async () => {
    const r = await runCli(['check-config', '--no-env', writeConfig(config({}))]);
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toEqual([expect.stringContaining(
      'warning: routes[0].match.methods: routes[0] ("admin") lists methods [GET, POST]; routes[1] ("admin-rest", auth: none) has the same path and no method list: PUT, PATCH, DELETE, OPTIONS, any other requests on /admin/* reach it without this route\'s auth',
    )]);
    const listed = await runCli(['check-config', '--no-env', writeConfig(config({ methods: ['OPTIONS'] }))]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr.split('\n').filter((l) => l.startsWith('warning: '))).toEqual([]);
  });

  it('what it warns of: DELETE is forwarded without a token, GET needs one', async () => {
    proxy = await startProxy(config({}), { env: ADMIN_ENV });
    const before = up.seen.length;
    expect((await rawRequest(proxy.port, requestText('DELETE', '/admin/x'))).status).toBe(200);
    expect(up.seen.length).toBe(before + 1);
    expect((await rawRequest(proxy.port, requestText('GET', '/admin/x'))).status).toBe(401);
  });
});
