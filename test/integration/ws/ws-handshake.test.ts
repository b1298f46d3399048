// RFC 6455 §4.2.1 upgrade validation, with raw sockets (a WebSocket client library would
// never send these): the pinned uWebSockets.js build routes every GET with a 24-character
// Sec-WebSocket-Key to the WebSocket handler whatever its Upgrade, Connection and version
// say, so the proxy checks them: 426 + `Sec-WebSocket-Version: 13` for a version other than
// 13, 400 for the rest, nothing reaches the upstream; `Upgrade: h2c` is never answered 101.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitReady } from './ws-fixtures.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

interface Head { status: number; headers: Record<string, string>; text: string }

/** Send `raw`, read up to the end of the response head (and a short body), then drop the connection. */
function rawHead(port: number, raw: string): Promise<Head> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(raw));
    let buf = '';
    const done = (): void => {
      const end = buf.indexOf('\r\n\r\n');
      const lines = buf.slice(0, end < 0 ? buf.length : end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) { const i = l.indexOf(':'); if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
      s.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0), headers, text: buf });
    };
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const cl = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
      if (cl === null || buf.length >= end + 4 + Number(cl[1])) done();
    });
    s.on('close', () => done());
    s.on('error', reject);
  });
}

function upgrade(path: string, lines: Record<string, string | null>, method = 'GET'): string {
  const base: Record<string, string | null> = { Host: 'proxy.test', Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13', ...lines };
  let out = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(base)) if (v !== null) out += `${k}: ${v}\r\n`;
  return out + '\r\n';
}

describe('WebSocket upgrade validation (RFC 6455 §4.2.1)', () => {
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    up = await startWsEchoUpstream();
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      upstreams: { ws: { targets: [up.url] } },
      routes: [
        { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', auth: 'none', websocket: true },
        { name: 'plain', match: { path: '/plain/*' }, upstream: 'ws', auth: 'none' },
      ],
      log: { level: 'info', access: true },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
  });

  /** The request is refused with `status` and never reaches the upstream. */
  async function refused(raw: string, status: number): Promise<Head> {
    const before = up.handshakes.length;
    const r = await rawHead(proxy.port, raw);
    expect(r.status, r.text).toBe(status);
    expect(up.handshakes.length, 'the upstream saw an upgrade').toBe(before);
    return r;
  }

  it('a valid handshake → 101 (also with a mixed-case Upgrade and Connection listing more tokens)', async () => {
    expect((await rawHead(proxy.port, upgrade('/chat/a', {}))).status).toBe(101);
    expect((await rawHead(proxy.port, upgrade('/chat/b', { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' }))).status).toBe(101);
  });

  for (const [name, version] of [['8', '8'], ['99', '99'], ['missing', null], ['13 twice in one line', '13, 13']] as const) {
    it(`Sec-WebSocket-Version ${name} → 426 with Sec-WebSocket-Version: 13`, async () => {
      const r = await refused(upgrade('/chat/v', { 'Sec-WebSocket-Version': version }), 426);
      expect(r.headers['sec-websocket-version']).toBe('13');
      expect(r.headers.upgrade).toBe('websocket');
      expect(r.text).toContain('PORTCULLIS_ERR_WEBSOCKET_VERSION');
    });
  }

  const bad: Array<[string, string]> = [
    ['without Connection', upgrade('/chat/x', { Connection: null })],
    ['with Connection: keep-alive only', upgrade('/chat/x', { Connection: 'keep-alive' })],
    ['without Upgrade', upgrade('/chat/x', { Upgrade: null })],
    ['with Upgrade: h2c', upgrade('/chat/x', { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings', 'HTTP2-Settings': 'AAMAAABkAARAAAAAAAIAAAAA' })],
    ['with a 24-character key that is not base64 of 16 bytes', upgrade('/chat/x', { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' })],
    ['with a short key', upgrade('/chat/x', { 'Sec-WebSocket-Key': 'c2hvcnQ=' })],
    ['without a key', upgrade('/chat/x', { 'Sec-WebSocket-Key': null })],
    ['as POST', upgrade('/chat/x', { 'Content-Length': '0' }, 'POST')],
  ];
  for (const [name, raw] of bad) {
    it(`an upgrade ${name} → 400, nothing forwarded`, async () => {
      const r = await refused(raw, 400);
      expect(r.text).toContain('PORTCULLIS_ERR_WEBSOCKET_HANDSHAKE');
    });
  }

  it('two Sec-WebSocket-Key headers → 400', async () => {
    const raw = upgrade('/chat/x', {}).replace('\r\n\r\n', `\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`);
    await refused(raw, 400);
  });

  it('Upgrade: h2c on an HTTP route is never answered 101 (the upgrade is ignored, the request forwarded plain)', async () => {
    const h2c = { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings', 'HTTP2-Settings': 'AAMAAABkAARAAAAAAAIAAAAA' };
    for (const raw of [upgrade('/plain/x', { ...h2c, 'Sec-WebSocket-Key': null, 'Sec-WebSocket-Version': null }), upgrade('/plain/x', h2c), upgrade('/plain/x', {})]) {
      const r = await rawHead(proxy.port, raw);
      expect(r.status, r.text).toBe(200);
      expect(r.text).toContain('"path":"/plain/x"');
    }
  });
});
