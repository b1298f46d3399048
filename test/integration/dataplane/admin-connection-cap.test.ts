// admin.max_connections: a local client opening hundreds of admin connections (a slowloris dripping
// a request head, reconnecting whatever is closed) holds at most the cap, and the operator's calls and
// the data plane still answer meanwhile.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

const CAP = 16;
const FLOOD = 200;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, { admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN', max_connections: CAP } }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** `call`, again after a connection the server closed (undici's SocketError), at most 5 attempts. */
async function withRetries<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= 5 || (err as { code?: string }).code !== 'UND_ERR_SOCKET') throw err;
    }
  }
}

describe('the admin listener under a connection flood', () => {
  it(`keeps at most ${CAP} connections open; the operator and the data plane are answered`, async () => {
    const port = Number(new URL(proxy.adminUrl).port);
    const open = new Set<Socket>();
    let closedByServer = 0;
    let stopped = false;
    // a head dripped one byte a second: node's 5 s idle timer never fires, its 60 s head timer is far off
    const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
    const open1 = (): void => {
      const s = connect(port, '127.0.0.1');
      let i = 0;
      const t = setInterval(() => { if (i < head.length) s.write(head[i++]!); }, 1_000);
      s.on('error', () => { /* a reset is a close */ });
      s.on('connect', () => open.add(s));
      s.on('close', () => {
        clearInterval(t);
        open.delete(s);
        if (stopped) return;
        closedByServer++;
        setTimeout(open1, 50); // the flood comes back
      });
    };
    try {
      for (let i = 0; i < FLOOD; i++) open1();
      await waitFor(`the server closed ${FLOOD - CAP} flood connections`, () => closedByServer >= FLOOD - CAP, 10_000, { detail: () => `${open.size} open, ${closedByServer} closed` });
      // the operator's call and the data plane, while the flood keeps reconnecting
      // under a flood a connection whose head the server has not read yet is one it may close (README
      // Admin API): the operator's tool retries a closed connection, as curl --retry or a probe would
      const stats = await withRetries(() => request(`${proxy.adminUrl}/cache/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
      expect(stats.statusCode).toBe(200);
      await stats.body.dump();
      const data = await request(`${proxy.url}/x`);
      expect(data.statusCode).toBe(200);
      await data.body.dump();
    } finally {
      stopped = true;
      for (const s of open) s.destroy();
    }
  });
});
