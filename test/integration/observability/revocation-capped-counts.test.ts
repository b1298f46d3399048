// portcullis_revocations_capped_total on a member whose cluster.revocation.max_token_lifetime_s is shorter
// than the origin's (a rollout that lowers it, one member at a time): one revocation arrives as several
// copies (the live message, the stream's replay…) and each was capped and counted, so one revocation read 2.
// It counts revocations now, once each, as its HELP says; the families that count copies say so.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_TOKEN, BUS_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startNatsServer } from '../../helpers/nats.js';
import { busSection, clusterMemberConfig, subjectPrefix, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { waitFor } from '../../helpers/wait.js';
import { SECRET_ENV, asIssuer, metrics, sample, call, bearer } from '../auth/tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let nats: Awaited<ReturnType<typeof startNatsServer>>;
let origin: ProxyProcess;
let shorter: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  nats = await startNatsServer();
  const prefix = subjectPrefix('rvcap');
  const member = (lifetimeS: number) => clusterMemberConfig({
    issuers: { demo: asIssuer(as) },
    upstreams: { app: { targets: [echo.url] } },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
    cluster: busSection(nats.url, prefix, { revocation: { max_token_lifetime_s: lifetimeS } }),
  });
  origin = await startProxy(member(86_400), { env: { ...BUS_ENV, ...SECRET_ENV } });
  await waitReady(origin);
  shorter = await startProxy(member(43_200), { env: { ...BUS_ENV, ...SECRET_ENV } });
  await waitReady(shorter);
  await waitReadyWithMembers(origin, 2);
}, 60_000);

afterAll(async () => {
  await shorter?.stop();
  await origin?.stop();
  await nats?.stop();
  await echo?.close();
  await as?.close();
});

describe('a revocation capped by the member that receives it', () => {
  it('is counted capped once, however many copies arrive', async () => {
    const token = await as.issueJwt({ sub: 'capped', scope: 'orders:read', jti: 'jti-capped-1' });
    expect((await call(`${shorter.url}/orders/1`, { headers: bearer(token) })).status).toBe(200);
    const r = await fetch(`${origin.adminUrl}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'jti', value: 'jti-capped-1' }),
    });
    expect(r.status).toBe(201);
    await waitFor('the revoked token is refused', async () => (await call(`${shorter.url}/orders/1`, { headers: bearer(token) })).status === 401, 15_000);
    // both NATS copies (live and the stream's replay) have been read: what capped counts is settled
    await waitFor('two copies received', async () => (sample(await metrics(shorter, ADMIN_TOKEN), 'portcullis_revocations_received_total{kind="jti"}') ?? 0) >= 2, 15_000);
    const text = await metrics(shorter, ADMIN_TOKEN);
    expect(sample(text, 'portcullis_revocations_applied_total{kind="jti"}')).toBe(1);
    // before: 2 — the live message and the stream's replay were each capped and counted
    expect(sample(text, 'portcullis_revocations_capped_total')).toBe(1);
    // the families that do count copies say so beside the number
    for (const family of ['portcullis_revocations_expired_on_arrival_total', 'portcullis_revocations_refused_total']) {
      expect(new RegExp(`^# HELP ${family} (.*)$`, 'm').exec(text)?.[1] ?? '', family).toMatch(/every copy counts/);
    }
  }, 60_000);
});
