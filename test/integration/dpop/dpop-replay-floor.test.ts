// One client must not lock every other DPoP client out through the replay cache's bound. Proofs
// dated ahead (iat up to the window in the future) are remembered till iat + window; when the cache
// was full and such an entry was pushed out, the floor (every proof expiring no later is refused)
// jumped past the expiry of every fresh proof: everyone's next proof was "too old". Real `serve`,
// max_entries 1000, one client with a token of its own floods proofs dated 55 s ahead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, waitReady } from '../auth/tokens-helpers.js';
import { clientKey, proof } from '../../unit/dpop/dpop-helpers.js';

const MAX = 1000;
let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream()]);
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [echo.url] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: { dpop: { iat_window_s: 60 } } }],
    dpop: { replay: { max_entries: MAX } },
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  }, { env: ADMIN_ENV });
  await waitReady(proxy, 20_000);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('DPoP replay cache under a flood of proofs dated ahead', () => {
  it('another client\'s fresh proof is still accepted; the flood\'s proofs stay single-use', async () => {
    const url = `${proxy.url}/api/orders`;
    const send = async (token: string, p: string): Promise<number> => (await call(url, { headers: { authorization: `DPoP ${token}`, dpop: p } })).status;
    const attacker = await clientKey('ES256');
    const at = await as.issueJwt({ cnf: { jkt: attacker.jkt } });
    const victim = await clientKey('ES256');
    const vt = await as.issueJwt({ cnf: { jkt: victim.jkt } });
    expect(await send(vt, await proof(victim, { htu: url, token: vt }))).toBe(200);

    let first = '';
    for (let i = 0; i < MAX + 20; i++) {
      const p = await proof(attacker, { htu: url, token: at, iat: Math.floor(Date.now() / 1000) + 55 });
      first ||= p;
      await send(at, p);
    }
    expect(await send(at, first), 'a proof of the flood replayed').toBe(401);
    for (let i = 0; i < 3; i++) expect(await send(vt, await proof(victim, { htu: url, token: vt })), `victim proof ${i}`).toBe(200);
  }, 120_000);
});
