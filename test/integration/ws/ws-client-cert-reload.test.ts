// A reload that gives a WebSocket route a client_cert rule closes the sockets open on it through
// the uWS listener (1008), which cannot see client certificates: never left open, never allowed.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { makePki } from '../../helpers/mtls-certs.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { admin, open, waitReady, wsUrl } from './ws-fixtures.js';

function config(up: string, clientCert: boolean): Record<string, unknown> {
  const pki = makePki();
  const { cert, key } = selfSignedCert();
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: pki.caFile } } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: { ws: { targets: [up] } },
    routes: [
      { name: 'lobby', match: { path: '/lobby/*' }, upstream: 'ws', websocket: true, auth: 'none', ...(clientCert ? { client_cert: { subject_cn: ['orders'] } } : {}) },
      { name: 'hall', match: { path: '/hall/*' }, upstream: 'ws', websocket: true, auth: 'none' },
    ],
    log: { level: 'info', access: false },
  };
}

describe('reload adding client_cert to a WebSocket route', () => {
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    up = await startWsEchoUpstream();
    proxy = await startProxy(config(up.url, false), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
  });

  it('closes the uWS listener\'s sockets on that route (1008), keeps the others', async () => {
    const [lobby, hall] = await Promise.all([open(wsUrl(proxy, '/lobby/1')), open(wsUrl(proxy, '/hall/1'))]);
    for (const c of [lobby, hall]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');
    writeFileSync(proxy.configPath, stringify(config(up.url, true)));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await lobby.waitClosed(3_000)).toMatchObject({ code: 1008, reason: 'access changed by configuration' });
    expect((await hall.roundTrip('still here')).data.toString()).toBe('still here');
    hall.ws.close();
    await hall.waitClosed();
  });
});
