// A WebSocket whose handshake is still waiting on a slow upstream when a reload commits: it
// finishes on the snapshot it started with (the upgrade succeeds, nothing 502/503 caused by the
// reload), but the new config judges it the moment it opens, like every other open WebSocket
// (README, Reload): before the fix a socket the new policy refuses escaped the re-judgement
// (reauthorize only saw sockets already open) and kept relaying for as long as it lived.
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, open, sleep, waitReady, wsUrl } from './ws-fixtures.js';

const SLOW_MS = 1_200;

function config(as: AuthServer, up: string, roomScope: string): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { ws: { targets: [up] } },
    routes: [{ name: 'room', match: { path: '/room/*' }, upstream: 'ws', websocket: true, auth: { scopes: { all: [roomScope] } } }],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  };
}

describe('a WebSocket handshake in flight across a reload', () => {
  let as: AuthServer;
  let up: WebSocketServer;
  let upUrl: string;
  let proxy: ProxyProcess;
  /** Upgrade requests the upstream has received (each then waits SLOW_MS for its answer). */
  let seen = 0;

  beforeAll(async () => {
    as = await startAuthServer();
    // an echo upstream that answers each upgrade after SLOW_MS
    up = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_info, cb) => { seen++; setTimeout(() => cb(true), SLOW_MS); } });
    up.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
    await new Promise<void>((r) => up.once('listening', () => r()));
    upUrl = `http://127.0.0.1:${(up.address() as AddressInfo).port}`;
    proxy = await startProxy(config(as, upUrl, 'chat:read'), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const c of up?.clients ?? []) c.terminate();
    await new Promise<void>((r) => (up ? up.close(() => r()) : r()));
    await as?.close();
  });

  const reload = async (cfg: Record<string, unknown>): Promise<void> => {
    writeFileSync(proxy.configPath, stringify(cfg));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  it('opens (101), and is closed 1008 at once when the new config refuses it; one still allowed keeps relaying', async () => {
    const [reader, boss] = await Promise.all([as.issueJwt({ sub: 'rita', scope: 'chat:read' }), as.issueJwt({ sub: 'bob', scope: 'chat:read chat:admin' })]);
    const opening = [open(wsUrl(proxy, '/room/1'), [], bearer(reader)), open(wsUrl(proxy, '/room/2'), [], bearer(boss))];
    // both are waiting on their upstream (authorized: a reload before that refuses one with 403, ws-auth-reload.test.ts)
    for (let i = 0; i < 1_000 && seen < 2; i++) await sleep(10);
    expect(seen).toBe(2);
    await reload(config(as, upUrl, 'chat:admin')); // the room now needs chat:admin
    const [r1, b1] = await Promise.all(opening);
    expect(await r1!.waitClosed(3_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await b1!.roundTrip('still here')).data.toString()).toBe('still here');
    b1!.ws.close();
    await b1!.waitClosed();
  });
});
