// server.http2.max_connections: a client opening connections past the cap has them closed at accept,
// counted (portcullis_http2_connections_refused_total) and logged at most once a second; sessions
// already open keep being served, and a slot freed by a close is taken by the next connection —
// on h2c and over TLS alike (the cap is on the TCP accept, before the TLS handshake).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { ClientHttp2Session } from 'node:http2';
import { sourceValue } from '../../../node/metrics/index.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Fetch, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { admin } from '../ws/ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const CAP = 8;
const FLOOD = 60;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let origin: string;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, max_connections: CAP } },
  }), { env: ADMIN_ENV });
  origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** Connections `probe` kept open. */
const kept: Socket[] = [];
afterAll(() => { for (const s of kept) s.destroy(); });

/**
 * A raw TCP connection to the listener: resolves true when the server closed it without a byte,
 * false when the server's SETTINGS came (accepted; then closed, or kept open with `keep`).
 */
function probe(port: number, keep = false): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => { /* a reset is a close */ });
    s.once('data', () => { if (keep) kept.push(s); else s.destroy(); resolve(false); });
    s.once('close', () => resolve(true));
    s.on('connect', () => s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00'));
  });
}

async function metric(key: string): Promise<number> {
  const m = await admin(proxy, 'GET', '/metrics');
  return sourceValue(String(m.body), key);
}

describe('the HTTP/2 listener at server.http2.max_connections', () => {
  it(`holds ${CAP} sessions, closes the rest at accept, keeps serving the open ones, and frees a slot on close`, async () => {
    const port = Number(new URL(origin).port);
    const held: ClientHttp2Session[] = [];
    try {
      for (let i = 0; i < CAP; i++) held.push(await h2Connect(origin));
      for (const s of held) expect((await h2Request(s, { ':method': 'GET', ':path': '/x' })).status).toBe(200);
      const closed = await Promise.all(Array.from({ length: FLOOD }, () => probe(port)));
      expect(closed.filter((c) => c).length).toBe(FLOOD);
      expect(await metric('http2.connections_refused_total')).toBe(FLOOD);
      // rate-limited: a burst is a line or two, not one per connection
      // the line reaches the test asynchronously, after the metric: waited for, then counted
      const refusedLines = (): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.msg === 'http2 connections refused at server.http2.max_connections');
      await waitFor('the refusal logged', () => refusedLines().length >= 1, 5_000, { detail: () => proxy.output().slice(-2000) });
      const lines = refusedLines();
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThan(5);
      // the sessions that hold a slot are still served
      expect((await h2Request(held[0]!, { ':method': 'GET', ':path': '/x' })).status).toBe(200);
      // a closed session frees its slot (counted on close): the next connection is served
      await new Promise<void>((resolve) => held.pop()!.close(resolve));
      await waitFor('a slot was freed', async () => (await h2Fetch(origin, { ':method': 'GET', ':path': '/x' }).then((r) => r.status === 200, () => false)), 10_000);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});

describe('the default server.http2.max_connections', () => {
  it('is half the open-files limit the process starts with (prlimit --nofile=256: 128 connections)', async () => {
    const p = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    }), { env: ADMIN_ENV, wrap: ['prlimit', '--nofile=256:256', '--'] });
    try {
      const port = http2PortOf(p.logs());
      const results: boolean[] = [];
      // 128 + the process's own ~60 descriptors stay under 256 (at the limit itself node would close
      // connections uncounted); sequential: each connection is accepted (or refused) before the next, so the count is exact
      for (let i = 0; i < 134; i++) results.push(await probe(port, true));
      expect(results.filter((refused) => refused).length).toBe(6);
      const m = await admin(p, 'GET', '/metrics');
      expect(sourceValue(String(m.body), 'http2.connections_refused_total')).toBe(6);
    } finally {
      await p.stop();
    }
  });
});


describe('server.http2.max_connections under --workers', () => {
  it('a worker at its cap closes the new connection (not handed back to the primary and round again)', async () => {
    const p = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, max_connections: 4 } },
    }), { env: ADMIN_ENV, args: ['--workers', '1'], timeoutMs: 40_000 }); // primary + worker: a bound, not a speed
    try {
      const port = http2PortOf(p.logs());
      const results: boolean[] = [];
      for (let i = 0; i < 10; i++) results.push(await probe(port, true));
      expect(results.filter((refused) => refused).length).toBe(6);
    } finally {
      await p.stop();
    }
  });
});

/** A TLS connection offering h2: the socket once its handshake completed, or null when the server closed it before. */
function tlsOpen(port: number): Promise<TLSSocket | null> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    s.on('error', () => { /* a reset before the handshake is a close */ });
    s.once('secureConnect', () => resolve(s));
    s.once('close', () => resolve(null));
  });
}

describe('server.http2.max_connections over TLS', () => {
  it('closes the connection past the cap before its handshake, counts it, and serves a new one once a slot is freed', async () => {
    const { cert, key } = selfSignedCert();
    const p = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key }, max_connections: 2 } },
    }), { env: ADMIN_ENV });
    const idle: TLSSocket[] = [];
    try {
      const port = http2PortOf(p.logs());
      // two connections through their handshake, then silent: each holds a slot
      for (let i = 0; i < 2; i++) {
        const s = await tlsOpen(port);
        expect(s?.alpnProtocol).toBe('h2');
        idle.push(s!);
      }
      expect(await tlsOpen(port)).toBeNull();
      const m = await admin(p, 'GET', '/metrics');
      expect(sourceValue(String(m.body), 'http2.connections_refused_total')).toBe(1);
      // one of them closes: its slot serves the next client (counted on the server's close, so polled)
      idle.shift()!.destroy();
      await waitFor('a slot was freed', async () => (await h2Fetch(`https://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/x' }).then((r) => r.status === 200, () => false)), 10_000);
    } finally {
      for (const s of idle) s.destroy();
      await p.stop();
    }
  });
});
