// The revocation receiver thread with `serve --workers 2` (one thread per worker process: a
// revocation from another member is refused by both workers and reached each through its own
// thread); in-process members on a real nats-server: a revocation published by another process
// is enforced by a check while the member's event loop never yields (the guarantee the thread is
// for), and a thread that dies is restarted, counted, while the main thread's subscription keeps applying.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import type { ClusterNode } from '../../../cluster/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { tokenFacts } from '../../../node/contracts/index.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { natsNode, prefix as newPrefix } from './cluster-fixtures.js';
import { admin, call, jtiOf, memberConfig, metric, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };

describe('receiver thread with serve --workers 2', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let workers: ProxyProcess;
  let single: ProxyProcess;

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    const cluster = { nats: { servers: [nats.url] }, subject_prefix: `ptw${Math.random().toString(36).slice(2, 8)}`, auth: BUS_AUTH, revocation: { receiver: 'thread' } };
    workers = await startProxy(memberConfig(as, echo.url, cluster), { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    single = await startProxy(memberConfig(as, echo.url, cluster), { env: ENV });
    for (const p of [workers, single]) {
      await waitFor(`${p.url} ready`, async () => (await request(`${p.adminUrl}/readyz`).then(async (r) => { await r.body.dump(); return r.statusCode; })) === 200, 30_000);
    }
    await waitFor('a connected thread in each worker', async () => (await metric(workers, 'portcullis_revocation_receiver_threads', 'state="connected"')) === 2, 15_000);
  }, 120_000); // two starts one after the other (40 s for --workers 2, 30 s), ready and threads: bounds, not a speed

  afterAll(async () => {
    await Promise.all([workers?.stop(), single?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('a revocation at another member is refused by both workers, each through its own thread', async () => {
    const token = await as.issueJwt({ scope: 'read' });
    expect((await call(workers, token)).status).toBe(200);
    expect((await admin(single, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
    await waitFor('refused at the workers member', async () => revoked(await call(workers, token)), 10_000);
    // one copy per worker's thread (the metric sums over workers)
    await waitFor('both threads delivered it', async () => (await metric(workers, 'portcullis_revocations_arrivals_total', 'path="thread"')) === 2, 10_000);
    // fresh connections spread over both workers: none accepts it any more
    for (let i = 0; i < 20; i++) expect(revoked(await call(workers, token))).toBe(true);
    expect(await metric(workers, 'portcullis_revocations_applied_total', 'kind="jti"')).toBe(2);
  });
});

describe('a receiver thread that dies', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  const nodes: ClusterNode[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await nats?.stop();
  });

  it('enforces a revocation from another process while the member\'s event loop never yields', async () => {
    const p = newPrefix('rb');
    const a = await natsNode([nats.url], p, { revocation: { receiver: 'thread' } });
    nodes.push(a);
    await a.ready();
    const receiver = a.revocationReceiver!;
    await waitFor('thread connected', () => receiver.connected(), 15_000);
    const facts = tokenFacts('hash-blocked', { jti: 'blocked-loop', sub: 's', iat: Math.floor(Date.now() / 1000) }, 'k', 'https://as.example');
    // what every wired check does (cluster/process/member-wiring.ts): poll the ring, then the store
    const check = (): boolean => { receiver.poll(); return a.revocations.isRevoked(facts); };
    expect(check()).toBe(false);
    const config = writeConfig({
      upstreams: { u: { targets: ['http://127.0.0.1:9'] } }, routes: [{ name: 'r', match: { path: '/' }, upstream: 'u', auth: 'none' }],
      cluster: { nats: { servers: [nats.url] }, subject_prefix: p, auth: BUS_AUTH },
    });
    // the publisher is another process (spawned now); this thread then spins without yielding: the
    // main thread's own NATS subscription cannot run, only the receiver thread can make it visible
    const cli = runCli(['revoke', '--jti', 'blocked-loop', '--config', config], BUS_ENV);
    // a bound on the wait, not on the speed: the spin ends as soon as the check sees it; the CLI
    // process must boot, connect and publish meanwhile, which took over 20 s on a loaded machine
    const spinUntil = Date.now() + 45_000;
    let seen = false;
    while (!seen && Date.now() < spinUntil) seen = check();
    expect(seen, 'refused while the event loop was blocked').toBe(true);
    expect(a.stats().revocations_first_thread_total).toBe(1);
    expect((await cli).code).toBe(0);
  }, 60_000); // the spin (≤ 45 s) cannot be interrupted by the test timeout

  it('is restarted and counted; revocations keep applying through the main thread meanwhile', async () => {
    const p = newPrefix('rt');
    const a = await natsNode([nats.url], p, { revocation: { receiver: 'thread' } });
    const b = await natsNode([nats.url], p);
    nodes.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    const receiver = a.revocationReceiver!;
    expect(receiver).not.toBeNull();
    expect(b.revocationReceiver).toBeNull();
    await waitFor('thread connected', () => receiver.connected(), 15_000);
    await receiver.kill();
    expect(receiver.connected()).toBe(false);
    // while the thread is down (or restarting): the main thread's subscription applies it
    const first = await b.revocationActor.add({ kind: 'jti', value: 'while-down' });
    expect(first.ok).toBe(true);
    await waitFor('applied without the thread', () => a.revocations.has((first as { record: { id: string } }).record.id), 10_000);
    await waitFor('thread restarted and connected', () => receiver.connected(), 15_000);
    expect(a.stats().revocation_receiver_restarts_total).toBe(1);
    // "connected" is the thread's NATS connection, not yet its subscription at the server (core NATS
    // has no replay for the thread: the main thread's JetStream copy covers that gap), so a revocation
    // published in the first moment may reach only the main thread: publish until the thread delivers one
    let delivered = false;
    for (let i = 0; i < 10 && !delivered; i++) {
      const next = await b.revocationActor.add({ kind: 'jti', value: `after-restart-${i}` });
      expect(next.ok).toBe(true);
      await waitFor('applied after the restart', () => a.revocations.has((next as { record: { id: string } }).record.id), 10_000);
      delivered = await waitFor('the restarted thread delivered', () => (a.stats().revocations_arrived_thread_total ?? 0) >= 1, 2_000, { everyMs: 0 }).then(() => true, () => false);
    }
    expect(delivered, 'the restarted thread delivered one of 10 revocations').toBe(true);
  });
});
