// Upstream sockets, plain and TLS, carry TCP keep-alive with a 60 s idle time (node/upstream/h1-socket.ts):
// a kept-alive upstream connection whose host vanished is found dead by the kernel's probes. Read from
// the kernel's socket table (/proc/net/tcp*): its timer column shows the keep-alive timer of an idle socket.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer as createHttp, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { waitFor } from '../../helpers/wait.js';

let plain: Server;
let secure: Server;
let proxy: ProxyProcess;

/** Answers with the proxy-side port of the connection the request came on. */
const answerPeerPort = (req: IncomingMessage, res: ServerResponse): void => { res.end(String(req.socket.remotePort)); };

function listen(s: Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
}

beforeAll(async () => {
  const files = selfSignedCert();
  plain = createHttp({ keepAliveTimeout: 60_000 }, answerPeerPort);
  secure = createHttps({ cert: readFileSync(files.cert), key: readFileSync(files.key), keepAliveTimeout: 60_000 }, answerPeerPort);
  const [p, s] = await Promise.all([listen(plain), listen(secure)]);
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${p}`, {
    upstreams: {
      app: { targets: [`http://127.0.0.1:${p}`], pool: { keep_alive_ms: 60_000 } },
      sec: { targets: [`https://localhost:${s}`], pool: { keep_alive_ms: 60_000 } },
    },
    routes: [
      { name: 'sec', match: { path: '/sec/*' }, upstream: 'sec', auth: 'none', strip_prefix: '/sec' },
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: { ...ADMIN_ENV, NODE_EXTRA_CA_CERTS: files.cert } });
});

afterAll(async () => {
  await proxy?.stop();
  plain?.closeAllConnections();
  secure?.closeAllConnections();
  await Promise.all([new Promise((r) => plain?.close(r)), new Promise((r) => secure?.close(r))]);
});

/** The `tr:tm->when` column of the kernel's entry for the socket bound to local port `localPort` and connected to `remotePort`. */
function timerOf(localPort: number, remotePort: number): string | undefined {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex(localPort)}`) && f[2]?.endsWith(`:${hex(remotePort)}`)) return f[5];
    }
  }
  return undefined;
}

/** Send one request through the proxy; the proxy's upstream socket's timer column once it is idle. */
async function idleTimer(path: string, upstream: Server): Promise<string | undefined> {
  const r = await request(`${proxy.url}${path}`);
  expect(r.statusCode).toBe(200);
  const proxySidePort = Number(await r.body.text());
  const upstreamPort = (upstream.address() as AddressInfo).port;
  let timer: string | undefined;
  // 01 (retransmit) until the kernel saw the last segment acknowledged; loopback acknowledges at once
  await waitFor('the upstream socket to go idle', () => (timer = timerOf(proxySidePort, upstreamPort))?.startsWith('02:') === true, 2_000).catch(() => undefined);
  return timer;
}

describe('upstream sockets use TCP keep-alive', () => {
  it.each([['plain', '/x', () => plain], ['TLS', '/sec/x', () => secure]] as const)('%s: an idle upstream connection has the keep-alive timer armed at 60 s', async (_name, path, upstream) => {
    const timer = await idleTimer(path, upstream());
    // "02:<hex clock ticks to expiry>" is the keep-alive timer (USER_HZ 100); without SO_KEEPALIVE an idle socket shows "00:00000000"
    expect(timer?.slice(0, 3)).toBe('02:');
    const seconds = parseInt(timer!.slice(3), 16) / 100;
    expect(seconds).toBeGreaterThan(50);
    expect(seconds).toBeLessThanOrEqual(60);
  });
});
