// The direct revocation push keeps delivering when the revoking member has lost NATS: two
// `portcullis serve` members with `cluster.revocation.direct`, one reaching nats-server through a
// relay the test cuts. Its peer's heartbeats stop reaching it, yet a revocation it accepts
// (`persisted: false`) is refused at the peer over the still-open direct connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, readyz, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { Relay } from '../../helpers/tcp-relay.js';
import { admin, call, jtiOf, memberConfig, metric, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };

describe('direct push while the revoking member is off the bus', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let relay: Relay;
  let peer: ProxyProcess;
  let cutOff: ProxyProcess;

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    relay = await Relay.start(nats.port);
    const prefix = `ptdl${Math.random().toString(36).slice(2, 8)}`;
    const cluster = (url: string): Record<string, unknown> => ({ nats: { servers: [url] }, subject_prefix: prefix, auth: BUS_AUTH, revocation: { direct: { listen: '127.0.0.1:0' } } });
    [peer, cutOff] = await Promise.all([
      startProxy(memberConfig(as, echo.url, cluster(nats.url)), { env: ENV }),
      startProxy(memberConfig(as, echo.url, cluster(relay.url)), { env: ENV }),
    ]);
    await Promise.all([waitReadyWithMembers(peer, 2), waitReadyWithMembers(cutOff, 2)]);
    await waitFor('the cut-off member connected to its peer', async () => (await metric(cutOff, 'portcullis_revocation_direct_peers', 'state="connected"')) === 1, 15_000);
  });

  afterAll(async () => {
    await Promise.all([peer?.stop(), cutOff?.stop()]);
    await relay?.close();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('a revocation accepted after the peer left its membership view still reaches the peer', async () => {
    const token = await as.issueJwt({ sub: 'cut-off-revokes' });
    await waitFor('the peer to accept the token', async () => (await call(peer, token)).status === 200, 10_000);
    relay.cut();
    // heartbeats no longer arrive: the cut-off member's view loses the peer (3 missed heartbeats)
    await waitFor('the peer to leave the cut-off member\'s view', async () => (await readyz(cutOff)).body.cluster?.members === 1, 15_000);
    const r = await admin(cutOff, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) });
    expect(r.status).toBe(201);
    expect(r.body.persisted).toBe(false);
    // before: the push had dropped the peer with the view, and the peer served the token until the bus came back
    await waitFor('the peer to refuse the token revoked off the bus', async () => revoked(await call(peer, token)), 5_000);
    expect(await metric(peer, 'portcullis_revocations_arrivals_total', 'path="direct"')).toBeGreaterThanOrEqual(1);
    relay.restore();
  });
});
