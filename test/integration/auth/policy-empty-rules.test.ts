// A scopes or roles rule that names no scope or role (`any: []`, `all: []`, a block with neither
// list) checked nothing: every valid token passed it. Such a rule is a config error — at start,
// in check-config and on reload (the running policy stays) — never an open route.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, runCli, writeConfig, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, issuerFor, waitReady } from './policy-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let nobody: string; // a valid token with no roles and only scope `profile`

const GUARDED = { name: 'admin', match: { path: '/admin/*' }, upstream: 'app' };
/** The shapes that checked nothing, each with the path its config error must name. */
const EMPTY_RULES: Array<[Record<string, unknown>, string]> = [
  [{ roles: { any: [] } }, 'routes[0].auth.roles.any'],
  [{ roles: { all: [] } }, 'routes[0].auth.roles.all'],
  [{ roles: { claim: 'realm_access.roles' } }, 'routes[0].auth.roles'],
  [{ scopes: { any: [] } }, 'routes[0].auth.scopes.any'],
  [{ scopes: { all: [] } }, 'routes[0].auth.scopes.all'],
  [{ scopes: {} }, 'routes[0].auth.scopes'],
];
const configWith = (auth: Record<string, unknown>): Record<string, unknown> => baseConfig(echo.url, {
  issuers: { main: issuerFor(as) }, routes: [{ ...GUARDED, auth }], verifier: { pool_size: 1 },
});

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/empty' }), startEchoUpstream()]);
  proxy = await startProxy(configWith({ roles: { any: ['admin'] } }), { env: ADMIN_ENV });
  nobody = await as.issueJwt({ sub: 'mallory', scope: 'profile' });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('an empty scopes or roles rule', () => {
  it('is refused by check-config, each naming its path (before: accepted, and the route let every valid token through)', async () => {
    for (const [auth, path] of EMPTY_RULES) {
      const r = await runCli(['check-config', '--no-env', writeConfig(configWith(auth))]);
      expect(r.code, `${JSON.stringify(auth)}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(path);
      expect(r.stderr).toMatch(/checks nothing/);
    }
    // a rule that names something is fine
    const ok = await runCli(['check-config', '--no-env', writeConfig(configWith({ roles: { any: ['admin'] }, scopes: { all: ['profile'] } }))]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });

  it('is refused on reload (422), and the route keeps refusing a token without the role', async () => {
    expect((await call(`${proxy.url}/admin/users`, { token: nobody })).status).toBe(403);
    for (const [auth, path] of EMPTY_RULES) {
      writeFileSync(proxy.configPath, stringify(configWith(auth)));
      const r = await admin(proxy, 'POST', '/reload');
      expect(r.status, `${JSON.stringify(auth)}: ${r.text}`).toBe(422);
      expect((r.json?.errors as { path: string }[]).map((e) => e.path)).toContain(path);
      const after = await call(`${proxy.url}/admin/users`, { token: nobody });
      expect(after.status, JSON.stringify(auth)).toBe(403);
      expect(after.json?.code).toBe('PORTCULLIS_ERR_AUTH_FORBIDDEN');
    }
    expect(echo.requests).toBe(0); // nothing ever reached the upstream
  });
});
