// A message sealed with the bus key (a member of another build, the revoke CLI's environment) that
// defines msgpackr's shared record of `revocation.added` anew, its `value` and `origin` swapped:
// later revocations from honest members must still revoke the token they name at every member.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { BusAuth, Codec, MESSAGE_SPECS, type RevocationAdded } from '../../../cluster/protocol/index.js';
import { BUS_KEY } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';
import { admin, call, jtiOf, metric, revoked } from './proxy-fixtures.js';

const prefix = `pbr${Math.random().toString(36).slice(2, 8)}`;
const stand = busStand({ prefix, client: true });

/** A valid jti revocation written under an inline definition of the shared record id, value and origin swapped. */
function redefining(value: string): Uint8Array {
  const now = Date.now();
  const msg: RevocationAdded = {
    type: 'revocation.added', v: 1, id: `poison-${now}`, kind: 'jti', value, issuer: null, before: null,
    expiresAt: Math.floor(now / 1000) + 600, reason: null, createdAt: now, origin: 'intruder', publishedAt: now,
  };
  const id = new Codec().encode(msg)[0]!; // the shared record id every member writes a revocation under
  const fields = MESSAGE_SPECS.find((s) => s.type === 'revocation.added')!.fields.map((f) => (f === 'value' ? 'origin' : f === 'origin' ? 'value' : f));
  const p = new Packr({ useRecords: false });
  const swapped = { ...msg, value: msg.origin, origin: msg.value } as unknown as Record<string, unknown>;
  return Buffer.concat([Buffer.from([0xd4, 0x72, id]), p.pack(fields), ...fields.map((f) => p.pack(swapped[f]))]);
}

describe('bus codec: a message redefining a shared record', () => {
  it('is dropped, and a revocation made afterwards still refuses its token at every member', async () => {
    const [A, B] = await Promise.all([stand.member(), stand.member()]);
    const token = await stand.as.issueJwt({ sub: 'rita' });
    for (const p of [A, B]) await waitFor('the member serves', async () => (await call(p, token)).status === 200, 15_000);

    const subject = `${prefix}.revocations.jti`;
    // An unsigned message behind it on the same connection: once B has refused that one, it has read the redefinition.
    const unsigned = await metric(B, 'portcullis_bus_messages_rejected_total', 'reason="unsigned"');
    stand.nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, redefining('some-jti')));
    stand.nc.publish(subject, Buffer.from('junk'));
    await stand.nc.flush();
    await waitFor('B has read the redefinition', async () => (await metric(B, 'portcullis_bus_messages_rejected_total', 'reason="unsigned"')) > unsigned, 10_000);

    expect((await admin(A, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
    await waitFor('revoked at B', async () => revoked(await call(B, token)), 10_000);
    expect(revoked(await call(A, token))).toBe(true);
    // refused as a message no encoder of ours writes
    expect(await metric(B, 'portcullis_bus_messages_dropped_total', 'reason="malformed"')).toBeGreaterThan(0);
  }, 60_000);
});
