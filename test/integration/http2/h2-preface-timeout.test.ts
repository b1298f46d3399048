// server.http2.preface_timeout_ms: a connection that has not shown it speaks HTTP/2 in time — no
// bytes, half a preface, or (TLS) no finished handshake — is closed and frees its max_connections
// slot. Before, such connections held their slots for idle_timeout_ms (2 min; TLS: node's 120 s
// handshake timeout), so max_connections silent sockets shut every other client out that long.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type Socket } from 'node:net';
import { sourceValue } from '../../../node/metrics/index.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Fetch, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { PREFACE } from '../../helpers/h2-frames.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { admin } from '../ws/ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const CAP = 4;
const PREFACE_MS = 1_000;
let echo: EchoUpstream;
const sockets: Socket[] = [];

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await echo?.close();
});

/** A TCP connection that sends `bytes` (maybe nothing) and then stays silent; `closed` turns true when the server closes it. */
function silent(port: number, bytes: Buffer | null): { socket: Socket; closed: () => boolean } {
  let closed = false;
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => { /* a reset is a close */ });
  socket.on('close', () => { closed = true; });
  socket.resume(); // read: a paused socket never sees the server's FIN
  if (bytes !== null) socket.on('connect', () => socket.write(bytes));
  return { socket, closed: () => closed };
}

/** True when the listener closes a new connection at accept (every max_connections slot taken); false when it is still open after 1.5 s. */
function refusedAtAccept(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => { /* a reset is a close */ });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 1_500);
    s.once('close', () => { clearTimeout(t); resolve(true); });
  });
}

async function metric(p: ProxyProcess, key: string): Promise<number> {
  return sourceValue(String((await admin(p, 'GET', '/metrics')).body), key);
}

async function withProxy(http2: Record<string, unknown>, run: (p: ProxyProcess, port: number) => Promise<void>): Promise<void> {
  const p = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, max_connections: CAP, preface_timeout_ms: PREFACE_MS, ...http2 } },
  }), { env: ADMIN_ENV });
  try { await run(p, http2PortOf(p.logs())); } finally { await p.stop(); }
}

describe('server.http2.preface_timeout_ms', () => {
  it(`h2c: ${CAP} connections that send nothing (or half a preface) are closed and other clients get in again; a session that sent its preface stays`, async () => {
    await withProxy({}, async (p, port) => {
      const origin = `http://127.0.0.1:${port}`;
      // a real client first: it sent its preface and SETTINGS, then is quiet past the preface deadline
      const real = await h2Connect(origin);
      try {
        const idle = [silent(port, null), silent(port, null), silent(port, PREFACE.subarray(0, 10))];
        // all CAP slots are taken: a newcomer is refused at accept
        await waitFor('the cap is reached', () => refusedAtAccept(port), 5_000);
        // the silent ones are closed (idle_timeout_ms is 2 min: before, they stayed), and the slots serve others
        await waitFor('the silent connections are closed', () => idle.every((c) => c.closed()), 15_000);
        await waitFor('a newcomer is served', async () => (await h2Fetch(origin, { ':path': '/x' }).then((r) => r.status === 200, () => false)), 10_000);
        // the session that spoke HTTP/2 was not closed by the deadline
        expect(real.closed || real.destroyed).toBe(false);
        expect((await h2Request(real, { ':method': 'GET', ':path': '/y' })).status).toBe(200);
        expect(await metric(p, 'http2.sessions_closed_preface_timeout_total')).toBe(3);
      } finally { real.destroy(); }
    });
  });

  it('TLS: a connection that never sends its ClientHello is closed and counted; the slot serves a client again', async () => {
    const { cert, key } = selfSignedCert();
    await withProxy({ tls: { cert_file: cert, key_file: key } }, async (p, port) => {
      const origin = `https://127.0.0.1:${port}`;
      const idle = Array.from({ length: CAP }, () => silent(port, null));
      await waitFor('the cap is reached', () => refusedAtAccept(port), 5_000);
      await waitFor('the silent connections are closed', () => idle.every((c) => c.closed()), 15_000);
      await waitFor('a newcomer is served', async () => (await h2Fetch(origin, { ':path': '/x' }).then((r) => r.status === 200, () => false)), 10_000);
      expect(await metric(p, 'http2.sessions_closed_tls_handshake_timeout_total')).toBe(CAP);
    });
  });
});
