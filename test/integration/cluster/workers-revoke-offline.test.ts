// `serve --workers 2` on NATS: POST /revocations is answered by the primary, which serves no requests.
// With the bus away the revocation (201, persisted: false) must still be enforced by the instance's
// workers, which go on serving on local state (degraded).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, memberConfig, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let nats: NatsServer & { stop(): Promise<void> };
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
  const config = memberConfig(as, echo.url, { nats: { servers: [nats.url] }, subject_prefix: `pwo${Math.random().toString(36).slice(2, 8)}`, auth: BUS_AUTH });
  proxy = await startProxy(config, { env: { ...ADMIN_ENV, ...BUS_ENV }, args: ['--workers', '2'], timeoutMs: 20_000 });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await nats?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('serve --workers 2, a revocation accepted while NATS is away', () => {
  it('is enforced by every worker at once', async () => {
    const token = await as.issueJwt({ sub: 'offline' });
    const all200 = async (): Promise<boolean> => { for (let i = 0; i < 8; i++) if ((await call(proxy, token)).status !== 200) return false; return true; };
    await waitFor('both workers to serve', all200, 15_000);
    await nats.kill();
    const r = await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) });
    expect(r.status).toBe(201);
    expect(r.body.persisted).toBe(false);
    // each call on a fresh connection: SO_REUSEPORT spreads them over both workers (before: 200 at every one, for the whole outage)
    const allRevoked = async (): Promise<boolean> => { for (let i = 0; i < 8; i++) if (!revoked(await call(proxy, token))) return false; return true; };
    await waitFor('the token refused at both workers', allRevoked, 5_000);
  }, 60_000);
});
