// Revocation counters as an operator reads them on a 2-member cluster over a real nats-server: one
// revocation is counted once as applied on each member and once as published on its origin, and the
// received family, which counts every NATS copy (live and stream replay), says so in its HELP.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startNatsServer } from '../../helpers/nats.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { waitFor } from '../../helpers/wait.js';
import { SECRET_ENV, asIssuer, metrics, sample, call, bearer } from '../auth/tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let nats: Awaited<ReturnType<typeof startNatsServer>>;
let members: ProxyProcess[] = [];

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  nats = await startNatsServer();
  members = await startMembers(2, clusterMemberConfig({
    issuers: { demo: asIssuer(as) },
    upstreams: { app: { targets: [echo.url] } },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
    cluster: busSection(nats.url, subjectPrefix('rvcount')),
  }), SECRET_ENV);
  await waitReadyWithMembers(members[0]!, 2);
}, 60_000);

afterAll(async () => {
  for (const m of members) await m.stop();
  await nats?.stop();
  await echo?.close();
  await as?.close();
});

describe('one revocation on a 2-member cluster', () => {
  it('is applied once per member, published once, and received counts copies as its HELP says', async () => {
    const token = await as.issueJwt({ sub: 'counted', scope: 'orders:read', jti: 'jti-counted-1' });
    for (const m of members) expect((await call(`${m.url}/orders/1`, { headers: bearer(token) })).status).toBe(200);
    const r = await fetch(`${members[0]!.adminUrl}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'jti', value: 'jti-counted-1' }),
    });
    expect(r.status).toBe(201);
    for (const m of members) {
      await waitFor('the revoked token is refused', async () => (await call(`${m.url}/orders/1`, { headers: bearer(token) })).status === 401, 15_000);
    }
    const texts = await Promise.all(members.map((m) => metrics(m, ADMIN_TOKEN)));
    for (const text of texts) {
      expect(sample(text, 'portcullis_revocations_applied_total{kind="jti"}'), 'one revocation, applied once').toBe(1);
      const received = sample(text, 'portcullis_revocations_received_total{kind="jti"}')!;
      expect(received).toBeGreaterThanOrEqual(1);
      // what an operator reads beside the number: it counts NATS copies, not revocations
      const help = /^# HELP portcullis_revocations_received_total (.*)$/m.exec(text)?.[1] ?? '';
      expect(help, 'the HELP says the family counts every copy').toMatch(/every copy/);
      expect(help).toMatch(/portcullis_revocations_applied_total counts it once/);
    }
    expect(sample(texts[0]!, 'portcullis_revocations_published_total')).toBe(1);
    expect(sample(texts[1]!, 'portcullis_revocations_published_total')).toBe(0);
  }, 60_000);
});
