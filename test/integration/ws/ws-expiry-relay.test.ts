// A WebSocket relays nothing at or after its token's exp (+ skew), in either direction: the
// instant HTTP starts answering 401 with that token. Both ends stamp every message with their
// send time and keep sending through the expiry; no message stamped at or after exp may arrive.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { bearer, expOf, open, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';

/** An upstream that records the stamps it receives and sends its own every `everyMs`. */
interface StampingUpstream { url: string; received: number[]; close(): Promise<void> }

async function startStampingUpstream(everyMs: number): Promise<StampingUpstream> {
  const received: number[] = [];
  const server: Server = createServer((_req, res) => { res.writeHead(404).end(); });
  const wss = new WebSocketServer({ server });
  const timers = new Set<NodeJS.Timeout>();
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (d: Buffer) => { received.push(Number(d.toString())); });
    const t = setInterval(() => { if (ws.readyState === ws.OPEN) ws.send(String(Date.now())); }, everyMs);
    timers.add(t);
    ws.on('close', () => { clearInterval(t); timers.delete(t); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((r) => {
      for (const t of timers) clearInterval(t);
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.close(() => r());
    }),
  };
}

describe('a WebSocket stops relaying at its token\'s exp', () => {
  let as: AuthServer;
  let up: StampingUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startStampingUpstream(2)]);
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0 } },
      upstreams: { ws: { targets: [up.url] } },
      routes: [{ name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: {} }],
      log: { level: 'warn', access: false },
      verifier: { pool_size: 1 },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('no message sent at or after exp reaches the other side; the socket closes with 1008 "token expired"', async () => {
    const tok = await as.issueJwt({ sub: 'frank' }, { ttlSeconds: 2 });
    const expMs = expOf(tok) * 1000;
    const c = await open(wsUrl(proxy, '/chat/stamps'), [], bearer(tok));
    const t = setInterval(() => { if (c.ws.readyState === c.ws.OPEN) c.ws.send(String(Date.now())); }, 2);
    let closed;
    try {
      closed = await c.waitClosed(8_000);
    } finally {
      clearInterval(t);
    }
    expect(closed).toMatchObject({ code: 1008, reason: 'token expired' });
    const toClient = c.messages.map((m) => Number(m.data.toString()));
    // both directions were busy right up to the expiry (else the assertions below prove nothing)
    expect(up.received.some((s) => s >= expMs - 1_000 && s < expMs)).toBe(true);
    expect(toClient.some((s) => s >= expMs - 1_000 && s < expMs)).toBe(true);
    const late = (xs: number[]): number[] => xs.filter((s) => s >= expMs).map((s) => s - expMs);
    expect(late(up.received), 'client messages sent at or after exp (ms after exp) reached the upstream').toEqual([]);
    expect(late(toClient), 'upstream messages sent at or after exp (ms after exp) reached the client').toEqual([]);
    expect(await wsMetric(proxy, 'ended_expired_total')).toBe(1);
  });
});
