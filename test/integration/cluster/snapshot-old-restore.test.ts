// A member restarted from a snapshot older than snapshot_max_age_s (the whole cluster away longer than
// that) applies its entries but does not serve from them; when the stream it then replays no longer holds
// them (deleted, or the bus back without its store), it must store them again as a member with a young
// snapshot does — else a member started afterwards without a snapshot lets those revoked tokens through.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { subjects } from '../../../cluster/protocol/index.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, memberConfig, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const P = `pso${Math.random().toString(36).slice(2, 8)}`;

describe('a member restarted from an old snapshot over a stream that lost its revocations', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: NatsServer & { stop(): Promise<void> };
  let nc: NatsConnection;
  const members: ProxyProcess[] = [];

  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
    nc = await connect({ servers: [nats.url] });
  }, 30_000);
  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await nc?.close();
    await nats?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('stores the snapshot entries the replay did not deliver again: a member started afterwards refuses the token', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-oldsnap-')), 'revocations.json');
    const cluster = { nats: { servers: [nats.url] }, subject_prefix: P, auth: BUS_AUTH };
    const withSnap = { ...cluster, revocation: { snapshot_file: file, snapshot_interval_ms: 50, snapshot_max_age_s: 1 } };
    const start = async (c: Record<string, unknown>): Promise<ProxyProcess> => {
      const p = await startProxy(memberConfig(as, echo.url, c), { env: { ...ADMIN_ENV, ...BUS_ENV } });
      members.push(p);
      return p;
    };
    const S = await start(withSnap);
    const t = await as.issueJwt({ sub: 'old-snap' });
    await waitFor('S to serve', async () => (await call(S, t)).status === 200, 15_000);
    expect((await admin(S, 'POST', '/revocations', { kind: 'jti', value: jtiOf(t) })).body.persisted).toBe(true);
    await S.stop(); // the final snapshot: the entry, acknowledged (nothing left in the outbox)

    // while every member is down: the stream goes (deleted by hand, or the bus back without its store)
    const jsm = await nc.jetstreamManager();
    const name = subjects(P).revocationStream;
    await jsm.streams.delete(name);
    await new Promise((res) => setTimeout(res, 1_500)); // the snapshot is now older than snapshot_max_age_s

    const S2 = await start(withSnap); // applies the old snapshot's entries, replays the (new, empty) stream
    await waitFor('S2 to answer', async () => (await call(S2, await as.issueJwt({ sub: 'fresh' }))).status === 200, 20_000);
    expect(revoked(await call(S2, t))).toBe(true);
    await waitFor('S2 to store the revocation in the new stream', async () => ((await jsm.streams.info(name).catch(() => null))?.state.messages ?? 0) >= 1, 10_000);

    const N = await start(cluster); // no snapshot: the stream is all it has
    await waitFor('N to answer', async () => (await call(N, await as.issueJwt({ sub: 'fresh2' }))).status === 200, 20_000);
    expect(revoked(await call(N, t)), 'a token revoked before the loss, at a member started after it').toBe(true);
  }, 90_000);
});
