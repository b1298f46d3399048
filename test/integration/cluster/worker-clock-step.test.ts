// `serve --workers 2` under a wall clock a bad NTP source steps an hour forward, then back (libfaketime):
// a worker replaced meanwhile (crash, OOM kill) must not take the stepped clock for the right one. Before,
// it learnt the two clocks' offset at its own start, inside the step: replaying the primary's revocations it
// dropped, as already expired, every one whose token had under an hour left, and after the step back it
// accepted those revoked tokens (200) while the primary still listed them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { steppedClock, type SteppedClock } from '../../helpers/stepped-clock.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';
import { admin, call, jtiOf, memberConfig, revoked } from './proxy-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let clock: SteppedClock;

beforeAll(async () => {
  clock = steppedClock();
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  proxy = await startProxy(memberConfig(as, echo.url, { revocation: { max_token_lifetime_s: 600 } }), { env: { ...ADMIN_ENV, ...clock.env }, args: ['--workers', '2'], timeoutMs: 40_000 });
  await workersReady(proxy, 2, 30_000);
}, 60_000);

afterAll(async () => {
  clock?.step(0);
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('a worker replaced while the wall clock is stepped forward', () => {
  it('keeps the revocations of tokens still live in real time: after the step back they are refused by every worker', async () => {
    const tok = await as.issueJwt({ sub: 'stepped' }, { ttlSeconds: 600 });
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
    for (let i = 0; i < 4; i++) expect(revoked(await call(proxy, tok))).toBe(true);

    clock.step(3600); // the token is past its exp on this clock
    // both workers die and are replaced inside the step: every request after it lands on a replacement
    const old = workerPids(proxy.proc.pid!);
    expect(old).toHaveLength(2);
    for (const pid of old) process.kill(pid, 'SIGKILL');
    await waitFor('two replacement workers', async () => {
      const now = workerPids(proxy.proc.pid!);
      return now.length === 2 && now.every((p) => !old.includes(p));
    }, 30_000);
    await workersReady(proxy, 2, 30_000);
    expect((await call(proxy, tok)).status).toBe(401);

    clock.step(0); // NTP steps back: the token's exp is 10 min ahead again
    for (let i = 0; i < 8; i++) {
      const a = await call(proxy, tok);
      // before: 200 — the replacement had dropped the revocation at its replay as expired
      expect(revoked(a), `request ${i}: ${a.status} ${a.challenge}`).toBe(true);
    }
  }, 120_000);
});
