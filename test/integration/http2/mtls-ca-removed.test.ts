// A CA taken out of server.http2.tls.client_ca_file by a reload: connections already authenticated by a
// certificate it issued are closed at the reload (they would otherwise be served for as long as the
// client kept them open), HTTP/2 sessions and HTTP/1.1 keep-alive connections alike, connections of
// the CAs still in the bundle go on, and new handshakes use the new bundle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { makePki, type Pki } from '../../helpers/mtls-certs.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';
import { bearer, call, metrics, sample, waitReady } from '../auth/tokens-helpers.js';

let echo: EchoUpstream;
let pki: Pki;
let proxy: ProxyProcess;
let bundle: string;

beforeAll(async () => {
  pki = makePki();
  echo = await startEchoUpstream();
  // two CAs trusted at start: the shop's, and one about to be withdrawn (it signed "mallory")
  bundle = join(tempDir('portcullis-ca-bundle-'), 'clients.pem');
  writeFileSync(bundle, Buffer.concat([readFileSync(pki.caFile), readFileSync(join(dirname(pki.caFile), 'rogue-ca.pem'))]));
  const { cert, key } = selfSignedCert();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: bundle, client_certificates: 'required' } } },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

describe('a client CA removed from the bundle by a reload', () => {
  it('closes the open connections its certificates authenticated, keeps the others, refuses its new handshakes', async () => {
    const origin = `https://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const kept = await h2Connect(origin, { cert: pki.good.cert, key: pki.good.key });
    const withdrawn = await h2Connect(origin, { cert: pki.wrongCa.cert, key: pki.wrongCa.key });
    let withdrawnClosed = false;
    withdrawn.on('close', () => { withdrawnClosed = true; });
    try {
      expect((await h2Request(kept, { ':method': 'GET', ':path': '/a' })).status).toBe(200);
      expect((await h2Request(withdrawn, { ':method': 'GET', ':path': '/a' })).status).toBe(200);
      writeFileSync(bundle, readFileSync(pki.caFile));
      const r = await call(`${proxy.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });
      expect(r.status, r.text).toBe(200);
      await waitFor('the withdrawn CA\'s connection closed', () => withdrawnClosed, 5_000, { everyMs: 50 });
      expect((await h2Request(kept, { ':method': 'GET', ':path': '/b' })).status).toBe(200);
      // a new handshake with the withdrawn CA's certificate fails (status 0: reset, or the connect itself)
      const again = await h2Connect(origin, { cert: pki.wrongCa.cert, key: pki.wrongCa.key }).then((s) => h2Request(s, { ':method': 'GET', ':path': '/c' }).finally(() => s.close()), () => ({ status: 0 }));
      expect(again.status).toBe(0);
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_http2_client_certificates_refused_total')).toBeGreaterThanOrEqual(1);
    } finally { kept.close(); withdrawn.close(); }
  }, 60_000);

  it('closes an HTTP/1.1 keep-alive connection its certificate authenticated (same port, no ALPN), as an HTTP/2 session', async () => {
    writeFileSync(bundle, Buffer.concat([readFileSync(pki.caFile), readFileSync(join(dirname(pki.caFile), 'rogue-ca.pem'))]));
    const back = await call(`${proxy.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });
    expect(back.status, back.text).toBe(200);
    const port = http2PortOf(proxy.logs());
    const withdrawn = new https.Agent({ keepAlive: true, maxSockets: 1, cert: pki.wrongCa.cert, key: pki.wrongCa.key });
    const kept = new https.Agent({ keepAlive: true, maxSockets: 1, cert: pki.good.cert, key: pki.good.key });
    let closed = false;
    try {
      expect(await get(port, withdrawn, '/a')).toEqual({ status: 200, reused: false });
      expect(await get(port, kept, '/a')).toEqual({ status: 200, reused: false });
      const sock = [...Object.values(withdrawn.freeSockets)].flat()[0]!;
      sock.once('close', () => { closed = true; });
      writeFileSync(bundle, readFileSync(pki.caFile));
      const r = await call(`${proxy.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });
      expect(r.status, r.text).toBe(200);
      await waitFor('the withdrawn CA\'s HTTP/1.1 connection closed', () => closed, 5_000, { everyMs: 50 });
      expect(await get(port, kept, '/b')).toEqual({ status: 200, reused: true });
    } finally { withdrawn.destroy(); kept.destroy(); }
  }, 60_000);
});

/** GET `path` over `agent` (one keep-alive HTTP/1.1 connection): status and whether the connection was reused. */
function get(port: number, agent: https.Agent, path: string): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, agent, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}
