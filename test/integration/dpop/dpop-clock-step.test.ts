// A DPoP proof replayed after the proxy's wall clock was stepped back (libfaketime, a real `serve`):
// the replay memory forgets a proof once the clock passes its window; NTP then steps a clock that ran
// 90 s ahead back, the proof's iat is inside the window again — and it must still be refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { steppedClock, type SteppedClock } from '../../helpers/stepped-clock.js';
import { call, waitReady } from '../auth/tokens-helpers.js';
import { clientKey, proof } from '../../unit/dpop/dpop-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let clock: SteppedClock;

beforeAll(async () => {
  clock = steppedClock();
  [as, echo] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream()]);
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [echo.url] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: { dpop: { iat_window_s: 10 } } }],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, ...clock.env } });
  await waitReady(proxy, 20_000);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('DPoP replay memory under a stepped wall clock', () => {
  it('a proof forgotten while the clock ran 90 s ahead is refused once NTP steps it back (before: 200, a replay)', async () => {
    const url = `${proxy.url}/api/orders`;
    const send = async (token: string, p: string): Promise<number> => (await call(url, { headers: { authorization: `DPoP ${token}`, dpop: p } })).status;
    const client = await clientKey('ES256');
    const token = await as.issueJwt({ cnf: { jkt: client.jkt } });
    const captured = await proof(client, { htu: url, token });
    expect(await send(token, captured)).toBe(200);
    expect(await send(token, captured), 'replayed at once').toBe(401);

    clock.step(90); // ahead 90 s: the captured proof is past its window by the wall clock (memory keeps it 60 s, the widest default); the monotonic clock keeps it remembered
    const ahead = await proof(client, { htu: url, token, iat: Math.floor(Date.now() / 1000) + 90 });
    expect(await send(token, ahead)).toBe(200); // its claim sweeps the expired entries
    expect(await send(token, captured), 'stale while ahead').toBe(401);

    clock.step(0); // NTP steps it back: the captured proof's iat is within the window again
    expect(await send(token, captured), 'the captured proof replayed after the step back').toBe(401);
    expect(await send(token, await proof(client, { htu: url, token })), 'a fresh proof').toBe(200);
  }, 60_000);

  it('stepped an hour forward, then back: fresh proofs pass at once (before: 401 dpop.replay_too_old for the hour)', async () => {
    const url = `${proxy.url}/api/orders`;
    const send = async (token: string, p: string): Promise<number> => (await call(url, { headers: { authorization: `DPoP ${token}`, dpop: p } })).status;
    const client = await clientKey('ES256');
    const token = await as.issueJwt({ cnf: { jkt: client.jkt } }, { ttlSeconds: 7_200 }); // live at both clocks
    // a bad NTP source steps the proxy an hour forward, and the client with it: its proofs pass, dated by that clock
    clock.step(3_600);
    expect(await send(token, await proof(client, { htu: url, token, iat: Math.floor(Date.now() / 1000) + 3_600 }))).toBe(200);
    clock.step(3_700); // past that proof's window by the wall clock: each claim sweeps what the wall says expired
    for (let i = 0; i < 3; i++) expect(await send(token, await proof(client, { htu: url, token, iat: Math.floor(Date.now() / 1000) + 3_700 }))).toBe(200);
    clock.step(0); // NTP steps back
    expect(await send(token, await proof(client, { htu: url, token })), 'a fresh proof after the step back').toBe(200);
  }, 60_000);
});
