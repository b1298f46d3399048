// Request bytes the proxy cannot forward unchanged: a header value or query string with a byte
// outside visible ASCII (HTAB and SP allowed in values) is refused with 400 before routing —
// never sent on, never rewritten, never blamed on the upstream — while ASCII values reach the
// upstream byte for byte. Raw sockets on both sides: a client library would normalise the bytes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';

let upstream: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => { req.resume(); res.end('ok'); });
  proxy = await startProxy(baseConfig(upstream.url), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

/** A GET with one extra header line whose value is the given raw bytes. */
function withHeader(value: Buffer, target = '/x'): Buffer {
  return Buffer.concat([Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Probe: `, 'latin1'), value, Buffer.from('\r\n\r\n', 'latin1')]);
}

async function upstreamErrors(): Promise<number> {
  const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await r.body.text();
  return text.split('\n').filter((l) => l.startsWith('portcullis_upstream_errors_total{')).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('header values outside visible ASCII are refused with 400, never forwarded', () => {
  it.each([
    ['UTF-8 é (0xC3 0xA9) inside the value', '61c3a962'],
    ['UTF-8 Ā, above U+00FF (0xC4 0x80)', '61c48062'],
    ['UTF-8 € (0xE2 0x82 0xAC)', '61e282ac62'],
    ['a lone 0x80 byte', '618062'],
    ['a lone 0xFF byte', '61ff62'],
    ['DEL (0x7F)', '617f62'],
  ])('%s → 400 REQUEST_MALFORMED naming the header; the upstream is never contacted', async (_name, hex) => {
    const seenBefore = upstream.seen.length;
    const errorsBefore = await upstreamErrors();
    const r = await rawRequest(proxy.port, withHeader(Buffer.from(hex, 'hex')));
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body.toString()) as Record<string, string>;
    expect(body.code).toBe('PORTCULLIS_ERR_REQUEST_MALFORMED');
    expect(body.message).toContain('x-probe');
    expect(upstream.seen.length).toBe(seenBefore);
    expect(await upstreamErrors()).toBe(errorsBefore); // not the upstream's fault
  });

  it('a raw non-ASCII byte or DEL in the query → 400, nothing forwarded', async () => {
    const seenBefore = upstream.seen.length;
    for (const q of ['q=caf\xc3\xa9', 'q=\x80', 'q=a\x7fb']) {
      const r = await rawRequest(proxy.port, Buffer.from(`GET /x?${q} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1'));
      expect(r.status, JSON.stringify(q)).toBe(400);
      expect((JSON.parse(r.body.toString()) as Record<string, string>).code).toBe('PORTCULLIS_ERR_REQUEST_MALFORMED');
    }
    expect(upstream.seen.length).toBe(seenBefore);
  });

  it('visible ASCII with inner SP and HTAB reaches the upstream byte for byte; percent-encoded UTF-8 in the query too', async () => {
    let ascii = '';
    for (let c = 0x21; c <= 0x7e; c++) ascii += String.fromCharCode(c);
    const value = `a b\tc ${ascii}`;
    const r = await rawRequest(proxy.port, withHeader(Buffer.from(value, 'latin1'), '/x?q=caf%C3%A9'));
    expect(r.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    const i = seen.rawHeaders.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === 'x-probe');
    // node:http hands header values over as latin1: one char per byte received
    expect(Buffer.from(seen.rawHeaders[i + 1]!, 'latin1')).toEqual(Buffer.from(value, 'latin1'));
    expect(seen.url).toBe('/x?q=caf%C3%A9');
  });
});
