// Backpressure with real sockets. A client that stops reading while the upstream floods it
// does not grow the proxy: the upstream socket is paused once the client's queue passes
// server.websocket.max_buffered_bytes, and every message still arrives, in order, once the
// client reads again. A client that floods an upstream that never reads is closed with 1013
// when the upstream's queue passes the limit (uWS cannot stop reading a WebSocket).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rssBytes } from '../../helpers/upstreams.js';
import { open, sleep, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';

const MiB = 1024 * 1024;
/** What the proxy process may grow by while 200 MiB pass a stalled side (limits are 1 MiB + 1 MiB). */
const RSS_BUDGET = 64 * MiB;

describe('WebSocket backpressure keeps the proxy bounded', () => {
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    up = await startWsEchoUpstream();
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, websocket: { max_buffered_bytes: MiB, max_message_bytes: MiB } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      upstreams: { ws: { targets: [up.url] } },
      routes: [{ name: 'ws', match: { path: '/*' }, upstream: 'ws', auth: 'none', websocket: true }],
      log: { level: 'warn', access: false },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
  });

  it('a client that stops reading pauses the upstream: RSS stays bounded and nothing is lost', async () => {
    const count = 800;
    const size = 256 * 1024; // 200 MiB in all
    // warm up so the baseline includes a used relay path
    const w = await open(wsUrl(proxy, '/warm'));
    await w.roundTrip(Buffer.alloc(size));
    w.ws.close();
    await w.waitClosed();
    const base = rssBytes(proxy.proc.pid!);

    const c = await open(wsUrl(proxy, `/flood/${count}/${size}`));
    const sock = (c.ws as unknown as { _socket: Socket })._socket;
    sock.pause(); // the client stops reading
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await sleep(100);
      peak = Math.max(peak, rssBytes(proxy.proc.pid!) - base);
    }
    const readSoFar = c.messages.length;
    expect(readSoFar).toBeLessThan(count / 4); // really stalled: most of the flood is still upstream
    expect(await wsMetric(proxy, 'upstream_pauses_total')).toBeGreaterThanOrEqual(1);
    // eslint-disable-next-line no-console
    console.log(`slow client: proxy RSS grew by at most ${(peak / MiB).toFixed(1)} MiB while ${count * size / MiB} MiB waited upstream (budget ${RSS_BUDGET / MiB} MiB)`);
    expect(peak).toBeLessThan(RSS_BUDGET);

    sock.resume();
    const got = await c.waitFor(count + 1, 60_000);
    for (let i = 0; i < count; i++) {
      expect(got[i]!.data.length).toBe(size);
      expect(got[i]!.data.readUInt32BE(0)).toBe(i);
    }
    expect(got[count]!.data.toString()).toBe('done');
    c.ws.close();
    await c.waitClosed();
  }, 90_000);

  it('a client flooding an upstream that never reads is closed with 1013 and the proxy stays bounded', async () => {
    const base = rssBytes(proxy.proc.pid!);
    const c = await open(wsUrl(proxy, '/stall'));
    const chunk = Buffer.alloc(256 * 1024, 7);
    let sent = 0;
    let peak = 0;
    while (c.closedWith === null && sent < 400 * chunk.length) {
      // the client's own queue stays small: it only sends while its socket drains; and it yields
      // after every chunk, or a socket that keeps draining would never let it read the close frame
      if (c.ws.bufferedAmount < 4 * MiB) { c.ws.send(chunk); sent += chunk.length; await new Promise((r) => setImmediate(r)); } else await sleep(5);
      if (sent % (8 * MiB) === 0) peak = Math.max(peak, rssBytes(proxy.proc.pid!) - base);
    }
    const closed = await c.waitClosed(10_000);
    peak = Math.max(peak, rssBytes(proxy.proc.pid!) - base);
    // eslint-disable-next-line no-console
    console.log(`fast client, stalled upstream: closed ${closed.code} "${closed.reason}" after ${(sent / MiB).toFixed(1)} MiB sent; proxy RSS grew by at most ${(peak / MiB).toFixed(1)} MiB`);
    expect(closed).toMatchObject({ code: 1013, reason: 'upstream is not reading fast enough' });
    expect(sent).toBeLessThan(400 * chunk.length);
    expect(peak).toBeLessThan(RSS_BUDGET);
    expect(await wsMetric(proxy, 'closed_backpressure_total')).toBe(1);
  }, 60_000);
});
