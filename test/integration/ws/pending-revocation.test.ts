// A request still waiting for its response head when its token is revoked — a long poll, an upload
// whose body is still arriving, on HTTP/1.1 and on the HTTP/2 listener — is answered 401 "the token
// has been revoked" at once and its upstream request cancelled: the upstream's later answer never
// reaches the client, and the rest of the upload never reaches the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, http2PortOf } from '../../helpers/h2-client.js';
import { admin, jtiOf, sleep, waitReady } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';


/** What the upstream received for one request. */
interface Seen { url: string; bytes: number; complete: boolean; closed: boolean; answered: boolean }

describe('a request waiting for its response ends when its token is revoked', () => {
  let as: AuthServer;
  let up: Server;
  let proxy: ProxyProcess;
  const seen: Seen[] = [];

  beforeAll(async () => {
    as = await startAuthServer();
    // /poll answers after 2.5 s (a long poll); /upload answers when the whole body has arrived
    up = createServer((req: IncomingMessage, res) => {
      const s: Seen = { url: req.url ?? '', bytes: 0, complete: false, closed: false, answered: false };
      seen.push(s);
      req.on('data', (d: Buffer) => { s.bytes += d.length; });
      req.on('end', () => {
        s.complete = true;
        if (s.url.startsWith('/api/upload')) { s.answered = true; res.end(`stored ${s.bytes} bytes`); }
      });
      res.on('close', () => { s.closed = true; });
      if (s.url.startsWith('/api/poll')) setTimeout(() => { if (!res.destroyed) { s.answered = true; res.end('the answer after the wait'); } }, 2_500);
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0 } },
      upstreams: { app: { targets: [`http://127.0.0.1:${(up.address() as AddressInfo).port}`] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {}, timeout_ms: 20_000 }],
      log: { level: 'info', access: true },
      verifier: { pool_size: 1 },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await as?.close();
    await new Promise<void>((r) => { up?.closeAllConnections(); up?.close(() => r()); });
  });

  /** Raw HTTP/1.1: write `head`, collect what comes back until the proxy closes. */
  function raw(head: string): { sock: Socket; text: () => string; closed: Promise<void> } {
    const sock = connect(proxy.port, '127.0.0.1');
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => { text += d; });
    sock.on('error', () => { /* the close follows */ });
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.write(head);
    return { sock, text: () => text, closed };
  }

  it('a long poll gets 401 at the revocation, never the upstream\'s later answer', async () => {
    const tok = await as.issueJwt({ sub: 'poller' });
    const c = raw(`GET /api/poll HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok}\r\n\r\n`);
    await waitFor('the upstream to hold the poll', () => seen.some((s) => s.url === '/api/poll'), 10_000); // forwarded, the upstream holds it
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
    await Promise.race([c.closed, sleep(10_000)]);
    c.sock.destroy();
    expect(c.text()).toMatch(/^HTTP\/1\.1 401 /);
    expect(c.text()).toContain('the token has been revoked');
    expect(c.text()).not.toContain('the answer after the wait');
    const s = seen.find((x) => x.url === '/api/poll')!;
    await waitFor('the upstream request to be cancelled', () => s.closed, 10_000).catch(() => { /* asserted next */ });
    expect(s.closed).toBe(true); // the upstream request was cancelled
    // the access line comes over the proxy's stdout after the answer (asynchronous writes): wait for it
    const accessLine = (): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === '/api/poll');
    await waitFor('the poll\'s access line', () => accessLine() !== undefined, 10_000).catch(() => { /* asserted next */ });
    expect(accessLine()).toMatchObject({ status: 401, deny: 'pending_revoked' });
  });

  it('an upload still arriving gets 401 at a revocation of its subject and the upstream gets no more of it', async () => {
    const tok = await as.issueJwt({ sub: 'uploader' });
    const c = raw(`POST /api/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = `400\r\n${'x'.repeat(1024)}\r\n`;
    for (let i = 0; i < 4; i++) { c.sock.write(chunk); await sleep(100); }
    await waitFor('the upstream to have the first 4 KiB', () => seen.find((x) => x.url === '/api/upload')?.bytes === 4096, 10_000);
    const s = seen.find((x) => x.url === '/api/upload')!;
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'uploader' })).status).toBe(201);
    // the client keeps sending as long as the connection lets it
    for (let i = 0; i < 10 && !c.sock.destroyed; i++) { c.sock.write(chunk); await sleep(100); }
    if (!c.sock.destroyed) c.sock.write('0\r\n\r\n');
    await Promise.race([c.closed, sleep(10_000)]);
    c.sock.destroy();
    await waitFor('the upstream request to be cancelled', () => s.closed, 10_000).catch(() => { /* asserted below */ });
    expect(c.text()).toMatch(/^HTTP\/1\.1 401 /);
    expect(c.text()).not.toContain('stored');
    expect(s.complete).toBe(false); // the upstream never got the end of the body
    expect(s.answered).toBe(false);
    expect(s.bytes).toBeLessThan(14 * 1024);
    expect(s.closed).toBe(true);
  });

  it('on the HTTP/2 listener a request waiting for its head gets 401 at the revocation', async () => {
    const tok = await as.issueJwt({ sub: 'h2poller' });
    const session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
    try {
      const req = session.request({ ':method': 'GET', ':path': '/api/poll?h2', authorization: `Bearer ${tok}` });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => { body += d; });
      const status = new Promise<number>((r) => req.on('response', (h) => r(Number(h[':status']))));
      const ended = new Promise<void>((r) => { req.on('close', () => r()); req.on('error', () => r()); });
      await waitFor('the upstream to hold the h2 poll', () => seen.some((s) => s.url === '/api/poll?h2'), 10_000);
      expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
      const got = await Promise.race([status, sleep(10_000).then(() => 0)]);
      await Promise.race([ended, sleep(10_000)]);
      expect(got).toBe(401);
      expect(body).not.toContain('the answer after the wait');
      await waitFor('the upstream request to be cancelled', () => seen.find((x) => x.url === '/api/poll?h2')!.closed, 10_000).catch(() => { /* asserted next */ });
      expect(seen.find((x) => x.url === '/api/poll?h2')!.closed).toBe(true);
    } finally {
      session.destroy();
    }
  });
});
