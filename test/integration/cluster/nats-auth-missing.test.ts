// A proxy configured with NATS credentials whose server does not ask for them (a server that
// came up without its accounts, e.g. a half-written include) says so: a warning in its log and
// portcullis_bus_server_auth_missing 1. Against a server that requires the credentials: 0, no warning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, startNatsServerWithConfig, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

const PASSWORD = `pw-${randomUUID()}`;
const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_NATS_PASSWORD: PASSWORD };
const WARNING = 'NATS server does not require authentication';

async function gauge(p: ProxyProcess): Promise<number | null> {
  const r = await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const m = /^portcullis_bus_server_auth_missing (\S+)$/m.exec(await r.body.text());
  return m === null ? null : Number(m[1]);
}

async function connectedProxy(echo: EchoUpstream, natsUrl: string, proxies: ProxyProcess[]): Promise<ProxyProcess> {
  const p = await startProxy(baseConfig(echo.url, {
    cluster: { nats: { servers: [natsUrl], user: 'portcullis', password_env: 'PT_NATS_PASSWORD' }, auth: BUS_AUTH },
    log: { level: 'info', access: false },
  }), { env: ENV, timeoutMs: 30_000 });
  proxies.push(p);
  await waitFor('connected to NATS', async () => p.output().includes('connected to NATS'), 20_000);
  return p;
}

describe('cluster.nats credentials against a server that does not require them', () => {
  let open: NatsServer & { stop(): Promise<void> };
  let guarded: NatsServer & { stop(): Promise<void> };
  let echo: EchoUpstream;
  const proxies: ProxyProcess[] = [];

  beforeAll(async () => {
    echo = await startEchoUpstream();
    open = await startNatsServer();
    guarded = await startNatsServerWithConfig((at) => [
      `port: ${at.port}`, `http_port: ${at.monitorPort}`, `jetstream { store_dir: "${at.storeDir}" }`,
      'authorization { users: [ { user: portcullis, password: $PT_NATS_PASSWORD } ] }',
    ].join('\n'), { PT_NATS_PASSWORD: PASSWORD });
  });
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await Promise.all([open?.stop(), guarded?.stop()]);
    await echo?.close();
  });

  it('warns and sets the gauge when the server lets anyone in', async () => {
    const p = await connectedProxy(echo, open.url, proxies);
    // logged right after "connected to NATS", but the log is written asynchronously: wait for the line
    await waitFor('the warning', async () => p.output().includes(WARNING), 20_000);
    expect(p.output()).not.toContain(PASSWORD);
    expect(await gauge(p)).toBe(1);
  });

  it('stays quiet when the server requires the configured credentials', async () => {
    const p = await connectedProxy(echo, guarded.url, proxies);
    expect(await gauge(p)).toBe(0); // set in the same turn as the connection; the admin round trip also lets the log catch up
    expect(p.output()).not.toContain(WARNING);
  });
});
