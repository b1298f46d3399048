// A timeout of 0 ms is not "no timeout": the upstream client, the JWKS fetch and the token
// endpoints time out at once (GET answered 504 while the same upstream answered a POST 200; an
// issuer whose jwks.timeout_ms is 0 never loads keys, every token route 503 for good). Such a
// config is refused — by check-config (exit 2) and by a reload (422, the running config stays) —
// naming every such path; before, check-config said ok and serve started.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { baseConfig, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call } from './policy-fixtures.js';

let echo: EchoUpstream;
beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

/** Every timeout that fails each call at 0, set to 0; the paths check-config must name. */
function zeroed(): { config: Record<string, unknown>; paths: string[] } {
  const cc = { issuer: 'main', token_endpoint: 'http://127.0.0.1:9/token', client_id: 'c', client_secret_env: 'PT_ZERO_CC', timeout_ms: 0 };
  const config = baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { request_ms: 0 } },
    issuers: {
      main: {
        issuer: 'http://127.0.0.1:9/iss', jwks_uri: 'http://127.0.0.1:9/jwks', audiences: ['api'], jwks: { timeout_ms: 0 },
        introspection: { endpoint: 'http://127.0.0.1:9/introspect', client_id: 'c', client_secret_env: 'PT_ZERO_CC', timeout_ms: 0 },
        token_exchange: { token_endpoint: 'http://127.0.0.1:9/token', client_id: 'c', client_secret_env: 'PT_ZERO_CC', timeout_ms: 0 },
      },
    },
    upstreams: { app: { targets: [echo.url], timeouts: { connect_ms: 0, response_ms: 0, idle_body_ms: 0 }, client_credentials: cc } },
  });
  return {
    config,
    paths: [
      'server.timeouts.request_ms', 'issuers.main.jwks.timeout_ms', 'issuers.main.introspection.timeout_ms', 'issuers.main.token_exchange.timeout_ms',
      'upstreams.app.timeouts.connect_ms', 'upstreams.app.timeouts.response_ms', 'upstreams.app.timeouts.idle_body_ms', 'upstreams.app.client_credentials.timeout_ms',
    ],
  };
}

describe('a timeout of 0 ms', () => {
  it('check-config refuses it with exit 2, naming every path', async () => {
    const { config, paths } = zeroed();
    const r = await runCli(['check-config', '--no-env', writeConfig(config)]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    for (const p of paths) expect(r.stderr).toMatch(new RegExp(`${p.replace(/[.]/g, '\\.')}: at least 1 ms`));
  });

  it('a reload to it is refused with 422 and the running config keeps answering', async () => {
    const p: ProxyProcess = await startProxy(baseConfig(echo.url));
    try {
      writeFileSync(p.configPath, stringify(baseConfig(echo.url, { upstreams: { app: { targets: [echo.url], timeouts: { response_ms: 0 } } } })));
      const r = await admin(p, 'POST', '/reload');
      expect(r.status, r.text).toBe(422);
      expect(r.json?.errors).toContainEqual({ path: 'upstreams.app.timeouts.response_ms', message: expect.stringMatching(/^at least 1 ms/) });
      for (let i = 0; i < 5; i++) expect((await call(`${p.url}/still/${i}`)).status).toBe(200);
    } finally {
      await p.stop();
    }
  });
});
