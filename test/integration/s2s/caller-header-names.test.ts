// `forward.caller_authorization` must name a header of its own. Before, any name passed: with
// `Host` the upstream got `host: <whatever the caller put in Authorization>` ahead of the real
// Host (a virtual-host router picked the receiver of the client-credentials token), with
// `X-Auth-Subject` the caller's text arrived as an identity header, with `X-HTTP-Method-Override`
// as a method override, and `Authorization`/`Cookie` joined the identity filter, so every other
// route stopped forwarding the client's token or cookies. Now check-config, serve and a reload
// refuse such a name, naming the field; an ordinary name keeps working. The same for identity
// header names (`identity.headers`, `forward.identity_headers`): `Host: sub` put the claim ahead
// of the real Host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, reloadWith, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, startVerifyingUpstream, waitReady, type VerifyingUpstream } from './s2s-fixtures.js';

const ENV = { ...ADMIN_ENV, PT_CC_SECRET: 'portcullis-secret' };
const FIELD = 'routes[0].forward.caller_authorization';
let as: AuthServer;
let upstream: VerifyingUpstream;

function config(callerHeader: string): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: {
      billing: { targets: [upstream.url], client_credentials: { client_id: 'portcullis', client_secret_env: 'PT_CC_SECRET', issuer: 'demo' } },
      orders: { targets: [upstream.url] },
    },
    routes: [
      { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none', forward: { caller_authorization: callerHeader } },
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { identity_headers: { 'X-User': 'sub', 'X-Forwarded-User': 'sub' } } },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
});
afterAll(async () => {
  await Promise.all([as?.close(), upstream?.close()]);
});

// Remote-User: another proxy's identity assertion (Authelia, Traefik/Caddy forward-auth), not mapped by any route here —
// the caller's own Authorization text (`Authorization: admin` on an auth: none route) went out as the caller's identity
const REFUSED = ['Host', 'authorization', 'Cookie', 'X-Forwarded-For', 'X-HTTP-Method-Override', 'X-Auth-Subject', 'x-user', 'Transfer-Encoding', 'Remote-User'];

describe('forward.caller_authorization names', () => {
  it('check-config refuses a name the proxy owns, an override field, an identity header or another proxy\'s identity assertion, naming the field', async () => {
    const [ok, ...refused] = await Promise.all(['X-Forwarded-Authorization', ...REFUSED].map((name) => runCli(['check-config', writeConfig(config(name))], ENV)));
    expect(ok!.code, ok!.stdout + ok!.stderr).toBe(0);
    refused.forEach((r, i) => {
      expect(r.code, `${REFUSED[i]!}: ${r.stdout}${r.stderr}`).not.toBe(0);
      expect(r.stdout + r.stderr, REFUSED[i]).toContain(FIELD);
    });
  }, 120_000);

  it('identity headers: a name the proxy owns is refused the same way (a claim would go out as Host, a second Authorization…)', async () => {
    const withIdentity = (names: Record<string, string>, where: 'global' | 'route'): Record<string, unknown> => {
      const c = config('X-Forwarded-Authorization') as { identity?: unknown; routes: Array<{ forward?: unknown }> };
      if (where === 'global') c.identity = { headers: names };
      else c.routes[1]!.forward = { identity_headers: names };
      return c;
    };
    const [global, route, ok] = await Promise.all([
      runCli(['check-config', writeConfig(withIdentity({ Host: 'sub' }, 'global'))], ENV),
      runCli(['check-config', writeConfig(withIdentity({ 'X-User': 'sub', Authorization: 'email' }, 'route'))], ENV),
      runCli(['check-config', writeConfig(withIdentity({ 'X-Remote-User': 'sub' }, 'route'))], ENV),
    ]);
    expect(global.code, global.stdout + global.stderr).not.toBe(0);
    expect(global.stdout + global.stderr).toContain('identity.headers.Host');
    expect(route.code, route.stdout + route.stderr).not.toBe(0);
    expect(route.stdout + route.stderr).toContain('routes[1].forward.identity_headers.Authorization');
    expect(route.stdout + route.stderr).not.toContain('identity_headers.X-User');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  }, 120_000);

  it('serve does not start with one (nothing is forwarded under it)', async () => {
    let p: ProxyProcess | null = null;
    try {
      p = await startProxy(config('Host'), { env: ENV });
    } catch (err) {
      expect(String(err)).toContain(FIELD);
    }
    if (p !== null) {
      // it started: show what the upstream would have received, then fail
      const before = upstream.received.length;
      await call(`${p.url}/billing/1`, { headers: { authorization: 'evil.example' } });
      const host = upstream.received.slice(before)[0]?.headers.host;
      await p.stop();
      expect.fail(`serve started with caller_authorization: Host (upstream saw Host ${String(host)})`);
    }
  });

  it('a reload naming one is refused and the running config keeps forwarding as before', async () => {
    const p = await startProxy(config('X-Forwarded-Authorization'), { env: ENV });
    try {
      await waitReady(p);
      await expect(reloadWith(p, config('Authorization'))).rejects.toThrow(FIELD);
      // the client's token still reaches the `orders` upstream (Authorization did not join the identity filter)
      const token = await as.issueJwt({ sub: 'alice' });
      const before = upstream.received.length;
      const o = await call(`${p.url}/orders/1`, { token, headers: { 'x-forwarded-user': 'admin' } });
      expect(o.status, o.text).toBe(200);
      expect(upstream.received.slice(before)[0]?.headers.authorization).toBe(`Bearer ${token}`);
      // an identity assertion of another proxy (oauth2-proxy's) may be mapped: the upstream gets the proxy's value only
      expect(upstream.received.slice(before)[0]?.headers['x-forwarded-user']).toBe('alice');
      const b = await call(`${p.url}/billing/1`, { headers: { authorization: 'Bearer caller' } });
      expect(b.status, b.text).toBe(200);
      expect(upstream.received.at(-1)?.headers['x-forwarded-authorization']).toBe('Bearer caller');
    } finally {
      await p.stop();
    }
  }, 60_000);
});
