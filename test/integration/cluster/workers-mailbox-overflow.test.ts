// `serve --workers 2`: a worker that cannot keep up (SIGSTOP stands in for a stuck loop) while the primary
// accepts more revocations than its mailbox holds misses some (the primary drops them instead of queueing
// without bound, counted in /metrics). Once continued it must not accept a token revoked meanwhile: it is
// told it overflowed, answers 503 until it has resynced, then refuses the token and serves others again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { admin, call, jtiOf, memberConfig, metric, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { sleep } from './cluster-fixtures.js';

const OVERFLOWS = 'portcullis_revocations_worker_overflows_total';
let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let stopped: number | null = null;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  proxy = await startProxy(memberConfig(as, echo.url, {}), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
}, 60_000); // `serve --workers 2` reports listening after ~21 s with three starting at load 12

afterAll(async () => {
  if (stopped !== null) try { process.kill(stopped, 'SIGCONT'); } catch { /* gone */ }
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** `n` revocations of unused jtis at the primary's admin API, 16 at a time. */
async function revokeFiller(n: number, tag: string): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: `filler-${tag}-${i}` })).status).toBe(201);
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
}

describe('serve --workers 2, a stopped worker whose revocation mailbox overflows', () => {
  it('refuses a token revoked while it was stopped once continued, and serves again after a resync', async () => {
    const token = await as.issueJwt({ sub: 'overflow' });
    const all200 = async (t: string): Promise<boolean> => { for (let i = 0; i < 8; i++) if ((await call(proxy, t)).status !== 200) return false; return true; };
    await waitFor('both workers to serve', () => all200(token), 15_000);
    const pids = workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    stopped = pids[0]!;
    process.kill(stopped, 'SIGSTOP');
    // more than the OS pipe buffer and the mailbox (256 messages) hold; before: all queued in the primary, no bound, no count
    for (let round = 0; round < 5 && (await metric(proxy, OVERFLOWS)) === 0; round++) await revokeFiller(600, String(round));
    expect(await metric(proxy, OVERFLOWS)).toBeGreaterThanOrEqual(1);
    // dropped for the stopped worker: its mailbox has overflowed
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
    // past the worker's 500 ms lease on its primary's channel: what it read before the overflow notice was sent
    // earlier than that, so it holds requests until it has read the notice (the README's bound for a stalled worker)
    await sleep(600);
    process.kill(stopped, 'SIGCONT');
    stopped = null;
    // each call on a fresh connection: both workers answer; none may let the revoked token through (503 while resyncing)
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++) statuses.push((await call(proxy, token)).status);
    expect(statuses.filter((s) => s === 200), statuses.join(' ')).toHaveLength(0);
    const fresh = await as.issueJwt({ sub: 'after-overflow' });
    await waitFor('both workers to serve again after the resync', () => all200(fresh), 15_000);
    for (let i = 0; i < 8; i++) expect(revoked(await call(proxy, token))).toBe(true);
  }, 90_000);
});
