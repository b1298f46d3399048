// Host-specific routes read the Host header as virtual-host routers do (issue 8, item 2):
// lower case, one trailing dot removed, port apart; the normalised value is what the
// upstream gets; a Host that is not a valid host[:port] is refused with 400.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';

let admin: EchoUpstream;
let internal: EchoUpstream;
let open: EchoUpstream;
let proxy: ProxyProcess;

interface Echo { upstream: string; url: string; headers: Record<string, string | undefined> }

beforeAll(async () => {
  [admin, internal, open] = await Promise.all([
    startEchoUpstream({ name: 'admin' }), startEchoUpstream({ name: 'internal' }), startEchoUpstream({ name: 'open' }),
  ]);
  proxy = await startProxy(baseConfig(open.url, {
    upstreams: {
      admin: { targets: [admin.url], host: 'preserve' },
      internal: { targets: [internal.url], host: 'preserve' },
      open: { targets: [open.url], host: 'preserve' },
    },
    routes: [
      // auth: none keeps the test about routing: which upstream a Host reaches
      { name: 'admin', match: { path: '/*', host: 'admin.example' }, upstream: 'admin', auth: 'none' },
      { name: 'internal', match: { path: '/*', host: '*.internal.example' }, upstream: 'internal', auth: 'none' },
      { name: 'open', match: { path: '/*' }, upstream: 'open', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([admin?.close(), internal?.close(), open?.close()]);
});

/** GET /x with exactly this Host line (raw: a client library would normalise it). */
async function withHost(host: string): Promise<{ status: number; echo: Echo | null; body: string }> {
  const r = await rawRequest(proxy.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  const body = r.body.toString();
  return { status: r.status, echo: r.status === 200 ? JSON.parse(body) as Echo : null, body };
}

describe('Host normalisation for routing', () => {
  it.each([
    ['admin.example', 'admin', 'admin.example'],
    ['admin.example.', 'admin', 'admin.example'],
    ['ADMIN.Example.', 'admin', 'admin.example'],
    ['admin.example.:8080', 'admin', 'admin.example:8080'],
    ['Admin.Example:8080', 'admin', 'admin.example:8080'],
    ['api.internal.example.', 'internal', 'api.internal.example'],
    ['API.Internal.Example.:443', 'internal', 'api.internal.example:443'],
    ['other.example', 'open', 'other.example'],
    ['127.0.0.1', 'open', '127.0.0.1'],
    ['[::1]:8080', 'open', '[::1]:8080'],
    ['[::FFFF:7F00:1]', 'open', '[::ffff:7f00:1]'],
  ])('Host: %s → upstream %s, forwarded as %s', async (host, upstream, forwarded) => {
    const r = await withHost(host);
    expect(r.status, r.body).toBe(200);
    expect(r.echo!.upstream).toBe(upstream);
    expect(r.echo!.headers.host).toBe(forwarded);
    expect(r.echo!.headers['x-forwarded-host']).toBe(forwarded);
  });

  it.each([
    ['admin.example..', 'two trailing dots'],
    ['.admin.example', 'leading dot'],
    ['admin..example', 'empty label'],
    ['.', 'only a dot'],
    ['admin.example:', 'empty port'],
    ['admin.example:99999', 'port out of range'],
    ['admin.example:80a', 'port not a number'],
    ['admin.example:80:80', 'two ports'],
    ['user@admin.example', 'userinfo'],
    ['admin.example/x', 'a path'],
    ['admin.example%2e', 'percent-encoding'],
    ['0x7f.0.0.1', 'an IPv4 address in hex (URL parsers read 127.0.0.1)'],
    ['2130706433', 'an IPv4 address as one number'],
    ['admin example', 'space'],
    ['[::1', 'unclosed IP literal'],
    ['[::1]x', 'junk after an IP literal'],
    ['[fe80::1%25eth0]', 'zone id'],
    [`${'a'.repeat(64)}.example`, 'label over 63 characters'],
    [`${'abcdefghi.'.repeat(26)}example`, 'name over 253 characters'],
  ])('Host: %s → 400 (%s), nothing forwarded', async (host) => {
    const before = admin.requests + internal.requests + open.requests;
    const r = await withHost(host);
    expect(r.status, r.body).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'PORTCULLIS_ERR_REQUEST_MALFORMED' });
    expect(admin.requests + internal.requests + open.requests).toBe(before);
  });
});
