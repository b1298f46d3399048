// `portcullis revoke --config` publishes through cluster/revocation's publishOnce, the same
// validation, bus sealing and outbox as a member's admin API: what it stores in the stream is
// the message a member stores, a member applies it, and failures say what went wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { BusAuth, Codec, type BusMessage } from '../../../cluster/protocol/index.js';
import type { ClusterNode } from '../../../cluster/index.js';
import { freePort, startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { BUS_AUTH, BUS_ENV, BUS_KEY, runCli, writeConfig } from '../../helpers/proxy-process.js';
import { natsNode, prefix } from './cluster-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

/** What a config for the CLI needs to reach the cluster. */
function cliConfig(servers: string[], subjectPrefix: string): string {
  return writeConfig({
    upstreams: { u: { targets: ['http://127.0.0.1:9'] } },
    routes: [{ name: 'r', match: { path: '/' }, upstream: 'u', auth: 'none' }],
    cluster: { nats: { servers }, subject_prefix: subjectPrefix, auth: BUS_AUTH },
  });
}

describe('portcullis revoke on NATS publishes as a member does', () => {
  let server: NatsServer & { stop(): Promise<void> };
  let member: ClusterNode;
  let nc: NatsConnection;
  const P = prefix('cli');

  beforeAll(async () => {
    server = await startNatsServer();
    member = await natsNode([server.url], P);
    await member.ready();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await member?.close();
    await server?.stop();
  });

  it('stores in the stream the same sealed revocation.added a member stores, and members apply it', async () => {
    const viaAdmin = await member.revocationActor.add({ kind: 'sub', value: 'admin-path', reason: 'r' });
    expect(viaAdmin).toMatchObject({ ok: true, persisted: true });
    const cli = await runCli(['revoke', '--sub', 'cli-path', '--reason', 'r', '--config', cliConfig([server.url], P)], BUS_ENV);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^revoked sub cli-path \(id [0-9a-f-]+, stream \S+ seq \d+\)/);
    await waitFor('the member to apply the CLI revocation', () => member.revocations.isRevoked({ tokenHash: '0'.repeat(64), sub: 'cli-path', iat: 1 }), 5_000);

    // both as stored: opened with the cluster key, decoded by the members' codec, field for field alike
    const jsm = await nc.jetstreamManager();
    const stream = `${P.toUpperCase()}_REVOCATIONS`;
    const auth = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });
    const stored: Array<{ envelope: Uint8Array; msg: BusMessage }> = [];
    for (const seq of [1, 2]) {
      const m = await jsm.streams.getMessage(stream, { seq });
      const opened = auth.open(m.subject, m.data, false);
      if (!opened.ok) throw new Error(`stored message ${seq} does not open with the bus key: ${opened.reason}`);
      const msg = new Codec().decode(opened.payload);
      if (msg === null) throw new Error(`stored message ${seq} does not decode`);
      stored.push({ envelope: m.data.subarray(0, 5), msg });
    }
    const [admin, fromCli] = stored as [typeof stored[0], typeof stored[0]];
    expect(admin.msg).toMatchObject({ type: 'revocation.added', v: 1, kind: 'sub', value: 'admin-path' });
    expect(fromCli.msg).toMatchObject({ type: 'revocation.added', v: 1, kind: 'sub', value: 'cli-path' });
    expect(Object.keys(fromCli.msg).sort()).toEqual(Object.keys(admin.msg).sort());
    // same envelope version and key id
    expect(Buffer.from(fromCli.envelope).equals(Buffer.from(admin.envelope))).toBe(true);
  });

  it('refuses what the admin API refuses, with exit 2 and the same message', async () => {
    const cli = await runCli(['revoke', '--jti', 'x', '--exp', '2001-01-01', '--config', cliConfig([server.url], P)], BUS_ENV);
    expect(cli.code).toBe(2);
    const viaAdmin = await member.revocationActor.add({ kind: 'jti', value: 'x', exp: 978307200 });
    if (viaAdmin.ok) throw new Error('the admin path accepted an exp in the past');
    for (const e of viaAdmin.errors) expect(cli.stderr).toContain(e);
  });

  it('an unset bus key variable is bad usage (exit 2) naming the variable; nothing is sent', async () => {
    const cli = await runCli(['revoke', '--jti', 'no-key', '--config', cliConfig([server.url], P)], { PT_BUS_KEY: '' });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('PT_BUS_KEY');
    expect(member.revocations.isRevoked({ tokenHash: '0'.repeat(64), jti: 'no-key' })).toBe(false);
  });

  it('NATS unreachable: exit 1 naming the server (runCli would time out if it retried forever)', async () => {
    const port = await freePort();
    const cli = await runCli(['revoke', '--jti', 'nowhere', '--config', cliConfig([`nats://127.0.0.1:${port}`], P)], BUS_ENV);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/cannot reach NATS/);
    expect(cli.stderr).toContain(`127.0.0.1:${port}`);
  });
});
