// An identity-provider event (back-channel logout) in flight when a stop's drain begins is answered
// before the drain ends, as a proxied request is: before, the drain did not count it, ended at once
// and closed the connection under the authorization server's POST (no answer to retry on).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { asIssuer, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/oidc/backchannel-logout';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { drain_ms: 20_000 } },
    issuers: { demo: asIssuer(as, { backchannel_logout: { path: PATH, client_id: 'portcullis-web' } }) },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop('SIGKILL');
  await Promise.all([echo?.close(), as?.close()]);
});

/** Everything `s` sends until it closes. */
function readAll(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.once('close', () => resolve(text));
  });
}

describe('SIGTERM while a back-channel logout is in flight', () => {
  it('the logout is answered, then the process exits 0', async () => {
    const body = 'logout_token=not-a-jwt';
    const s = connect(proxy.port, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.on('error', () => {}); // a reset, before the fix: the assertion below says it
    const answer = readAll(s);
    // the head and the first byte of the body: the proxy waits for the rest
    s.write(`POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 1)}`);
    await new Promise((r) => setTimeout(r, 100));
    proxy.proc.kill('SIGTERM');
    // the drain has begun once the port refuses new connections
    await waitFor('new connections refused', async () => {
      try { await (await request(`${proxy.url}/x`, { reset: true })).body.dump(); return false; } catch (err) { return (err as { code?: string }).code === 'ECONNREFUSED'; }
    }, 10_000);
    if (s.writable) s.write(body.slice(1));
    const text = await answer;
    expect(text.split('\r\n')[0], text).toBe('HTTP/1.1 400 Bad Request'); // not a JWT: answered, not cut
    expect(await proxy.exited).toBe(0);
  });
});
