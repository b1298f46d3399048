// `server.limits.max_header_bytes` changed by a reload applies to HTTP/2 as it does to HTTP/1.1:
// sessions opened after the reload advertise the new SETTINGS_MAX_HEADER_LIST_SIZE, so a header block
// the new limit allows is served there (sessions already open keep the size they announced; a request
// over the new limit is 431 on any session). Before, the HTTP/2 listener kept the size it started with:
// raising the limit let HTTP/1.1 clients send larger headers while HTTP/2 ones were still reset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import http2 from 'node:http2';
import { h2Request, http2PortOf, type H2Reply } from '../../helpers/h2-client.js';
import { ADMIN_ENV, baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let origin: string;

const config = (maxHeaderBytes: number): Record<string, unknown> => baseConfig(echo.url, {
  server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, limits: { max_header_bytes: maxHeaderBytes } },
  routes: [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }],
});

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(config(4096), { env: ADMIN_ENV });
  origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** ~10 KiB of header lines: over a 4 KiB limit, within a 32 KiB one. */
const BIG = { 'x-big-a': 'a'.repeat(5000), 'x-big-b': 'b'.repeat(5000) };
/**
 * One request on a new session once the proxy's SETTINGS arrived: node:http2 acknowledges them on
 * receipt, so the request follows the ACK and is held to the advertised SETTINGS_MAX_HEADER_LIST_SIZE.
 */
async function h2Fetch(headers: Record<string, string>): Promise<H2Reply> {
  const s = http2.connect(origin);
  s.on('error', () => { /* seen by the request */ });
  try {
    const settings = await new Promise<http2.Settings>((resolve) => s.once('remoteSettings', resolve));
    expect(settings.maxHeaderListSize, 'the proxy advertises a header list size').toBeLessThan(1 << 20);
    return await h2Request(s, { ':method': 'GET', ...headers });
  } finally { s.close(); }
}
const h2Big = (): Promise<H2Reply> => h2Fetch({ ':path': '/public/big', ...BIG });
const h1Big = async (): Promise<number> => (await rawRequest(proxy.port, `GET /public/big HTTP/1.1\r\nHost: a\r\nX-Big-A: ${BIG['x-big-a']}\r\nX-Big-B: ${BIG['x-big-b']}\r\nConnection: close\r\n\r\n`)).status;

describe('max_header_bytes raised by a reload', () => {
  it('applies to new HTTP/2 sessions as it does to HTTP/1.1', async () => {
    const before = echo.requests;
    expect((await h2Big()).status, 'over the start limit: not served').not.toBe(200);
    expect(await h1Big()).toBe(431);
    expect(echo.requests).toBe(before);

    await reloadWith(proxy, config(32 * 1024));
    expect(await h1Big()).toBe(200);
    const r = await h2Big();
    expect(r.status, `rst ${r.rstCode} ${r.text}`).toBe(200);
    expect((r.json as { headers: Record<string, string> }).headers['x-big-a']).toBe(BIG['x-big-a']);
  });

  it('lowered again: the larger block is 431 on a new HTTP/2 session, nothing forwarded', async () => {
    await reloadWith(proxy, config(4096));
    const before = echo.requests;
    expect((await h2Big()).status).not.toBe(200);
    expect(await h1Big()).toBe(431);
    expect(echo.requests).toBe(before);
    const small = await h2Fetch({ ':path': '/public/small', 'x-small': 'ok' });
    expect(small.status).toBe(200);
  });
});
