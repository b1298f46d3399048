// A WebSocket upgrade still being authenticated (a slow introspection call) when a reload
// commits: its token check finishes on the snapshot it started with, but the socket must not be
// opened unless the new config allows it too. Before the fix it escaped every re-judgement (not
// open yet, not waiting on its upstream either) and relayed under the old policy for its lifetime.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, handshake, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };
const SLOW_MS = 1_500;

function config(as: AuthServer, up: string, roomScope: string): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: {
      demo: {
        issuer: as.issuer, audiences: ['portcullis-demo'],
        introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 30, timeout_ms: 5_000 },
      },
    },
    upstreams: { ws: { targets: [up] } },
    routes: [{ name: 'room', match: { path: '/room/*' }, upstream: 'ws', websocket: true, auth: { scopes: { all: [roomScope] } } }],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  };
}

describe('a WebSocket upgrade whose token check spans a reload', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    proxy = await startProxy(config(as, up.url, 'chat:read'), { env: ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('is refused (403, nothing reaches the upstream) when the new config refuses it; one still allowed opens and relays', async () => {
    const reader = as.issueOpaque({ sub: 'rita', aud: 'portcullis-demo', scope: 'chat:read' }, 600);
    const boss = as.issueOpaque({ sub: 'bob', aud: 'portcullis-demo', scope: 'chat:read chat:admin' }, 600);
    as.setIntrospection('slow', SLOW_MS);
    const asked = as.counters.introspection;
    const opening = [handshake(wsUrl(proxy, '/room/1'), [], bearer(reader)), handshake(wsUrl(proxy, '/room/2'), [], bearer(boss))];
    // both handshakes wait at the (slow) introspection endpoint when the reload commits
    await waitFor('as.counters.introspection >= asked + 2', () => as.counters.introspection >= asked + 2, 10_000, { detail: () => 'both handshakes at introspection' });
    writeFileSync(proxy.configPath, stringify(config(as, up.url, 'chat:admin'))); // the room now needs chat:admin
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const [h1, h2] = await Promise.all(opening);
    as.setIntrospection('normal');

    if (h1!.kind === 'open') {
      // what the bug looked like: a socket the new config refuses, relaying
      const echo = await h1!.client.roundTrip('still relaying', 1_000).then((m) => m.data.toString(), () => 'no echo');
      h1!.client.ws.terminate();
      expect.fail(`the reader's socket opened under the new config (echo: ${echo})`);
    }
    expect(h1).toMatchObject({ kind: 'refused', status: 403 });
    expect(up.handshakes.map((h) => h.url)).not.toContain('/room/1');

    expect(h2!.kind).toBe('open');
    if (h2!.kind !== 'open') return;
    expect((await h2!.client.roundTrip('still here')).data.toString()).toBe('still here');
    h2!.client.ws.close();
    await h2!.client.waitClosed();
    // the proxy process counts the close after the client has it
    await waitFor("(await wsMetric(proxy, 'connections')) === 0", async () => (await wsMetric(proxy, 'connections')) === 0, 10_000, { detail: () => 'no connection left' });
    expect(await wsMetric(proxy, 'handshakes_pending')).toBe(0);
  });
});
