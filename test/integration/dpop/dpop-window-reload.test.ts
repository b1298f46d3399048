// A reload that widens a route's `auth.dpop.iat_window_s` must not give used proofs a second
// life: the replay cache forgets a proof once the old window would refuse it, and the new,
// wider window would accept it again. Real `portcullis serve`: window 2 s, proofs used, then
// the window becomes 600 s — every proof used before the reload stays refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, waitReady } from '../auth/tokens-helpers.js';
import { clientKey, proof } from '../../unit/dpop/dpop-helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function config(as: AuthServer, upstream: string, windowS: number): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [upstream] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: { dpop: { iat_window_s: windowS } } }],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream()]);
  proxy = await startProxy(config(as, echo.url, 2), { env: ADMIN_ENV });
  await waitReady(proxy, 20_000);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('widening the DPoP iat window by reload', () => {
  it('a proof used before the reload is refused after it, whether its cache entry had expired or not', async () => {
    const key = await clientKey('ES256');
    const token = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const url = `${proxy.url}/api/orders`;
    const send = async (p: string): Promise<number> => (await call(url, { headers: { authorization: `DPoP ${token}`, dpop: p } })).status;

    const early = await proof(key, { htu: url, token });
    expect(await send(early)).toBe(200);
    await sleep(3_500); // past early's 2 s window: the cache has let it go
    expect(await send(early)).toBe(401); // the iat window refuses it now
    const late = await proof(key, { htu: url, token });
    expect(await send(late)).toBe(200); // still in the cache at the reload

    await reloadWith(proxy, config(as, echo.url, 600));
    await sleep(3_000); // past late's old expiry too

    const before = echo.requests;
    expect(await send(early)).toBe(401);
    expect(await send(late)).toBe(401);
    expect(echo.requests).toBe(before);
    // a fresh proof passes under the new window
    expect(await send(await proof(key, { htu: url, token }))).toBe(200);
  });
});
