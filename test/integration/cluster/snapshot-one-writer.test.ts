// `serve --workers 2` on NATS with `cluster.revocation.snapshot_file`: the primary and every worker
// wrote the same file, last writer wins, and only the primary's copy carries the outbox's ids (the
// revocations accepted while NATS was down): a worker's write dropped them. Now the primary is the
// file's one writer and workers only load it; a revocation accepted while NATS was down is resent
// after a full restart and refused by every worker, also by one replaced during the outage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { BusAuth } from '../../../cluster/protocol/bus-auth.js';
import { readSnapshot } from '../../../cluster/revocation/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, BUS_KEY, readyz, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, memberConfig, metric, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };
const SEAL = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });

/** The outbox ids the snapshot file holds (none when it is absent or unreadable). */
const pendingIn = (file: string): readonly string[] => {
  const r = readSnapshot(file, Date.now(), SEAL);
  return r.ok ? r.snapshot.pending ?? [] : [];
};

/** The samples of the snapshot write counter in `p`'s /metrics. */
const writeSamples = async (p: ProxyProcess): Promise<string[]> => {
  const text = await (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
  return text.split('\n').filter((l) => l.startsWith('portcullis_revocations_snapshot_writes_total'));
};

describe('serve --workers 2 on NATS: one writer per revocation snapshot file', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: (NatsServer & { stop(): Promise<void> }) | undefined;
  let watcher: FSWatcher | undefined;
  const proxies: ProxyProcess[] = [];
  const start = async (cluster: Record<string, unknown>, args: string[] = []): Promise<ProxyProcess> => {
    const p = await startProxy(memberConfig(as, echo.url, { auth: BUS_AUTH, heartbeat_ms: 200, ...cluster }), { env: ENV, args, timeoutMs: 30_000 });
    proxies.push(p);
    return p;
  };
  const ready = async (p: ProxyProcess): Promise<boolean> => (await readyz(p)).status === 200;

  beforeAll(async () => { [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]); });
  afterAll(async () => {
    watcher?.close();
    await Promise.all(proxies.map((p) => p.stop()));
    await nats?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('a revocation accepted while NATS is down is resent after a full restart and refused by every worker; only the primary writes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-snapw-'));
    const file = join(dir, 'revocations.json');
    // every write goes through `<file>.<pid>.tmp` renamed over the file: the pids seen are the writers
    const writers = new Set<number>();
    watcher = watch(dir, (_event, name) => {
      const m = /^revocations\.json\.(\d+)\.tmp$/.exec(String(name ?? ''));
      if (m !== null) writers.add(Number(m[1]));
    });
    const base = { nats: { servers: [nats!.url] }, subject_prefix: subjectPrefix('psw'), start_timeout_ms: 300 };
    const withSnap = { ...base, revocation: { snapshot_file: file, snapshot_interval_ms: 50 } };
    // C: a member without snapshot, up through it all — only the stream can tell it
    const [P, C] = await Promise.all([start(withSnap, ['--workers', '2']), start(base)]);
    await waitFor('P and C ready', async () => (await ready(P)) && (await ready(C)), 20_000);
    const bad = await as.issueJwt({ sub: 'snapshot-one-writer' });
    // each call on a fresh connection: SO_REUSEPORT spreads them over both workers
    let lastMiss = '';
    const everyCall = async (p: ProxyProcess, ok: (r: { status: number; challenge: string }) => boolean): Promise<boolean> => {
      for (let i = 0; i < 8; i++) { const r = await call(p, bad); if (!ok(r)) { lastMiss = `${r.status} ${r.challenge}`; return false; } }
      return true;
    };
    await waitFor('both workers to serve the token', () => everyCall(P, (r) => r.status === 200), 15_000);

    await nats!.kill();
    const r = await admin(P, 'POST', '/revocations', { kind: 'jti', value: jtiOf(bad) });
    expect(r.status).toBe(201);
    expect(r.body.persisted).toBe(false);
    const id = r.body.revocation.id as string;
    await waitFor('the token refused at both workers', () => everyCall(P, revoked), 5_000);
    await waitFor('the snapshot to keep the revocation as unsent', async () => pendingIn(file).includes(id), 5_000);
    // a worker replaced during the outage can only learn it from the primary's file: it refuses the token too (and writes nothing)
    await waitFor('a log line of worker 0', async () => P.logs().some((l) => l.name === 'portcullis-w0'), 10_000);
    process.kill(Number(P.logs().find((l) => l.name === 'portcullis-w0')!.pid), 'SIGKILL');
    await waitFor('worker 0 replaced and ready', async () => (await metric(P, 'portcullis_worker_restarts_total')) >= 1 && (await readyz(P)).body.workers_ready === 2, 20_000);
    await waitFor('the token refused at both workers, the new one too', () => everyCall(P, revoked), 5_000);
    // /metrics counts the primary's writes, in one sample (the workers write none)
    const samples = await writeSamples(P);
    expect(samples).toHaveLength(1);
    expect(Number(samples[0]!.split(' ')[1])).toBeGreaterThan(0);
    await P.stop();
    proxies.splice(proxies.indexOf(P), 1);
    expect(pendingIn(file)).toContain(id);

    await nats!.restart();
    const P2 = await start(withSnap, ['--workers', '2']);
    await waitFor('P2 ready', async () => ready(P2), 20_000);
    await waitFor('C to refuse the token: P2 published it again', async () => revoked(await call(C, bad)), 15_000);
    expect(await everyCall(P2, revoked), lastMiss).toBe(true);
    // one writer per run: the primary (the process the CLI started), never a worker
    expect([...writers].sort()).toEqual([P.proc.pid, P2.proc.pid].sort());
  }, 120_000); // three proxy starts (two with workers) and a nats-server restart: slow on a loaded 2-core machine
});
