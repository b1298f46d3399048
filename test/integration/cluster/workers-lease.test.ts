// `serve --workers 2`: a worker judges tokens only while it has heard from its primary lately (a 500 ms
// lease on the revocation channel). A worker stopped with requests already read into its connections must,
// once continued, not judge them on the state from before the stop: a token revoked meanwhile gets 401.
// A stopped primary makes its workers hold requests, then refuse them (503), and serve once it is back.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { KeepAlive } from '../../helpers/keep-alive.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { sleep } from './cluster-fixtures.js';
import { admin, call, jtiOf, memberConfig, metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
const stopped = new Set<number>();

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  proxy = await startProxy(memberConfig(as, echo.url, {}), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
}, 60_000); // `serve --workers 2` reports listening after ~21 s with three starting at load 12

afterAll(async () => {
  for (const pid of stopped) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** The pid among `pids` that holds the server end of the loopback connection from client port `port` to `server`. */
function holderOf(port: number, server: number, pids: readonly number[]): number | null {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | null = null;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[1]!.endsWith(`:${hex(server)}`) && f[2]!.endsWith(`:${hex(port)}`)) inode = f[9]!;
  }
  if (inode === null) return null;
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try { if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid; } catch { /* closed meanwhile */ }
    }
  }
  return null;
}

/** `n` revocations of unused jtis at the primary's admin API, 16 at a time. */
async function revokeFiller(n: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: `lease-filler-${i}` })).status).toBe(201);
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
}

const LEASE_WAITS = 'portcullis_revocations_primary_lease_waits_total';
const LEASE_EXPIRED = 'portcullis_revocations_primary_lease_expired_total';

describe('serve --workers 2: the worker lease on its primary\'s revocations', () => {
  it('a worker continued after a stop judges the requests it had queued on the revocations made meanwhile', async () => {
    const token = await as.issueJwt({ sub: 'lease' });
    const all200 = async (): Promise<boolean> => { for (let i = 0; i < 8; i++) if ((await call(proxy, token)).status !== 200) return false; return true; };
    await waitFor('both workers to serve', all200, 15_000);
    const pids = workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    const port = Number(new URL(proxy.url).port);
    // keep-alive connections until 3 are held by the worker to stop (the kernel spreads them over both)
    const target = pids[0]!;
    const primary = proxy.proc.pid!;
    const held: KeepAlive[] = [];
    const others: KeepAlive[] = [];
    for (let i = 0; i < 80 && held.length < 3; i++) {
      const c = await KeepAlive.open(port);
      expect((await c.get(token)).status).toBe(200);
      (holderOf(c.localPort(), port, pids) === target ? held : others).push(c);
    }
    expect(held.length, `keep-alive connections held by worker ${target} (of ${held.length + others.length})`).toBe(3);
    const waitsBefore = await metric(proxy, LEASE_WAITS);
    process.kill(target, 'SIGSTOP');
    stopped.add(target);
    // read by the kernel into the stopped worker's sockets before any revocation reaches its pipe
    const answers = held.map((c) => c.get(token));
    await sleep(100);
    // more than the OS pipe buffer holds, less than the mailbox (no overflow): the last of them, and the token's
    // revocation after them, wait in the primary's queue for the worker to drain its pipe
    await revokeFiller(350);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
    expect(await metric(proxy, 'portcullis_revocations_worker_overflows_total')).toBe(0);
    // the primary stopped too: the worker, continued, can read only what its pipe holds — and past the 500 ms
    // lease everything there was sent earlier than that, so it holds the requests instead of judging them
    process.kill(primary, 'SIGSTOP');
    stopped.add(primary);
    await sleep(800);
    process.kill(target, 'SIGCONT');
    stopped.delete(target);
    await sleep(300);
    process.kill(primary, 'SIGCONT');
    stopped.delete(primary);
    const got = await Promise.all(answers);
    expect(got.map((a) => a.status), 'answers to the requests the stopped worker held').toEqual([401, 401, 401]);
    for (const a of got) expect(a.challenge).toMatch(/revoked/);
    // the worker held them until it had read its pipe (before: served them on the state from before the stop: 200)
    await waitFor('the held requests counted', async () => (await metric(proxy, LEASE_WAITS)) > waitsBefore, 5_000);
    for (const c of [...held, ...others]) c.socket.destroy();
    const fresh = await as.issueJwt({ sub: 'lease-after' });
    await waitFor('both workers to serve another token', async () => { for (let i = 0; i < 8; i++) if ((await call(proxy, fresh)).status !== 200) return false; return true; }, 10_000);
  }, 60_000);

  it('a stopped primary makes its workers refuse tokens (503 after holding them), and they serve again once it continues', async () => {
    const token = await as.issueJwt({ sub: 'lease-primary' });
    await waitFor('the token served', async () => (await call(proxy, token)).status === 200, 10_000);
    const primary = proxy.proc.pid!;
    process.kill(primary, 'SIGSTOP');
    stopped.add(primary);
    // the workers accept and answer on their own: held while the lease runs out and the wait lasts, then refused
    await sleep(600);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(proxy, token)).status);
    process.kill(primary, 'SIGCONT');
    stopped.delete(primary);
    expect(statuses, 'answers of the workers while their primary was stopped').toEqual([503, 503, 503, 503]);
    await waitFor('the workers to serve again', async () => (await call(proxy, token)).status === 200, 10_000);
    expect(await metric(proxy, LEASE_EXPIRED)).toBeGreaterThanOrEqual(4);
  }, 60_000);
});
