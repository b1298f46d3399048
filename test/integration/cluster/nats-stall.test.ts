// Members on one nats-server. A member stopped (SIGSTOP) with requests already read into its keep-alive
// connections while another member revokes the token must, once continued, judge them on the revocation that
// waited in its NATS socket: 401, and the upstream never sees them (before: judged on the state from before the
// stop and forwarded); on a frozen nats-server it refuses them (503) rather than judge on that state. Each kind of process that reads NATS for its requests: a single process, and the workers of
// `serve --workers 2` with the receiver thread (stopped with their primary: there the lease and the thread also
// hold or apply, so this case shows the catch-up runs, counted). A member whose NATS is down and that stalls keeps
// serving on its local state, as a member off the bus does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, subjectPrefix } from '../../helpers/cluster-members.js';
import { KeepAlive } from '../../helpers/keep-alive.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';
import { sleep } from './cluster-fixtures.js';
import { admin, call, jtiOf, memberConfig, metric } from './proxy-fixtures.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };
const WAITS = 'portcullis_revocations_bus_catch_up_waits_total';

let nats: NatsServer & { stop(): Promise<void> };
let as: AuthServer;
let echo: EchoUpstream;
/** B a single process, W `--workers 2` with the receiver thread; each is stopped while the other revokes. */
let B: ProxyProcess;
let W: ProxyProcess;
const stopped = new Set<number>();

beforeAll(async () => {
  [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
  const prefix = subjectPrefix('pst');
  const config = memberConfig(as, echo.url, busSection(nats.url, prefix));
  const thread = memberConfig(as, echo.url, busSection(nats.url, prefix, { revocation: { receiver: 'thread' } }));
  [B, W] = await Promise.all([
    startProxy(config, { env: ENV }), startProxy(thread, { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 }),
  ]) as [ProxyProcess, ProxyProcess];
  await Promise.all([waitReady(B), workersReady(W)]);
}, 60_000);

afterAll(async () => {
  for (const pid of stopped) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  await Promise.all([B?.stop(), W?.stop()]);
  await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
});

/** The processes of `p`: its workers (when it has any) and itself. */
const processesOf = (p: ProxyProcess): number[] => [...workerPids(p.proc.pid!), p.proc.pid!];

/** Stop `p` for `ms` at least, writing one request with `token` on each of `conns` first, running `meanwhile`; the answers once continued. */
async function stall(p: ProxyProcess, conns: readonly KeepAlive[], token: string, ms: number, meanwhile: () => Promise<void>): Promise<Array<{ status: number; challenge: string }>> {
  const pids = processesOf(p);
  for (const pid of pids) { process.kill(pid, 'SIGSTOP'); stopped.add(pid); }
  const t0 = performance.now();
  // read by the kernel into the stopped member's sockets before anything else happens
  const answers = conns.map((c) => c.get(token));
  await meanwhile();
  const left = ms - (performance.now() - t0);
  if (left > 0) await sleep(left);
  for (const pid of pids) { process.kill(pid, 'SIGCONT'); stopped.delete(pid); }
  return Promise.all(answers);
}

/** `n` keep-alive connections to `p`, each answered 200 once with `token`. */
async function openWarm(p: ProxyProcess, token: string, n: number): Promise<KeepAlive[]> {
  const port = Number(new URL(p.url).port);
  const conns = await Promise.all(Array.from({ length: n }, () => KeepAlive.open(port)));
  for (const c of conns) expect((await c.get(token)).status).toBe(200);
  return conns;
}

describe('a member continued after a stop, on NATS', () => {
  const cases: Array<[string, () => ProxyProcess, () => ProxyProcess]> = [
    ['a single process', () => B, () => W], ['serve --workers 2 with the receiver thread (workers and primary stopped)', () => W, () => B],
  ];
  for (const [name, member, revoker] of cases) {
    it(`${name}: judges the requests it had queued on the revocation another member made meanwhile (401, nothing forwarded)`, async () => {
      const m = member();
      const A = revoker();
      const token = await as.issueJwt({ sub: `nats-stall-${name}` });
      await waitFor('the token served at the revoking member and the stopped one', async () => (await call(A, token)).status === 200 && (await call(m, token)).status === 200, 15_000);
      const conns = await openWarm(m, token, 4);
      const waitsBefore = await metric(m, WAITS);
      const forwardedBefore = echo.requests;
      const got = await stall(m, conns, token, 700, async () => {
        expect((await admin(A, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
        expect((await call(A, token)).status).toBe(401);
      });
      // before: the member read these before its NATS socket and judged them on the state from before the stop:
      // forwarded to the upstream with the revoked token (then 401 when the revocation landed before the upstream answered, else 200)
      expect(echo.requests - forwardedBefore, 'requests with the revoked token the upstream received').toBe(0);
      expect(got.map((a) => a.status), 'answers to the requests the stopped member held').toEqual([401, 401, 401, 401]);
      for (const a of got) expect(a.challenge).toMatch(/revoked/);
      await waitFor('the held requests counted', async () => (await metric(m, WAITS)) > waitsBefore, 5_000);
      for (const c of conns) c.socket.destroy();
      // and it serves other tokens afterwards
      const fresh = await as.issueJwt({ sub: `nats-stall-after-${name}` });
      await waitFor('another token served', async () => (await call(m, fresh)).status === 200, 5_000);
    }, 30_000);
  }

  it('with its nats-server frozen, a member that stalls refuses tokens (503 revocations_bus_catching_up) until the server answers again', async () => {
    const token = await as.issueJwt({ sub: 'nats-stall-frozen' });
    await waitFor('the token served at B', async () => (await call(B, token)).status === 200, 10_000);
    const conns = await openWarm(B, token, 2);
    const refusedBefore = await metric(B, 'portcullis_auth_decisions_total', 'reason="revocations_bus_catching_up"');
    const server = nats.pid()!;
    process.kill(server, 'SIGSTOP');
    stopped.add(server);
    const got = await stall(B, conns, token, 700, async () => {});
    process.kill(server, 'SIGCONT');
    stopped.delete(server);
    // held 1 s for a round trip the frozen server does not answer, then refused; not judged on the state from before
    expect(got.map((a) => a.status), 'answers of the stalled member on a frozen bus').toEqual([503, 503]);
    expect(await metric(B, 'portcullis_auth_decisions_total', 'reason="revocations_bus_catching_up"')).toBe(refusedBefore + 2);
    await waitFor('B serving once the server answers', async () => (await call(B, token)).status === 200, 10_000);
    for (const c of conns) c.socket.destroy();
  }, 30_000);

  it('with its NATS down, a member that stalls keeps serving on its local state (200), as off the bus', async () => {
    const token = await as.issueJwt({ sub: 'nats-stall-down' });
    await waitFor('the token served at B', async () => (await call(B, token)).status === 200, 10_000);
    const conns = await openWarm(B, token, 2);
    // the other member first: they need not wait out a drain on a dead bus
    await W.stop();
    await nats.stop();
    await waitFor('B off the bus', async () => (await metric(B, 'portcullis_bus_connected')) === 0, 10_000);
    const got = await stall(B, conns, token, 700, async () => {});
    expect(got.map((a) => a.status), 'answers of the stalled member off the bus').toEqual([200, 200]);
    for (const c of conns) c.socket.destroy();
  }, 30_000);
});
