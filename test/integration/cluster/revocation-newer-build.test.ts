// Rolling upgrade: a newer build's member publishes a revocation this build cannot read (a version under
// its next shared record id). Dropping it would let its token through: the member fails closed instead
// (auth routes 503, /readyz not ready, counted, logged); a keyless client's junk changes nothing. A sealed
// message of another kind on a revocation subject closes it too, live and replayed alike; and a member
// restarted from its snapshot while the bus is down stays closed (until a replay without the message).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { request } from 'undici';
import { BusAuth, Codec, subjects } from '../../../cluster/protocol/index.js';
import { freePort } from '../../helpers/ports.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { ADMIN_TOKEN, BUS_KEY, readyz } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';
import { nextBuildRevocation } from './next-build.js';
import { call, jtiOf, metric } from './proxy-fixtures.js';

const prefix = `pnb${Math.random().toString(36).slice(2, 8)}`;
const stand = busStand({ prefix, client: true });

describe('rolling upgrade: a revocation from a newer build', () => {
  it('is not dropped silently: the member refuses to judge tokens until it could have expired', async () => {
    const A = await stand.member();
    const token = await stand.as.issueJwt({ sub: 'nina' });
    await waitFor('the member serves', async () => (await call(A, token)).status === 200, 15_000);
    const subject = `${prefix}.revocations.jti`;

    // a client without the key: refused at the envelope, nothing changes
    const unsigned = await metric(A, 'portcullis_bus_messages_rejected_total', 'reason="unsigned"');
    stand.nc.publish(subject, nextBuildRevocation(jtiOf(token)));
    await stand.nc.flush();
    await waitFor('the unsigned one refused', async () => (await metric(A, 'portcullis_bus_messages_rejected_total', 'reason="unsigned"')) > unsigned, 10_000);
    expect((await call(A, token)).status).toBe(200);
    // a member on another key: refused too, and logged although an unsigned message was logged before it
    stand.nc.publish(subject, new BusAuth({ key: Buffer.alloc(48, 7) }).seal(subject, nextBuildRevocation(jtiOf(token))));
    await stand.nc.flush();
    await waitFor('the foreign key refused', async () => (await metric(A, 'portcullis_bus_messages_rejected_total', 'reason="unknown_key"')) > 0, 10_000);
    expect((await call(A, token)).status).toBe(200);
    const refusedLogged = (): unknown[] => A.logs().filter((l) => l.msg === 'bus message refused').map((l) => l.reason);
    await waitFor('each refusal reason logged once', async () => refusedLogged().includes('unknown_key'), 5_000);
    expect(refusedLogged()).toEqual(['unsigned', 'unknown_key']);

    // the newer build's member, with the key
    stand.nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, nextBuildRevocation(jtiOf(token))));
    await stand.nc.flush();
    await waitFor('the token no longer passes', async () => (await call(A, token)).status !== 200, 10_000);
    expect((await call(A, token)).status).toBe(503);
    const ready = await request(`${A.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ready.statusCode).toBe(503);
    expect(await ready.body.text()).toContain('revocations_incomplete');
    expect(await metric(A, 'portcullis_revocations_refused_total', 'reason="unreadable"')).toBeGreaterThanOrEqual(1); // live, and again from the stream
    expect(await metric(A, 'portcullis_revocations_unreadable')).toBe(1);

    // a member started afterwards reads it from the stream: closed as well
    const B = await stand.member();
    await waitFor('B read it from the stream', async () => (await metric(B, 'portcullis_revocations_unreadable')) === 1, 15_000);
    expect((await call(B, token)).status).toBe(503);
  }, 60_000);

  it('a sealed message of another kind on a revocation subject closes a member replaying it from the stream too, as it closed the live one (regression)', async () => {
    // a prefix of its own: its stream holds only this message
    const other = `${prefix}x`;
    const A = await stand.member({ subject_prefix: other });
    const token = await stand.as.issueJwt({ sub: 'omar' });
    await waitFor('the member serves', async () => (await call(A, token)).status === 200, 15_000);
    const subject = `${other}.revocations.jti`;
    const goodbye = new Codec().encode({ type: 'member.left', v: 1, id: 'nobody' });
    stand.nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, goodbye));
    await stand.nc.flush();
    await waitFor('the live member closed', async () => (await call(A, token)).status === 503, 10_000);
    // before: a member started afterwards skipped it in the stream and let every token through
    const B = await stand.member({ subject_prefix: other });
    await waitFor('B read it from the stream', async () => (await metric(B, 'portcullis_revocations_unreadable')) === 1, 10_000);
    expect((await call(B, token)).status).toBe(503);
  }, 40_000);

  it('a member restarted from its snapshot while the bus is down stays closed, as its peers are (regression)', async () => {
    const other = `${prefix}s`;
    const snapshot = { snapshot_file: join(tempDir('portcullis-nbs-'), 'revocations.json'), snapshot_interval_ms: 50, snapshot_max_age_s: 300 };
    const A = await stand.member({ subject_prefix: other, revocation: snapshot });
    const token = await stand.as.issueJwt({ sub: 'pia' });
    await waitFor('the member serves', async () => (await call(A, token)).status === 200, 15_000);
    const subject = `${other}.revocations.jti`;
    stand.nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, nextBuildRevocation(jtiOf(token))));
    await stand.nc.flush();
    await waitFor('the live member closed', async () => (await call(A, token)).status === 503, 10_000);
    await A.stop(); // writes the snapshot once more

    // the same member again, from its snapshot, with its bus out of reach (nothing listens on that port)
    const dead = `nats://127.0.0.1:${await freePort()}`;
    const again = await stand.member({ subject_prefix: other, revocation: snapshot, nats: { servers: [dead] }, start_timeout_ms: 300 });
    await waitFor('serving from the snapshot', async () => (await readyz(again)).body.cluster?.revocations_from === 'snapshot', 15_000);
    await waitFor('the issuer keys loaded', async () => (await readyz(again)).body.keys_loaded === true, 15_000);
    // before: the gate lived in memory only, and the restarted member answered 200 to the token its peers refused
    expect((await call(again, token)).status).toBe(503);
    const r = await readyz(again);
    expect(r.status).toBe(503);
    expect(r.body.cluster.waiting_for).toBe('revocations_incomplete');
    expect(await metric(again, 'portcullis_revocations_unreadable')).toBe(1);
    await again.stop();

    // the way out (README): take the message out of the stream; a restart with the bus up replays it and
    // lets go of the gate the snapshot kept — it does not hold the member out for the rest of the day
    await (await stand.nc.jetstreamManager()).streams.purge(subjects(other).revocationStream);
    const back = await stand.member({ subject_prefix: other, revocation: snapshot });
    await waitFor('the member serves again', async () => (await call(back, token)).status === 200, 15_000);
    expect(await metric(back, 'portcullis_revocations_unreadable')).toBe(0);
  }, 90_000);
});
