// A member started after every revocation in the stream aged out (max age = the longest token lifetime: a quiet
// day, then a deploy) has applied no sequence, yet the stream's last sequence stays where the last one was. A stall
// of its loop (a GC pause, a descheduled process) must then end in a catch-up, not in 503: before, the catch-up
// waited for the consumer to reach that sequence, which nothing will ever deliver — every request 503
// `revocations_bus_catching_up`, the held ones and every one after, until the next revocation was made.
import { describe, expect, it } from 'vitest';
import { subjects } from '../../../cluster/protocol/index.js';
import { KeepAlive } from '../../helpers/keep-alive.js';
import { waitReady } from '../../helpers/proxy-process.js';
import { busStand } from './bus-stand.js';
import { sleep } from './cluster-fixtures.js';
import { call, metric } from './proxy-fixtures.js';

const P = `psa${Math.random().toString(36).slice(2, 8)}`;

describe('a NATS member whose revocation stream is empty but for its sequence count', () => {
  const stand = busStand({ prefix: P, client: true });

  it('stalls for 700 ms and serves on (200): the held requests and those after', async () => {
    // the stream as it is once its revocations aged out: no message, last sequence 1
    const s = subjects(P);
    const jsm = await stand.nc.jetstreamManager();
    await jsm.streams.add({ name: s.revocationStream, subjects: [s.revocationsAll] });
    await stand.nc.jetstream().publish(`${P}.revocations.jti`, new Uint8Array([1]));
    await jsm.streams.purge(s.revocationStream);
    expect((await jsm.streams.info(s.revocationStream)).state).toMatchObject({ messages: 0, last_seq: 1 });

    const M = await stand.member();
    await waitReady(M);
    const token = await stand.as.issueJwt({ sub: 'aged-out' });
    expect((await call(M, token)).status).toBe(200);
    const conns = await Promise.all([0, 1].map(() => KeepAlive.open(Number(new URL(M.url).port))));
    for (const c of conns) expect((await c.get(token)).status).toBe(200);

    process.kill(M.proc.pid!, 'SIGSTOP');
    let answers: Promise<Array<{ status: number }>>;
    try {
      answers = Promise.all(conns.map((c) => c.get(token)));
      await sleep(700);
    } finally { process.kill(M.proc.pid!, 'SIGCONT'); }
    expect((await answers).map((a) => a.status), 'the requests held over the stall').toEqual([200, 200]);
    expect((await call(M, token)).status, 'a request after the stall').toBe(200);
    expect(await metric(M, 'portcullis_revocations_bus_stalls_total')).toBeGreaterThan(0);
    expect(await metric(M, 'portcullis_revocations_bus_catch_up_expired_total')).toBe(0);
    for (const c of conns) c.socket.destroy();
  }, 30_000);
});
