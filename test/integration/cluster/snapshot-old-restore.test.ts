// A member restarted from a snapshot older than snapshot_max_age_s (the whole cluster away longer than
// that) applies its entries but does not serve from them; when the stream it then replays no longer holds
// them (deleted, or the bus back without its store), it must store them again as a member with a young
// snapshot does — else a member started afterwards without a snapshot lets those revoked tokens through.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { subjects } from '../../../cluster/protocol/index.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

const P = `pso${Math.random().toString(36).slice(2, 8)}`;

describe('a member restarted from an old snapshot over a stream that lost its revocations', () => {
  const stand = busStand({ prefix: P, client: true });


  it('stores the snapshot entries the replay did not deliver again: a member started afterwards refuses the token', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-oldsnap-')), 'revocations.json');
    const withSnap = { revocation: { snapshot_file: file, snapshot_interval_ms: 50, snapshot_max_age_s: 1 } };
    const start = (extra: Record<string, unknown>): Promise<ProxyProcess> => stand.member(extra);
    const S = await start(withSnap);
    const t = await stand.as.issueJwt({ sub: 'old-snap' });
    await waitFor('S to serve', async () => (await call(S, t)).status === 200, 15_000);
    expect((await admin(S, 'POST', '/revocations', { kind: 'jti', value: jtiOf(t) })).body.persisted).toBe(true);
    await S.stop(); // the final snapshot: the entry, acknowledged (nothing left in the outbox)

    // while every member is down: the stream goes (deleted by hand, or the bus back without its store)
    const jsm = await stand.nc.jetstreamManager();
    const name = subjects(P).revocationStream;
    await jsm.streams.delete(name);
    await new Promise((res) => setTimeout(res, 1_500)); // the snapshot is now older than snapshot_max_age_s

    const S2 = await start(withSnap); // applies the old snapshot's entries, replays the (new, empty) stream
    await waitFor('S2 to answer', async () => (await call(S2, await stand.as.issueJwt({ sub: 'fresh' }))).status === 200, 20_000);
    expect(revoked(await call(S2, t))).toBe(true);
    await waitFor('S2 to store the revocation in the new stream', async () => ((await jsm.streams.info(name).catch(() => null))?.state.messages ?? 0) >= 1, 10_000);

    const N = await start({}); // no snapshot: the stream is all it has
    await waitFor('N to answer', async () => (await call(N, await stand.as.issueJwt({ sub: 'fresh2' }))).status === 200, 20_000);
    expect(revoked(await call(N, t)), 'a token revoked before the loss, at a member started after it').toBe(true);
  }, 90_000);
});
