// Someone with the proxies' NATS credentials can take single revocations out of the middle of the
// stream — `$JS.API.STREAM.MSG.DELETE` of one sequence, or a purge filtered on one kind's subject —
// and the stream's first sequence stays where it was (nats-server keeps an interior delete as a
// hole). Running members watched only for a first sequence past what they read, so a member started
// afterwards replayed the stream without those revocations and let the revoked tokens through.
// Running members now see the stream's deleted count rise, read which sequences are gone and store
// again the unexpired revocations they held there.
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { subjects } from '../../../cluster/protocol/index.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, metric, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

const P = `psh${Math.random().toString(36).slice(2, 8)}`;

describe('revocations taken out of the middle of the stream', () => {
  const stand = busStand({ prefix: P });
  const member = (): Promise<ProxyProcess> => stand.member();

  it('one deleted message and one kind purged: running members store them again, a member started afterwards refuses them', async () => {
    const X = await member();
    const tokens = await Promise.all([1, 2, 3, 4].map((i) => stand.as.issueJwt({ sub: `h${i}` })));
    await waitFor('X to serve', async () => (await call(X, tokens[0]!)).status === 200, 15_000);
    // sequence 1: a subject revocation (kind sub, another subject), 2–4: three jti revocations
    expect((await admin(X, 'POST', '/revocations', { kind: 'sub', value: 'someone-else' })).status).toBe(201);
    for (const t of tokens.slice(0, 3)) expect((await admin(X, 'POST', '/revocations', { kind: 'jti', value: jtiOf(t) })).status).toBe(201);
    await waitFor('X to have read four from the stream', async () => (await metric(X, 'portcullis_revocations_stream_sequence')) === 4, 10_000);

    const name = subjects(P).revocationStream;
    const nc = await connect({ servers: stand.nats.url });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.deleteMessage(name, 3, false);
      await waitFor('X to store the deleted revocation again', async () => (await metric(X, 'portcullis_revocations_restored_total')) === 1, 10_000);
      // every jti revocation: sequences 2 and 4 and the copy stored again; the first stays
      await jsm.streams.purge(name, { filter: `${P}.revocations.jti` });
      expect((await jsm.streams.info(name)).state.first_seq).toBe(1);
      await waitFor('X to store the purged revocations again', async () => (await metric(X, 'portcullis_revocations_restored_total')) === 4, 10_000);
      await waitFor('the stream to hold the three jti revocations again', async () => (await jsm.streams.info(name)).state.messages === 4, 10_000);
    } finally { await nc.close(); }

    const Y = await member();
    await waitFor('Y to serve', async () => (await call(Y, tokens[3]!)).status === 200, 15_000);
    for (const t of tokens.slice(0, 3)) expect(revoked(await call(Y, t))).toBe(true);
    // the warning reaches the test asynchronously (X's pipe): waited for, as in stream-wiped
    const warned = (): boolean => X.logs().some((l) => String(l.msg).startsWith('revocation stream lost revocations that have not expired'));
    await waitFor("X's 'lost revocations' warning", warned, 5_000, { detail: () => X.output().slice(-2000) });
    expect(warned()).toBe(true);
  });
});
