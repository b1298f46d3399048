// A revocation accepted while the bus is down (201, `persisted: false`) waits in the member's
// outbox. That outbox lived in memory only: the member restarted before the bus came back and
// the revocation was gone for the cluster — the other member and any member started later let
// the token through for good, while the origin alone (from its snapshot) refused it. Now the
// snapshot keeps the outbox's ids and a restarted member publishes them again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, memberConfig } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };

/** The shared member config (one JWT route on /api/*) on an authenticated bus. */
const proxyConfig = (as: AuthServer, upstream: string, cluster: Record<string, unknown>): Record<string, unknown> => memberConfig(as, upstream, { auth: BUS_AUTH, ...cluster });

const status = async (p: ProxyProcess, token: string): Promise<number> => (await call(p, token)).status;

async function ready(p: ProxyProcess): Promise<boolean> {
  const r = await request(`${p.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  await r.body.dump();
  return r.statusCode === 200;
}

describe('a revocation accepted while the bus is down survives its member\'s restart', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: (NatsServer & { stop(): Promise<void> }) | undefined;
  const proxies: ProxyProcess[] = [];
  const start = async (cluster: Record<string, unknown>): Promise<ProxyProcess> => {
    const p = await startProxy(proxyConfig(as, echo.url, cluster), { env: ENV, timeoutMs: 30_000 });
    proxies.push(p);
    return p;
  };

  beforeAll(async () => { [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]); });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await nats?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('201 persisted:false, origin restarted before the bus returns: the others and a later member refuse the token', async () => {
    nats = await startNatsServer();
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-outbox-')), 'revocations.json');
    const base = { nats: { servers: [nats.url] }, subject_prefix: subjectPrefix('pto'), start_timeout_ms: 300 };
    const withSnap = { ...base, revocation: { snapshot_file: file, snapshot_interval_ms: 50 } };
    const A = await start(withSnap);
    const B = await start(base);
    await waitFor('A and B ready', async () => (await ready(A)) && (await ready(B)), 20_000);
    const bad = await as.issueJwt({ sub: 'outbox-revoked' });
    expect(await status(B, bad)).toBe(200);

    await nats.kill();
    const r = await admin(A, 'POST', '/revocations', { kind: 'jti', value: jtiOf(bad) });
    expect(r.status).toBe(201);
    expect(r.body.persisted).toBe(false); // the answer says it is not stored yet
    expect(await status(A, bad)).toBe(401);
    await new Promise((res) => setTimeout(res, 500)); // a snapshot write after the revocation
    await A.stop();
    proxies.splice(proxies.indexOf(A), 1);

    await nats.restart();
    const A2 = await start(withSnap);
    await waitFor('A2 ready', async () => ready(A2), 20_000);
    await waitFor('B to refuse the token revoked at A before its restart', async () => (await status(B, bad)) === 401, 15_000);
    const C = await start(base); // started afterwards: only the stream can tell it
    await waitFor('C ready', async () => ready(C), 20_000);
    expect(await status(C, bad)).toBe(401);
    expect(await status(A2, bad)).toBe(401);
  }, 120_000); // several proxy starts and a nats-server restart: slow on a loaded 2-core machine
});
