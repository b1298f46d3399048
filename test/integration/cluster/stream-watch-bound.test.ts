// The refill's memory (which stream sequence holds each revocation) is bounded by the store: a member
// whose store is full (cluster.revocation.max_entries) watches only the revocations it holds. It
// could not publish the others again anyway, so watching them only grew its heap with the stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, memberConfig, metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const P = `pwb${Math.random().toString(36).slice(2, 8)}`;
const SMALL = 3;
const REVOKED = 24;

describe('revocation stream watch bound', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: NatsServer & { stop(): Promise<void> };
  const members: ProxyProcess[] = [];

  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await nats?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  const member = async (revocation: Record<string, unknown>): Promise<ProxyProcess> => {
    const p = await startProxy(memberConfig(as, echo.url, { nats: { servers: [nats.url] }, subject_prefix: P, auth: BUS_AUTH, revocation }), { env: { ...ADMIN_ENV, ...BUS_ENV } });
    members.push(p);
    return p;
  };

  it('a member with a full store watches no more revocations than its max_entries, however many the stream holds', async () => {
    const [big, small] = await Promise.all([member({}), member({ max_entries: SMALL })]);
    for (let i = 0; i < REVOKED; i++) {
      const r = await admin(big, 'POST', '/revocations', { kind: 'jti', value: `wb-${P}-${i}` });
      expect(r.status).toBe(201);
    }
    // the metric is the member's read position: its own revocations reach it back through its consumer, after their 201
    await waitFor('the big member to read its own revocations back', async () => (await metric(big, 'portcullis_revocations_stream_sequence')) >= REVOKED, 15_000);
    const last = await metric(big, 'portcullis_revocations_stream_sequence');
    // the small member read the whole stream (its consumer delivers what its store refuses too)
    await waitFor('the small member to read the stream to its end', async () => (await metric(small, 'portcullis_revocations_stream_sequence')) >= last, 15_000);
    expect(await metric(big, 'portcullis_revocations_stream_watched'), 'a member holding them watches every one').toBe(REVOKED);
    expect(await metric(small, 'portcullis_revocations_entries')).toBe(SMALL);
    expect(await metric(small, 'portcullis_revocations_refused_total', 'reason="full"')).toBeGreaterThan(0);
    expect(await metric(small, 'portcullis_revocations_stream_watched'), 'no more than its store holds').toBeLessThanOrEqual(SMALL);
  }, 60_000);
});
