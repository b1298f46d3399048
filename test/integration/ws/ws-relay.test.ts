// WebSocket proxying against real processes: `portcullis serve` in front of a `ws` echo
// upstream and the dev authorization server. Upgrades are authenticated and authorized like
// any request (Authorization header or the bearer subprotocol), refused ones get RFC 6750
// answers and never reach the upstream; messages (text, binary, large) relay both ways;
// upstream failures map to 502/504 before the upgrade and to close codes after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { bearerProtocol } from '../../../node/ws/ws-protocol.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { deadPort } from '../../helpers/upstreams.js';
import { bearer, handshake, open, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const MiB = 1024 * 1024;

/** A handshake over node:http offering `protocols`: the answer's status and head, and the socket after a 101. */
function rawUpgrade(port: number, path: string, protocols: string): Promise<{ status: number; headers: IncomingHttpHeaders; socket: Socket | null; received: () => string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1', port, path, agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-protocol': protocols },
    });
    req.on('upgrade', (res, socket) => {
      let got = '';
      socket.on('data', (d: Buffer) => { got += d.toString('latin1'); });
      socket.on('error', () => { /* destroyed by the test */ });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, socket, received: () => got });
    });
    req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode ?? 0, headers: res.headers, socket: null, received: () => '' }); });
    req.on('error', reject);
    req.end();
  });
}

describe('WebSocket relay through the proxy', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;
  let chatToken: string;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    const dead = await deadPort();
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, websocket: { max_message_bytes: 8 * MiB } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      // response_ms longer than a test may run: only the slow route's own 1 s timeout can answer its 504
      upstreams: { ws: { targets: [up.url], timeouts: { response_ms: 60_000 } }, dead: { targets: [`http://127.0.0.1:${dead}`] } },
      routes: [
        { name: 'open', match: { path: '/open/*' }, upstream: 'ws', auth: 'none', websocket: true },
        { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: { scopes: { all: ['chat'] }, token_sources: { websocket_protocol: true } } },
        { name: 'header-only', match: { path: '/hdr/*' }, upstream: 'ws', websocket: true, auth: {} },
        { name: 'slow', match: { path: '/slow/*' }, upstream: 'ws', websocket: true, auth: 'none', timeout_ms: 1000 },
        { name: 'dead', match: { path: '/dead/*' }, upstream: 'dead', websocket: true, auth: 'none' },
        { name: 'plain', match: { path: '/plain/*' }, upstream: 'ws', auth: 'none' },
      ],
      log: { level: 'info', access: true },
      verifier: { pool_size: 1 },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
    chatToken = await as.issueJwt({ sub: 'alice', scope: 'chat' });
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('relays text and binary messages both ways, in order', async () => {
    const c = await open(wsUrl(proxy, '/chat/room'), [], bearer(chatToken));
    const sent: Array<string | Buffer> = [];
    for (let i = 0; i < 50; i++) sent.push(i % 2 === 0 ? `text ${i} é✓` : Buffer.from([i, 0, 255, i]));
    for (const m of sent) c.ws.send(m, { binary: typeof m !== 'string' });
    const got = await c.waitFor(sent.length);
    got.forEach((g, i) => {
      const m = sent[i]!;
      expect(g.binary).toBe(typeof m !== 'string');
      expect(typeof m === 'string' ? g.data.toString('utf8') : g.data.equals(m)).toBe(typeof m === 'string' ? m : true);
    });
    c.ws.close(1000);
    await c.waitClosed();
  });

  it('relays large messages (6 MiB binary, 3 MiB text) intact', async () => {
    const c = await open(wsUrl(proxy, '/open/big'));
    const bin = randomBytes(6 * MiB);
    const echoed = await c.roundTrip(bin, 20_000);
    expect(echoed.binary).toBe(true);
    expect(echoed.data.equals(bin)).toBe(true);
    const text = 'ü'.repeat(1.5 * MiB); // 3 MiB of UTF-8
    const t = await c.roundTrip(text, 20_000);
    expect(t.binary).toBe(false);
    expect(t.data.toString('utf8') === text).toBe(true);
    c.ws.close();
    await c.waitClosed();
  });

  it('a message above server.websocket.max_message_bytes closes the socket and is not forwarded', async () => {
    const c = await open(wsUrl(proxy, '/open/too-big'));
    const before = up.closes.length;
    c.ws.send(Buffer.alloc(9 * MiB));
    const closed = await c.waitClosed();
    expect(closed.code).toBe(1006); // uWS drops the connection without a close frame
    await waitFor('up.closes.length > before', () => up.closes.length > before, 10_000); // the upstream process hears the close after the client does
    // the upstream side was closed as "going away", with no 9 MiB message echoed
    expect(up.closes.slice(before)).toEqual([{ code: 1001, reason: 'client connection lost', url: '/open/too-big' }]);
    expect(c.messages).toHaveLength(0);
  });

  it('bearer subprotocol: the token authenticates, the upstream never sees it as a protocol, and it is never selected', async () => {
    const c = await open(wsUrl(proxy, '/chat/headers'), [bearerProtocol(chatToken), 'chat.v1'], { 'x-auth-subject': 'mallory' });
    expect(c.protocol).toBe('chat.v1');
    const [hello] = await c.waitFor(1);
    const seen = JSON.parse(hello!.data.toString()) as { headers: Record<string, string>; protocol: string };
    expect(seen.protocol).toBe('chat.v1');
    expect(seen.headers['sec-websocket-protocol']).toBe('chat.v1');
    expect(seen.headers.authorization).toBe(`Bearer ${chatToken}`);
    expect(seen.headers['x-auth-subject']).toBe('alice'); // the client's copy was stripped
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect((await c.roundTrip('ping')).data.toString()).toBe('ping');
    c.ws.close();
    await c.waitClosed();
  });

  it('the subprotocol is the upstream\'s answer: none selected → 101 without one (the client decides), one never offered → 502', async () => {
    // before, the proxy's own upstream client failed a 101 that selected none, and the client got 502
    const none = await rawUpgrade(proxy.port, '/open/no-protocol', 'chat.v1, chat.v2');
    expect(none.status).toBe(101);
    expect(none.headers['sec-websocket-protocol']).toBeUndefined();
    expect(up.handshakes.at(-1)).toMatchObject({ protocols: ['chat.v1', 'chat.v2'], selected: '' });
    // and the socket relays: a masked text frame "hi" comes back
    none.socket!.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
    await waitFor('the echo', () => none.received().includes('hi'), 10_000);
    none.socket!.destroy();
    const chosen = await rawUpgrade(proxy.port, '/open/x', 'chat.v1, chat.v2');
    expect([chosen.status, chosen.headers['sec-websocket-protocol']]).toEqual([101, 'chat.v1']);
    chosen.socket!.destroy();
    const wrong = await rawUpgrade(proxy.port, '/open/wrong-protocol', 'chat.v1');
    expect(wrong.status).toBe(502);
  });

  it('refusals before the upgrade: 401/403/400 with RFC 6750 challenges, nothing reaches the upstream', async () => {
    const before = up.handshakes.length;
    const noScope = await as.issueJwt({ sub: 'bob', scope: 'other' });
    const cases: Array<[string, string[], Record<string, string>, number, RegExp]> = [
      ['/chat/x', [], {}, 401, /^Bearer realm="portcullis"$/],
      ['/chat/x', ['chat'], bearer(`${chatToken}x`), 401, /error="invalid_token"/],
      ['/chat/x', [bearerProtocol('not-a-jwt'), 'chat'], {}, 401, /error="invalid_token"/],
      ['/chat/x', [], bearer(noScope), 403, /error="insufficient_scope".*scope="chat"/],
      ['/hdr/x', [bearerProtocol(chatToken), 'chat'], {}, 400, /error="invalid_request".*not allowed on this route/],
      ['/open/x', [bearerProtocol(chatToken), 'chat'], {}, 400, /error="invalid_request"/],
      ['/chat/x', [bearerProtocol(chatToken), 'chat'], bearer(chatToken), 400, /more than one credential/],
      // the ws client refuses to send these itself: raw headers
      ['/chat/x', [], { 'sec-websocket-protocol': `${bearerProtocol(chatToken)}, ${bearerProtocol(chatToken)}, chat` }, 400, /more than one bearer subprotocol/],
      ['/chat/x', [], { 'sec-websocket-protocol': `${bearerProtocol(chatToken)}, a/b` }, 400, /error="invalid_request"/],
    ];
    for (const [path, protocols, headers, status, challenge] of cases) {
      const h = await handshake(wsUrl(proxy, path), protocols, headers);
      expect(h.kind, `${path} ${protocols.join(',')}`).toBe('refused');
      if (h.kind !== 'refused') continue;
      expect(h.status, `${path} ${JSON.stringify(h.body)}`).toBe(status);
      expect(String(h.headers['www-authenticate'] ?? ''), path).toMatch(challenge);
      expect(h.body).not.toContain(chatToken);
    }
    const hdr = await open(wsUrl(proxy, '/hdr/x'), [], bearer(chatToken)); // the header still works there
    hdr.ws.close();
    await hdr.waitClosed();
    expect(up.handshakes.length).toBe(before + 1);
  });

  it('upstream refuses the connection → 502; answers the upgrade with 403 → 502; never answers → 504 at the route timeout', async () => {
    const dead = await handshake(wsUrl(proxy, '/dead/x'));
    expect(dead.kind === 'refused' && dead.status).toBe(502);
    const refused = await handshake(wsUrl(proxy, '/open/refuse'));
    expect(refused.kind === 'refused' && refused.status).toBe(502);
    expect(refused.kind === 'refused' && refused.body).toMatch(/answered 403/);
    const t0 = performance.now();
    const hang = await handshake(wsUrl(proxy, '/slow/hang'));
    const ms = performance.now() - t0;
    expect(hang.kind === 'refused' && hang.status).toBe(504);
    expect(ms).toBeGreaterThan(900);
  });

  it('close codes pass through: upstream 4001 → client 4001, client 4000 → upstream 4000, upstream lost → 1014', async () => {
    const a = await open(wsUrl(proxy, '/open/close/4001'));
    a.ws.send('go');
    expect(await a.waitClosed()).toMatchObject({ code: 4001, reason: 'bye' });

    const b = await open(wsUrl(proxy, '/open/echo-b'));
    await b.roundTrip('x');
    b.ws.close(4000, 'client done');
    await b.waitClosed();
    await waitFor("up.closes.some((x) => x.url === '/open/echo-b')", () => up.closes.some((x) => x.url === '/open/echo-b'), 10_000);
    expect(up.closes.find((x) => x.url === '/open/echo-b')).toMatchObject({ code: 4000, reason: 'client done' });

    const c = await open(wsUrl(proxy, '/open/destroy'));
    c.ws.send('go');
    const closed = await c.waitClosed();
    expect(closed.code).toBe(1014);
    expect(closed.reason).toBe('upstream connection lost');

    // the upstream sends one 9 MiB message (the limit is 8 MiB): not relayed, the client gets 1014
    const d = await open(wsUrl(proxy, `/open/flood/1/${9 * MiB}`));
    expect(await d.waitClosed()).toMatchObject({ code: 1014, reason: 'upstream message exceeds max_message_bytes' });
    expect(d.messages).toHaveLength(0);
  });

  it('a route without websocket: true answers an upgrade as a plain request; a plain GET on a websocket route is plain HTTP', async () => {
    const h = await handshake(wsUrl(proxy, '/plain/x'));
    expect(h.kind === 'refused' && h.status).toBe(200);
    const r = await request(`${proxy.url}/open/plain-get`);
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toMatchObject({ path: '/open/plain-get' });
  });

  it('counts upgrades and messages in /metrics and logs each close', async () => {
    expect(await wsMetric(proxy, 'upgrades_total')).toBeGreaterThan(0);
    expect(await wsMetric(proxy, 'messages_from_client_total')).toBeGreaterThan(50);
    // the gauge drops and the close lines arrive (over the proxy's stdout) after the clients saw their closes
    await waitFor("(await wsMetric(proxy, 'connections')) === 0", async () => (await wsMetric(proxy, 'connections')) === 0, 10_000, { detail: () => 'the connections gauge back at 0' });
    const closes = (): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.msg === 'websocket closed');
    await waitFor("closes().length > 3 && closes().some((l) => l.closed_by === 'upstream' && l.code === 4001)", () => closes().length > 3 && closes().some((l) => l.closed_by === 'upstream' && l.code === 4001), 10_000, { detail: () => JSON.stringify(closes()) });
    // tokens never appear in logs, only fingerprints
    expect(proxy.output()).not.toContain(chatToken.split('.')[2]!);
  });

  it('an upgrade request with a body is refused (400) and not forwarded', async () => {
    const before = up.handshakes.length;
    const h = await handshake(wsUrl(proxy, '/open/with-body'), [], { 'content-length': '5' });
    // the ws client sends no body: the proxy waits for it only until it answers, which it does at once
    expect(h.kind === 'refused' && h.status).toBe(400);
    expect(up.handshakes.length).toBe(before);
  });

  it('shutdown closes open sockets with 1001 (runs last: it stops the proxy)', async () => {
    const c = await open(wsUrl(proxy, '/open/last'));
    await c.roundTrip('x');
    const stopping = proxy.stop();
    expect(await c.waitClosed(10_000)).toMatchObject({ code: 1001, reason: 'proxy shutting down' });
    expect(await stopping).toBe(0);
  });
});
