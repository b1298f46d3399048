// Revocations in the audit trail across members: a revocation made at A's admin API is
// `revocation.add` in A's audit file and `revocation.applied` (actor: member A) in B's, each with
// its id, kind and subject — a token revocation by fingerprint only — and B's is written once; also
// when the stream's copy is the one a member applies (its live copy beaten or refused).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'nats';
import { BusAuth, Codec, revocationAdded } from '../../../cluster/protocol/index.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, BUS_KEY, baseConfig, runCli, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { admin } from '../cluster/proxy-fixtures.js';
import { waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const records = (file: string): Array<Record<string, any>> =>
  (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>) : []);

let nats: NatsServer & { stop(): Promise<void> };
let echo: EchoUpstream;
const proxies: ProxyProcess[] = [];
const files: string[] = [];
const prefix = `pta${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  [nats, echo] = await Promise.all([startNatsServer(), startEchoUpstream()]);
  for (let i = 0; i < 2; i++) {
    const file = join(tempDir('portcullis-audit-'), 'audit.log');
    files.push(file);
    proxies.push(await startProxy(baseConfig(echo.url, {
      cluster: { nats: { servers: [nats.url] }, subject_prefix: prefix, auth: BUS_AUTH },
      log: { level: 'warn', access: false, audit: { file } },
    }), { env: { ...ADMIN_ENV, ...BUS_ENV } }));
  }
  await Promise.all(proxies.map((p) => waitReady(p, 20_000)));
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all([nats?.stop(), echo?.close()]);
});

describe('revocations in the audit trail', () => {
  it('are revocation.add where made and revocation.applied at the other member', async () => {
    const [A] = proxies as [ProxyProcess, ProxyProcess];
    const hash = createHash('sha256').update('some-access-token').digest('hex');
    const j = await admin(A, 'POST', '/revocations', { kind: 'jti', value: 'audit-jti-1', reason: 'incident 42' });
    expect(j.status).toBe(201);
    const t = await admin(A, 'POST', '/revocations', { kind: 'token', value: hash });
    expect(t.status).toBe(201);
    await waitFor('records(files[1]!).length >= 2', () => records(files[1]!).length >= 2, 10_000, { detail: () => `B's audit file: ${JSON.stringify(records(files[1]!))}\nB's output: ${proxies[1]!.output().slice(-2000)}` });
    await new Promise((r) => setTimeout(r, 300));

    const atA = records(files[0]!);
    expect(atA.map((r) => r.action)).toEqual(['revocation.add', 'revocation.add']);
    const atB = records(files[1]!);
    expect(atB.map((r) => r.action)).toEqual(['revocation.applied', 'revocation.applied']);
    const origin = j.body.revocation.origin as string;
    expect(atB[0]).toMatchObject({ actor: { kind: 'member', origin }, outcome: 'ok', detail: { id: j.body.revocation.id, kind: 'jti', value: 'audit-jti-1', reason: 'incident 42' } });
    expect(atB[1]!.detail.kind).toBe('token');
    expect(atB[1]!.detail.value).toBeUndefined();
    expect(atB[1]!.detail.value_fingerprint).toBe(createHash('sha256').update(hash).digest('hex').slice(0, 16));
    expect(readFileSync(files[1]!, 'utf8')).not.toContain(hash);
  });

  it('records a revocation published by `portcullis revoke --config` at every member', async () => {
    const before = files.map((f) => records(f).length);
    const r = await runCli(['revoke', '--jti', 'cli-jti-1', '--config', proxies[0]!.configPath], { ...ADMIN_ENV, ...BUS_ENV });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('files.every((f, i) => records(f).length > before[i]!)', () => files.every((f, i) => records(f).length > before[i]!), 10_000);
    for (const f of files) {
      const last = records(f).at(-1)!;
      expect(last).toMatchObject({ action: 'revocation.applied', detail: { kind: 'jti', value: 'cli-jti-1' } });
      expect(String(last.actor.origin)).toMatch(/^cli-/);
    }
  });

  it('records at every member a revocation it applied from the stream while live', async () => {
    // A loaded member's stream consumer can beat its live copy (CI lost both of B's records above that way).
    // Made deterministic: signed 60 s ago, the live copy is refused as stale (30 s window) and only the
    // stream's copy (authenticated, its age legitimate) is applied. Before, neither member audited it.
    const before = files.map((f) => records(f).length);
    const signedAt = Date.now() - 60_000;
    const subject = `${prefix}.revocations.jti`;
    const r = { id: randomUUID(), kind: 'jti', value: 'stream-only-jti', issuer: null, before: null, expiresAt: Math.floor(Date.now() / 1000) + 600, reason: null, createdAt: signedAt, origin: 'stream-only-member' } as const;
    const sealed = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, new Codec().encode(revocationAdded(r, signedAt)), null, signedAt);
    const nc = await connect({ servers: [nats.url], timeout: 2_000 });
    try { await nc.jetstream().publish(subject, sealed); } finally { await nc.close(); }
    // applied (enforced) at every member first: what was missing is the audit line only
    const holds = async (p: ProxyProcess): Promise<boolean> => ((await admin(p, 'GET', '/revocations?kind=jti')).body.entries as Array<{ id: string }>).some((e) => e.id === r.id);
    await waitFor('every member holds the stream-only revocation', async () => (await Promise.all(proxies.map(holds))).every(Boolean), 10_000);
    await waitFor('files.every((f, i) => records(f).length > before[i]!)', () => files.every((f, i) => records(f).length > before[i]!), 10_000, { detail: () => files.map((f, i) => JSON.stringify(records(f).slice(before[i]))).join('\n') });
    for (const f of files) {
      expect(records(f).slice(-1)).toMatchObject([{ action: 'revocation.applied', actor: { kind: 'member', origin: 'stream-only-member' }, detail: { id: r.id, kind: 'jti', value: 'stream-only-jti' } }]);
    }
  });
});
