// Client-credentials egress never sends a token past its lifetime: a token endpoint whose
// answer arrives after the token's `expires_in` has run out (a slow network or AS) must not
// have that token forwarded — the request gets 503, the upstream sees no expired token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, expectUnavailable, startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';

const CC_SECRET = 'cc-secret-0b7e3c5a91d24f68';
let as: Recorder;
let upstream: Server;
let upstreamUrl: string;
let proxy: ProxyProcess;
/** Every egress token the upstream received, and whether its lifetime had already run out. */
const received: Array<{ token: string; expired: boolean }> = [];

beforeAll(async () => {
  // the token is issued when the request arrives, valid 1 s; the answer takes 1.5 s to come back
  as = await startRecorder((_req, body, res) => {
    const audience = new URLSearchParams(body).get('audience');
    const lifetimeS = audience === 'slow' ? 1 : 300;
    const token = `egress.${Date.now() + lifetimeS * 1000}`;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: lifetimeS }));
    }, audience === 'slow' ? 1_500 : 0);
  });
  upstream = createServer((req, res) => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    const until = Number(token.split('.')[1]);
    received.push({ token, expired: !(Date.now() < until) });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const cc = { issuer: 'https://as.test', token_endpoint: `${as.url}/token`, client_id: 'portcullis', client_secret_env: 'PT_CC_SECRET' };
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: {
      slow: { targets: [upstreamUrl], audience: 'slow', client_credentials: cc },
      fast: { targets: [upstreamUrl], audience: 'fast', client_credentials: cc },
    },
    routes: [
      { name: 'slow', match: { path: '/slow/*' }, upstream: 'slow', auth: 'none' },
      { name: 'fast', match: { path: '/fast/*' }, upstream: 'fast', auth: 'none' },
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_CC_SECRET: CC_SECRET } });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await as?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('client-credentials egress tokens are never sent expired', () => {
  it('control: a token answered in time is forwarded, within its lifetime', async () => {
    const r = await call(`${proxy.url}/fast/1`);
    expect(r.status, r.text).toBe(200);
    expect(received.length).toBe(1);
    expect(received[0]!.expired).toBe(false);
  });

  it('a token whose lifetime ran out before the answer arrived → 503, the upstream never sees it', async () => {
    received.length = 0;
    const answers = await Promise.all([call(`${proxy.url}/slow/1`), call(`${proxy.url}/slow/2`)]);
    for (const r of answers) expectUnavailable(r);
    expect(received, `forwarded past the token's lifetime: ${JSON.stringify(received)}`).toEqual([]);
  });
});
