// An instance cut off from NATS (through a TCP relay the test cuts) while a version is pushed
// keeps serving its version; on reconnect it converges: once it answers by the new version
// (or waits, 503, while the newer version is looked at) it never answers by the old one again.
// While auth routes wait for the policy (its bus back, its policy connection not yet), /readyz says 503 too,
// in one process and under `serve --workers 2`: before, 200 (a load balancer sent traffic to a member that
// answered 503 — after a whole NATS cluster came back, for ~3 s).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { Relay } from '../../helpers/tcp-relay.js';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, policyCli, policyDoc, readyz, statusOf, writePolicy } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('cluster policy: an instance cut off during a push converges on reconnect', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let relay: Relay;
  let direct: ProxyProcess;
  let behind: ProxyProcess;
  let behindWorkers: ProxyProcess;
  let cliConfig = '';

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    relay = await Relay.start(nats.port);
    const prefix = subjectPrefix('ptc');
    cliConfig = writeConfig(localConfig([nats.url], prefix));
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url))]);
    expect(r.code, r.stderr).toBe(0);
    [direct, behind, behindWorkers] = await Promise.all([
      startProxy(null, { configPath: writeConfig(localConfig([nats.url], prefix)), env: ENV, timeoutMs: 30_000 }),
      startProxy(null, { configPath: writeConfig(localConfig([relay.url], prefix)), env: ENV, timeoutMs: 30_000 }),
      startProxy(null, { configPath: writeConfig(localConfig([relay.url], prefix)), env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 }),
    ]);
    await Promise.all([direct, behind, behindWorkers].map((p) => waitFor('ready', async () => (await readyz(p.adminUrl)).status === 200, 20_000)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([direct?.stop(), behind?.stop(), behindWorkers?.stop()]);
    await relay?.close();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('keeps its version while cut off, and after the cut never answers by the old version once it has seen the new one', async () => {
    const reader = await as.issueJwt({ scope: 'orders:read' });
    expect(await statusOf(behind, '/api/x', reader)).toBe(200);
    relay.cut();
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }))]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('the connected instance to apply version 2', async () => (await statusOf(direct, '/api/x', reader)) === 403, 15_000);
    // cut off: still version 1 (like revocations, it keeps serving on what it has)
    expect(await statusOf(behind, '/api/x', reader)).toBe(200);
    expect((await admin(behind, 'GET', '/policy')).body.version).toBe(1);

    relay.restore();
    const seen: number[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 20_000) {
      const s = await statusOf(behind, '/api/x', reader);
      seen.push(s);
      if (s === 403) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(seen.at(-1)).toBe(403);
    const firstNew = seen.findIndex((s) => s !== 200);
    expect(seen.slice(firstNew), JSON.stringify(seen)).toEqual(seen.slice(firstNew).filter((s) => s === 403 || s === 503));
    // and it never goes back (503: the revocation catch-up of its other connection may still run)
    for (let i = 0; i < 20; i++) expect([403, 503]).toContain(await statusOf(behind, '/api/x', reader));
    await waitFor('403 again', async () => (await statusOf(behind, '/api/x', reader)) === 403, 15_000);
    expect((await admin(behind, 'GET', '/policy')).body).toMatchObject({ version: 2, error: null });
  }, 60_000);
  it('its bus back but its policy connection not: auth routes wait (503) and /readyz says 503 with them; both 200 once it is back', async () => {
    const reader = await as.issueJwt({ scope: 'orders:write' });
    for (const p of [behind, behindWorkers]) await waitFor('serving version 2', async () => (await statusOf(p, '/api/x', reader)) === 200, 15_000);
    relay.cut();
    relay.refusing = /"name":"portcullis policy /; // the policy connection stays off, the member's bus comes back
    relay.restore();
    try {
      for (const p of [behind, behindWorkers]) {
        // the revocations caught up on the bus: what holds the requests is the policy alone
        await waitFor('its bus caught up and auth routes held', async () => {
          const c = (await readyz(p.adminUrl)).body.cluster;
          return c?.bus_connected === true && c?.caught_up === true && (await statusOf(p, '/api/x', reader)) === 503;
        }, 8_000);
        const r = await readyz(p.adminUrl);
        expect(r.status, JSON.stringify(r.body)).toBe(503);
        // and says why: its policy connection is down (before, bus_connected: true for a connection still reconnecting)
        expect(r.body.policy).toMatchObject({ catching_up: true, bus_connected: false });
      }
    } finally {
      relay.refusing = null;
    }
    for (const p of [behind, behindWorkers]) {
      await waitFor('serving again', async () => (await statusOf(p, '/api/x', reader)) === 200, 15_000);
      await waitFor('/readyz 200 again', async () => (await readyz(p.adminUrl)).status === 200, 5_000);
    }
  }, 60_000);
});
