// An internal token minted from an opaque (introspected) token lives no longer than the proxy vouches
// for that token without asking the authorization server again (its issuer's introspection
// cache_ttl_s): a deactivation there reaches the minted token as soon as the proxy could see it. A reload
// that shortens cache_ttl_s drops the minted tokens still in reuse, as a shorter max_ttl_s does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, introspection } from '../auth/tokens-helpers.js';
import { waitReady } from '../ws/ws-fixtures.js';

const claimsOf = (jwt: string): Record<string, number> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, number>;

describe('an internal token minted from an introspected token', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const auths: string[] = [];

  beforeAll(async () => {
    as = await startAuthServer();
    up = await startScriptedUpstream((req, res) => { auths.push(String(req.headers.authorization ?? '')); res.end('ok'); });
    proxy = await startProxy(config(20), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
    await waitReady(proxy);
  });

  const config = (cacheTtlS: number): Record<string, unknown> => ({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: {
      opaque: asIssuer(as, { introspection: introspection({ cache_ttl_s: cacheTtlS }) }),
      jwt: asIssuer(as),
    },
    internal_tokens: { issuer: 'https://portcullis.internal', signing: 'inline', max_ttl_s: 300 },
    upstreams: { orders: { targets: [up.url] } },
    routes: [
      { name: 'opaque', match: { path: '/opaque/*' }, upstream: 'orders', auth: { issuers: ['opaque'] }, forward: { token: 'internal' } },
      { name: 'jwt', match: { path: '/jwt/*' }, upstream: 'orders', auth: { issuers: ['jwt'] }, forward: { token: 'internal' } },
    ],
    log: { level: 'warn' },
    verifier: { pool_size: 1 },
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  const minted = async (path: string, token: string): Promise<Record<string, number>> => {
    const r = await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    return claimsOf(auths.at(-1)!.replace(/^Bearer /, ''));
  };

  it('lives at most the issuer\'s introspection cache_ttl_s, not max_ttl_s; a JWT\'s lives max_ttl_s', async () => {
    const opaque = await minted('/opaque/x', as.issueOpaque({ sub: 'alice', scope: 'read' }, 3600));
    // before: 300 (max_ttl_s), so it outlived a deactivation at the authorization server by up to 280 s
    expect(opaque.exp! - opaque.iat!).toBeLessThanOrEqual(20);
    expect(opaque.exp! - opaque.iat!).toBeGreaterThanOrEqual(19);
    const jwt = await minted('/jwt/x', await as.issueJwt({ sub: 'alice', scope: 'read' }));
    expect(jwt.exp! - jwt.iat!).toBe(300);
  });

  it('a reload shortening cache_ttl_s drops the minted tokens in reuse: the next request gets one within the new cap (regression)', async () => {
    const token = as.issueOpaque({ sub: 'carol', scope: 'read' }, 3600);
    const before = await minted('/opaque/x', token);
    expect(before.exp! - before.iat!).toBeGreaterThanOrEqual(19);
    await reloadWith(proxy, config(5));
    // before: the token minted under the 20 s cap went on being handed out until 5 s before its exp
    const after = await minted('/opaque/x', token);
    expect(after.exp! - after.iat!).toBeLessThanOrEqual(5);
    await reloadWith(proxy, config(20));
  });
});
