// A revocation of any kind that lands while the outbound token step is still waiting (a token
// exchange at a slow authorization server) refuses the request: neither the upstream nor a decision
// endpoint's edge gets the freshly exchanged token of a token revoked meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, jtiOf, sleep, waitReady } from '../ws/ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('a token revoked while its outbound token is being obtained', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const paths: string[] = [];

  beforeAll(async () => {
    as = await startAuthServer();
    up = await startScriptedUpstream((req, res) => { paths.push(req.url ?? ''); res.end('ok'); });
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, decision: { endpoints: [{ path: '/_auth', dialect: 'traefik' }] } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0, token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_EXCHANGE_SECRET' } } },
      upstreams: { app: { targets: [up.url] } },
      routes: [{ name: 'x', match: { path: '/api/*' }, upstream: 'app', auth: {}, forward: { token: 'exchange' } }],
      log: { level: 'warn' },
      verifier: { pool_size: 1 },
    }, { env: { ...ADMIN_ENV, PT_EXCHANGE_SECRET: 'portcullis-secret' } });
    await waitReady(proxy);
    as.setToken('slow', 1_500);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  const decide = (t: string): Promise<Response> => fetch(`${proxy.url}/_auth`, {
    headers: { authorization: `Bearer ${t}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/decided', 'x-forwarded-host': 'app.example', 'x-forwarded-proto': 'http' },
  });

  it('the decision endpoint answers 401, not 200 with the exchanged token, when the jti is revoked during the exchange', async () => {
    const tok = await as.issueJwt({ sub: 'decided' });
    const asked = as.counters.token;
    const verdict = decide(tok);
    // verified, authorized, waiting at the (slow) token endpoint
    await waitFor('as.counters.token > asked', () => as.counters.token > asked, 10_000, { detail: () => 'the exchange at the token endpoint' });
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
    const r = await verdict;
    expect(r.status).toBe(401);
    expect(r.headers.get('authorization')).toBeNull();
    expect(r.headers.get('www-authenticate')).toContain('revoked');
  });

  it('a proxied request answers 401 and reaches no upstream when its sub is revoked during the exchange', async () => {
    const tok = await as.issueJwt({ sub: 'proxied' });
    const asked = as.counters.token;
    const answer = fetch(`${proxy.url}/api/proxied`, { headers: { authorization: `Bearer ${tok}` } });
    await waitFor('as.counters.token > asked', () => as.counters.token > asked, 10_000, { detail: () => 'the exchange at the token endpoint' });
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'proxied' })).status).toBe(201);
    expect((await answer).status).toBe(401);
    await sleep(1_500); // the exchange has answered by now
    expect(paths).not.toContain('/api/proxied');
  });
});
