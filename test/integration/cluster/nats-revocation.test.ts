// Revocations between in-process members over one real nats-server with JetStream:
// propagation to every member, replay before ready, admin routes, the revoke CLI, and
// a member that starts while NATS is down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ClusterNode } from '../../../cluster/index.js';
import { revoke } from '../../../cluster/cli/revoke.js';
import { UsageError } from '../../../cluster/cli/usage-error.js';
import { AdminServer } from '../../../node/admin/admin-server.js';
import { freePort, startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { natsNode, prefix, quantile, silent, sleep } from './cluster-fixtures.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

describe('revocations over one nats-server', () => {
  let server: NatsServer & { stop(): Promise<void> };
  const P = prefix('s');
  const nodes: ClusterNode[] = [];
  let a: ClusterNode;
  let b: ClusterNode;
  let c: ClusterNode;
  const start = async (extra: Record<string, unknown> = {}, servers?: string[]): Promise<ClusterNode> => {
    const n = await natsNode(servers ?? [server.url], P, extra);
    nodes.push(n);
    return n;
  };

  beforeAll(async () => {
    server = await startNatsServer();
    [a, b, c] = await Promise.all([start(), start(), start()]);
    await Promise.all([a.ready(), b.ready(), c.ready()]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await server?.stop();
  });

  it('a revocation at A is refused at B and C within a few ms (measured p50/p99)', async () => {
    expect(a.busConnected() && b.busConnected() && c.busConnected()).toBe(true);
    expect(a.degraded()).toBe(false);
    const delays: number[] = [];
    for (let i = 0; i < 200; i++) {
      const jti = `prop-${i}`;
      const t0 = performance.now();
      const pending = a.revocationActor.add({ kind: 'jti', value: jti });
      // Applied at A synchronously, before the bus round trip.
      expect(a.revocations.isRevoked({ jti, tokenHash: '0'.repeat(64) })).toBe(true);
      await waitFor(`jti ${jti} at B and C`, () => b.revocations.isRevoked({ jti, tokenHash: '0'.repeat(64) }) && c.revocations.isRevoked({ jti, tokenHash: '0'.repeat(64) }), 10_000);
      delays.push(performance.now() - t0);
      const out = await pending;
      expect(out.ok && out.persisted).toBe(true);
    }
    const p50 = quantile(delays, 0.5);
    const p99 = quantile(delays, 0.99);
    const s = b.stats();
    // eslint-disable-next-line no-console
    console.log(`revocation propagation A→B,C over loopback NATS: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...delays).toFixed(2)} ms; B's histogram p50 ${s.revocation_propagation_ms_p50!.toFixed(2)} p99 ${s.revocation_propagation_ms_p99!.toFixed(2)}`);
    // Speed is the benchmark's job (revocation-propagation, separate processes); here only
    // "every revocation arrived" is asserted (the wait above), the delays are printed.
    expect(s.revocations_applied_jti).toBeGreaterThanOrEqual(200);
    expect(s.revocation_propagation_ms_count).toBeGreaterThanOrEqual(200);
    expect(s.bus_connected).toBe(1);
  });

  it('every kind is enforced at the other members', async () => {
    const now = Math.floor(Date.now() / 1000);
    const hash = createHash('sha256').update('opaque-token-1').digest('hex');
    for (const req of [
      { kind: 'token', value: hash },
      { kind: 'sub', value: 'alice', before: now },
      { kind: 'client_id', value: 'svc-1', before: now },
      { kind: 'kid', value: 'key-2024' },
      { kind: 'jti', value: 'scoped', issuer: 'https://as.example' },
    ]) expect((await a.revocationActor.add(req)).ok).toBe(true);
    const tok = (o: object): Parameters<ClusterNode['revocations']['isRevoked']>[0] => ({ tokenHash: 'f'.repeat(64), ...o });
    await waitFor('C to hold what A holds', () => c.revocations.size >= a.revocations.size, 10_000);
    expect(c.revocations.isRevoked(tok({ tokenHash: hash }))).toBe(true);
    expect(c.revocations.isRevoked(tok({ sub: 'alice', iat: now - 10 }))).toBe(true);
    expect(c.revocations.isRevoked(tok({ sub: 'alice', iat: now + 5 }))).toBe(false);
    expect(c.revocations.isRevoked(tok({ clientId: 'svc-1', iat: now - 1 }))).toBe(true);
    expect(c.revocations.isRevoked(tok({ kid: 'key-2024' }))).toBe(true);
    expect(c.revocations.isRevoked(tok({ jti: 'scoped', iss: 'https://as.example' }))).toBe(true);
    expect(c.revocations.isRevoked(tok({ jti: 'scoped', iss: 'https://other.example' }))).toBe(false);
  });

  it('a member started later replays the stream before it reports ready', async () => {
    await a.revocationActor.add({ kind: 'jti', value: 'before-d-started' });
    const d = await start();
    expect(d.caughtUp()).toBe(false);
    expect(d.gate()).toEqual({ ok: false, reason: 'catching_up' });
    await d.ready();
    expect(d.caughtUp()).toBe(true);
    expect(d.revocations.isRevoked({ jti: 'before-d-started', tokenHash: '0'.repeat(64) })).toBe(true);
    expect(d.revocations.isRevoked({ jti: 'prop-0', tokenHash: '0'.repeat(64) })).toBe(true);
    expect(d.revocations.size).toBe(a.revocations.size);
    expect(d.stats().revocations_replayed_total).toBeGreaterThanOrEqual(200);
  });

  it('admin routes: POST validates precisely, answers 201 with the entry; GET lists', async () => {
    const routes = b.adminRoutes();
    const post = routes['POST /revocations']!;
    const req = { url: '/revocations', method: 'POST' } as Parameters<typeof post>[0];
    const bad = await post(req, JSON.stringify({ kind: 'sub', value: 'bob', before: 'yesterday', colour: 1 }));
    expect(bad.status).toBe(400);
    const msg = (bad.body as { message: string }).message;
    expect(msg).toContain('colour: unknown field');
    expect(msg).toContain('before: "yesterday" is not a time');
    expect((await post(req, '{nope')).status).toBe(400);
    expect(((await post(req, JSON.stringify({ kind: 'token', value: 'raw-token' }))).body as { message: string }).message).toContain('SHA-256');
    expect(((await post(req, JSON.stringify({ kind: 'jti', value: 'x', before: 1 }))).body as { message: string }).message).toContain('before: only for kinds sub, client_id and sub_without_sid');
    const ok = await post(req, JSON.stringify({ kind: 'sub', value: 'bob', reason: 'left the company' }));
    expect(ok.status).toBe(201);
    const body = ok.body as { revocation: Record<string, unknown>; persisted: boolean; stream_seq: number };
    expect(body.revocation).toMatchObject({ kind: 'sub', value: 'bob', reason: 'left the company' });
    expect(body.persisted).toBe(true);
    expect(body.stream_seq).toBeGreaterThan(0);
    await waitFor('A to get it', () => a.revocations.has(body.revocation.id as string), 10_000);
    const list = await routes['GET /revocations']!({ url: '/revocations?kind=sub', method: 'GET' } as Parameters<typeof post>[0], '');
    expect(list.status).toBe(200);
    const entries = (list.body as { entries: Array<{ value: string }> }).entries;
    expect(entries.map((e) => e.value)).toContain('bob');
    expect((await routes['GET /revocations']!({ url: '/revocations?kind=nope' } as Parameters<typeof post>[0], '')).status).toBe(400);
  });

  it('portcullis revoke publishes on NATS from the config, or posts to the admin API', async () => {
    const dir = tempDir('portcullis-revoke-');
    const file = join(dir, 'p.yaml');
    writeFileSync(file, stringify({
      upstreams: { u: { targets: ['http://127.0.0.1:9'] } },
      routes: [{ name: 'r', match: { path: '/' }, upstream: 'u', auth: 'none' }],
      cluster: { nats: { servers: [server.url] }, subject_prefix: P, auth: { key_env: 'PT_BUS_KEY' } },
    }));
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
    try {
      await revoke(['--token', 'raw.jwt.value', '--config', file, '--reason', 'leaked']);
      await revoke(['--sub', 'carol', '--before', 'now', '--config', file]);
    } finally {
      process.stdout.write = write;
    }
    const hash = createHash('sha256').update('raw.jwt.value').digest('hex');
    expect(out.join('')).not.toContain('raw.jwt.value');
    await waitFor('CLI revocations at C', () => c.revocations.isRevoked({ tokenHash: hash }) && c.revocations.isRevoked({ tokenHash: 'x', sub: 'carol', iat: 1 }), 10_000);

    process.env.PT_ADMIN_TOKEN = 'admin-secret';
    const admin = new AdminServer({ host: '127.0.0.1', port: 0, token: 'admin-secret', logger: silent, readiness: () => ({ ready: true, detail: {} }), metrics: async () => '', routes: a.adminRoutes() });
    await admin.listen();
    try {
      process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
      try {
        await revoke(['--kid', 'via-admin', '--admin', `http://127.0.0.1:${admin.port}`, '--admin-token-env', 'PT_ADMIN_TOKEN']);
      } finally {
        process.stdout.write = write;
      }
      await waitFor('admin-API revocation at C', () => c.revocations.isRevoked({ tokenHash: 'x', kid: 'via-admin' }), 10_000);
      await expect(revoke(['--kid', 'k', '--admin', `http://127.0.0.1:${admin.port}`, '--admin-token-env', 'PT_ADMIN_TOKEN', '--exp', '2001-01-01'])).rejects.toBeInstanceOf(UsageError);
    } finally {
      await admin.close();
    }
  });

  it('NATS unreachable at start: no revocation state, so the gate stays closed until the first replay', async () => {
    const port = await freePort();
    const x = await start({ start_timeout_ms: 300 }, [`nats://127.0.0.1:${port}`]);
    await sleep(600); // past the start wait
    expect(x.busConnected()).toBe(false);
    expect(x.caughtUp()).toBe(false);
    expect(x.gate()).toEqual({ ok: false, reason: 'catching_up' });
    expect(x.readiness()).toMatchObject({ ready: false, detail: { cluster: { degraded: true, bus_connected: false, revocations_from: 'none', waiting_for: 'catching_up' } } });
    const late = await startNatsServer({ port });
    try {
      const y = await start({}, [late.url]);
      await y.ready();
      await y.revocationActor.add({ kind: 'jti', value: 'while-x-was-away' });
      await x.ready();
      expect(x.gate()).toEqual({ ok: true });
      await waitFor('X to have it', () => x.revocations.isRevoked({ jti: 'while-x-was-away', tokenHash: '0'.repeat(64) }), 8_000);
      // ready once its member view has heard a heartbeat round since the bus connected
      await waitFor('X ready', () => x.readiness().ready, 8_000);
      expect(x.readiness()).toMatchObject({ ready: true, detail: { cluster: { degraded: false, revocations_from: 'stream' } } });
    } finally {
      await Promise.all(nodes.splice(nodes.indexOf(x)).map((n) => n.close()));
      await late.stop();
    }
  });

  it('fail_closed_after_ms turns a long bus loss into a closed gate', async () => {
    const own = await startNatsServer();
    try {
      const z = await start({ fail_closed_after_ms: 150 }, [own.url]);
      await z.ready();
      expect(z.gate().ok).toBe(true);
      await own.kill();
      await waitFor('gate to close', () => !z.gate().ok, 5_000);
      expect(z.gate()).toEqual({ ok: false, reason: 'bus_lost' });
    } finally {
      await own.stop();
    }
  });
});
