// A secret pasted into a typed config field (an enum like auth_method, a number, a URL) or as a
// KEY (`routes[0].<secret>:`) must not come back in the config error: not from check-config, not in
// POST /reload's 422 body, not in the process log of a refused reload; nor a secret given where a
// variable name belongs, in a "not set" message. The error still names the
// path and what was expected (an enum lists its choices).
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

const SECRET = 'q7Lr2xVb9KpT4mWz8NcY';
let echo: EchoUpstream;

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

/** The base config with the secret pasted into an enum, a number, a URL field and as an unknown key. */
function pasted(): Record<string, unknown> {
  const cfg = baseConfig(echo.url, {
    issuers: {
      demo: {
        issuer: 'https://issuer.example', discovery: false, jwks_uri: SECRET,
        introspection: { endpoint: 'https://issuer.example/introspect', client_id: 'p', client_secret_env: 'P_SECRET', auth_method: SECRET },
      },
    },
    upstreams: { app: { targets: [echo.url], protocol: `${SECRET}` }, [`${SECRET}+=`]: { targets: [echo.url] } },
  });
  const routes = cfg.routes as Array<Record<string, unknown>>;
  routes[0]![SECRET] = 'x';
  (cfg.server as Record<string, unknown>).listen = { host: '127.0.0.1', port: SECRET };
  return cfg;
}

describe('config errors never echo a pasted secret', () => {
  it('check-config names every path and what was expected, without the value or the key', async () => {
    const r = await runCli(['check-config', '--no-env', writeConfig(pasted())]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const out = r.stdout + r.stderr;
    expect(out).not.toContain(SECRET);
    expect(out).toContain('issuers.demo.introspection.auth_method');
    expect(out).toContain('client_secret_basic, client_secret_post');
    expect(out).toContain('upstreams.app.protocol');
    expect(out).toContain('server.listen.port');
    expect(out).toMatch(/routes\[0\]\.\(unknown key/);
    expect(out).toContain('upstreams.(name not shown');
  });

  it('a secret given where a variable name belongs (revoke --admin-token-env) is not echoed in "not set"', async () => {
    const r = await runCli(['revoke', '--jti', 'x', '--admin', 'http://127.0.0.1:9', '--admin-token-env', SECRET]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('(admin token) is not set');
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  describe('a refused reload', () => {
    let proxy: ProxyProcess;
    let configPath: string;
    const base = (): string => stringify(baseConfig(echo.url));

    beforeAll(async () => {
      configPath = writeConfig(base());
      proxy = await startProxy(null, { configPath, env: ADMIN_ENV });
    });
    afterAll(async () => { await proxy?.stop(); });

    it('POST /reload 422 and SIGHUP keep the secret out of the body and the process log', async () => {
      const refusedBefore = proxy.logs().filter((l) => /keeping the running config|refused/.test(String(l.msg))).length;
      writeFileSync(configPath, stringify(pasted()));
      const r = await fetch(`${proxy.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = await r.text();
      expect(r.status, body).toBe(422);
      expect(body).toContain('auth_method');
      expect(body).not.toContain(SECRET);
      proxy.proc.kill('SIGHUP');
      await waitFor('proxy.logs().filter((l) => /keeping the running config|refused/.test(String(l.msg))).length >= refusedBefor…', () => proxy.logs().filter((l) => /keeping the running config|refused/.test(String(l.msg))).length >= refusedBefore + 2, 20_000, { detail: () => proxy.output().slice(-2000) });
      expect(proxy.output()).toContain('auth_method');
      expect(proxy.output()).not.toContain(SECRET);
      writeFileSync(configPath, base());
    });
  });
});
