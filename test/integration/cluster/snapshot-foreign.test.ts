// A member started without NATS serves from its revocation snapshot only when the file is this
// cluster's own: one written by a member of another cluster (another bus key), or one edited
// by hand down to no revocations, once let it serve with none of this cluster's revocations —
// a revoked token answered 200. Now such a file is refused: 503 until a replay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, readyz, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, memberConfig } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const OTHER_ENV = { ...ADMIN_ENV, PT_BUS_KEY: randomBytes(48).toString('base64') };

/** The shared member config (one JWT route on /api/*) on an authenticated bus. */
const proxyConfig = (as: AuthServer, upstream: string, cluster: Record<string, unknown>): Record<string, unknown> => memberConfig(as, upstream, { auth: BUS_AUTH, ...cluster });

const status = async (p: ProxyProcess, token: string): Promise<number> => (await call(p, token)).status;

const startWaitOver = (p: ProxyProcess): boolean => p.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('cluster bus unreachable at start'));

/**
 * `p` past its start wait with its issuer's keys loaded (a loaded machine fetches them late: until
 * then /readyz is 503 and a token 503 whatever the snapshot), so what it answers is the snapshot's doing.
 */
async function settled(p: ProxyProcess): Promise<void> {
  await waitFor('the start wait to be over', async () => startWaitOver(p), 10_000);
  await waitFor('the issuer keys loaded', async () => (await readyz(p)).body.keys_loaded === true, 10_000);
}

describe('a revocation snapshot that is not this cluster\'s own', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: (NatsServer & { stop(): Promise<void> }) | undefined;
  const proxies: ProxyProcess[] = [];
  const start = async (cluster: Record<string, unknown>, env: Record<string, string>): Promise<ProxyProcess> => {
    const p = await startProxy(proxyConfig(as, echo.url, cluster), { env, timeoutMs: 30_000 });
    proxies.push(p);
    return p;
  };

  beforeAll(async () => { [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]); });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await nats?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('one from another cluster (other bus key) or one emptied by hand is refused: 503, never served with no revocations', async () => {
    nats = await startNatsServer();
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-snapf-'));
    const mine = join(dir, 'mine.json');
    const theirs = join(dir, 'theirs.json');
    const snap = (file: string): Record<string, unknown> => ({ snapshot_file: file, snapshot_max_age_s: 300, snapshot_interval_ms: 50 });
    const cfg = { nats: { servers: [nats.url] }, subject_prefix: subjectPrefix('pts'), start_timeout_ms: 300, revocation: snap(mine) };
    const [S1, O] = await Promise.all([
      start(cfg, { ...ADMIN_ENV, ...BUS_ENV }),
      start({ ...cfg, subject_prefix: `pto${Math.random().toString(36).slice(2, 8)}`, revocation: snap(theirs) }, OTHER_ENV),
    ]);
    await waitFor('both ready', async () => (await readyz(S1)).status === 200 && (await readyz(O)).status === 200, 20_000);
    const bad = await as.issueJwt({ sub: 'snapf-revoked' });
    expect((await admin(S1, 'POST', '/revocations', { kind: 'jti', value: jtiOf(bad) })).status).toBe(201);
    await waitFor('both snapshot files', async () => existsSync(mine) && existsSync(theirs), 5_000);
    await new Promise((r) => setTimeout(r, 300)); // the write after the revocation
    await Promise.all([S1.stop(), O.stop()]);
    await nats.kill();

    // three members side by side, each on a snapshot file of its own (the bus is away for all three):
    // our own file, the other cluster's (young and well-formed) in place of ours, and a hand-written
    // file that says "caught up just now, nothing revoked"
    const ours = join(dir, 'ours.json');
    const foreign = join(dir, 'foreign.json');
    const emptied = join(dir, 'emptied.json');
    copyFileSync(mine, ours);
    copyFileSync(theirs, foreign);
    writeFileSync(emptied, JSON.stringify({ v: 1, asOf: Date.now(), entries: [] }), { mode: 0o600 });
    const [S0, S2, S3] = await Promise.all([ours, foreign, emptied].map((file) => start({ ...cfg, revocation: snap(file) }, { ...ADMIN_ENV, ...BUS_ENV })));
    await Promise.all([S0, S2, S3].map(settled));

    // our own file: served from, the revoked token refused
    expect((await readyz(S0!)).body).toMatchObject({ ready: true, cluster: { revocations_from: 'snapshot' } });
    expect(await status(S0!, bad)).toBe(401);
    // the other cluster's file, and the emptied one: refused, 503
    for (const S of [S2!, S3!]) {
      expect(await status(S, bad)).toBe(503);
      expect((await readyz(S)).body).toMatchObject({ ready: false, cluster: { revocations_from: 'none' } });
    }
  }, 90_000); // several proxy starts and a nats-server kill: slow on a loaded 2-core machine
});
