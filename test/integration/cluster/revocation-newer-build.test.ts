// Rolling upgrade: a newer build's member publishes a revocation this build cannot read (a version under
// its next shared record id). Dropping it would let its token through: the member fails closed instead
// (auth routes 503, /readyz not ready, counted, logged); a keyless client's junk changes nothing. A sealed
// message of another kind on a revocation subject closes it too, live and replayed alike.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { request } from 'undici';
import { BusAuth, Codec, MESSAGE_SPECS } from '../../../cluster/protocol/index.js';
import { ADMIN_TOKEN, BUS_KEY } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';
import { call, jtiOf, metric } from './proxy-fixtures.js';

const prefix = `pnb${Math.random().toString(36).slice(2, 8)}`;
const stand = busStand({ prefix, client: true });

/** What the next build would send: its codec holds one more shared record (revocation.added v3, a new field) after ours. */
function nextBuildRevocation(jti: string): Uint8Array {
  const v3 = ['type', 'v', 'id', 'kind', 'value', 'issuer', 'before', 'expiresAt', 'reason', 'createdAt', 'origin', 'publishedAt', 'scope'];
  const structures = [...MESSAGE_SPECS.map((s) => [...s.fields]), v3];
  const packr = new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
  const now = Date.now();
  return packr.pack({
    type: 'revocation.added', v: 3, id: `next-${now}`, kind: 'jti', value: jti, issuer: null, before: null,
    expiresAt: Math.floor(now / 1000) + 600, reason: null, createdAt: now, origin: 'next-build-member', publishedAt: now, scope: 'all',
  });
}

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
});
