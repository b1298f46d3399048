// A revocation lives `cluster.revocation.max_token_lifetime_s` (when no `exp` is given) and is then
// dropped; a token that outlives it would be accepted again once it is gone (before the fix: a JWT
// with exp an hour out, revoked by jti under a 60 s maximum, answered 200 again ~2 min later). So a
// token (JWT or introspection answer) whose lifetime exceeds that maximum is refused from the start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, runCli, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, bearer, call, expectBearerError, introspection, type Reply } from '../auth/tokens-helpers.js';
import { sleep } from './cluster-fixtures.js';

const MAX_LIFETIME_S = 600;

describe('tokens that would outlive their revocation are refused', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;
  const get = (token: string): Promise<Reply> => call(`${proxy.url}/api/x`, { headers: bearer(token) });

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    proxy = await startProxy(baseConfig(echo.url, {
      issuers: { demo: asIssuer(as, { introspection: introspection({ cache_ttl_s: 60 }) }) },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
      log: { level: 'warn', access: false },
      verifier: { pool_size: 1 },
      cluster: { revocation: { max_token_lifetime_s: MAX_LIFETIME_S } },
    }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
    // keys loaded (JWTs verified here, not introspected) before the cases run
    const warm = await as.issueJwt({ sub: 'warm-up' }, { ttlSeconds: 60 });
    for (let i = 0; i < 40 && (await get(warm)).status !== 200; i++) await sleep(250);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('a JWT living up to the maximum passes; one living longer gets 401 invalid_token', async () => {
    expect((await get(await as.issueJwt({ sub: 'short' }, { ttlSeconds: MAX_LIFETIME_S }))).status).toBe(200);
    expectBearerError(await get(await as.issueJwt({ sub: 'long' }, { ttlSeconds: MAX_LIFETIME_S + 3600 })), 401, 'invalid_token');
  });

  it('a JWT without iat: what is left of its life counts (exp an hour out → 401)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await get(await as.issueJwt({ sub: 'no-iat-short', iat: undefined, exp: now + 300 }))).status).toBe(200);
    expectBearerError(await get(await as.issueJwt({ sub: 'no-iat-long', iat: undefined, exp: now + 3600 })), 401, 'invalid_token');
  });

  it('an introspected token whose answer gives an exp past the maximum → 401; within it → 200', async () => {
    expect((await get(as.issueOpaque({ sub: 'opaque-short' }, 300))).status).toBe(200);
    expectBearerError(await get(as.issueOpaque({ sub: 'opaque-long' }, MAX_LIFETIME_S + 3600)), 401, 'invalid_token');
  });

  it('`explain --token` gives serve\'s verdict: the long-lived JWT is denied, the short one allowed', async () => {
    const args = (t: string): string[] => ['explain', '--config', proxy.configPath, 'GET', '/api/x', '--token', t];
    const short = await runCli(args(await as.issueJwt({ sub: 'explain-short' }, { ttlSeconds: 60 })), { ...ADMIN_ENV, ...SECRET_ENV });
    expect(short.code, short.stdout + short.stderr).toBe(0);
    const long = await runCli(args(await as.issueJwt({ sub: 'explain-long' }, { ttlSeconds: MAX_LIFETIME_S + 3600 })), { ...ADMIN_ENV, ...SECRET_ENV });
    expect(long.code, long.stdout + long.stderr).toBe(1);
    expect(long.stdout).toMatch(/lifetime/);
  });
});
