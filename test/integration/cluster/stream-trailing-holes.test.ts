// Someone with the proxies' NATS credentials (not the bus key) publishes more than 5 000 messages on a
// subject of the revocation stream and purges that subject: the stream's last sequences are all holes.
// A member that then starts (or reconnects) must still finish its replay — before, its consumer never
// reached the stream's last sequence (nothing left to deliver) and it answered 503 until a revocation came.
import { describe, expect, it } from 'vitest';
import { subjects } from '../../../cluster/protocol/index.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

const P = `pth${Math.random().toString(36).slice(2, 8)}`;

describe('a revocation stream whose last 5 001 sequences were purged', () => {
  const stand = busStand({ prefix: P, client: true });
  const start = (): Promise<ProxyProcess> => stand.member();


  it('a member started afterwards finishes its replay and refuses the revoked token', async () => {
    const M = await start();
    const t = await stand.as.issueJwt({ sub: 'holes' });
    await waitFor('M to serve', async () => (await call(M, t)).status === 200, 15_000);
    expect((await admin(M, 'POST', '/revocations', { kind: 'jti', value: jtiOf(t) })).body.persisted).toBe(true);

    const js = stand.nc.jetstream();
    const junk = `${P}.revocations.zzz`;
    for (let i = 0; i < 5_001; i += 500) await Promise.all(Array.from({ length: Math.min(500, 5_001 - i) }, () => js.publish(junk, new Uint8Array([1]))));
    const jsm = await stand.nc.jetstreamManager();
    await jsm.streams.purge(subjects(P).revocationStream, { filter: junk });
    expect((await jsm.streams.info(subjects(P).revocationStream)).state.messages).toBe(1);

    const N = await start();
    await waitFor('N to finish its replay and serve', async () => (await call(N, await stand.as.issueJwt({ sub: 'fresh' }))).status === 200, 15_000);
    expect(revoked(await call(N, t))).toBe(true);
  }, 60_000);
});
