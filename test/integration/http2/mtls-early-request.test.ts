// A request sent in the same flight as the TLS 1.3 handshake, on a connection whose client
// certificate does not verify (another CA, expired): the connection is refused, and the request
// must never reach the upstream — with `client_certificates: required` (the promise: only verified
// clients get in) and `optional` (such a certificate is never read as "none"). node:http2 and
// node:http start reading the connection before the proxy's own end-of-handshake check runs.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect } from 'node:tls';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { makePki, type ClientCert, type Pki } from '../../helpers/mtls-certs.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';

let upstream: Recorder;
let pki: Pki;
const proxies: Partial<Record<'optional' | 'required', ProxyProcess>> = {};

beforeAll(async () => {
  pki = makePki();
  upstream = await startRecorder((_req, _body, res) => { res.writeHead(200).end('ok'); });
  for (const mode of ['optional', 'required'] as const) {
    const { cert, key } = selfSignedCert();
    proxies[mode] = await startProxy(baseConfig(upstream.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: pki.caFile, client_certificates: mode } } },
      routes: [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }],
      verifier: { pool_size: 1 },
    }), { env: { ...ADMIN_ENV } });
    await waitReady(proxies[mode]!);
  }
});

afterAll(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.stop()));
  await upstream?.close();
});

/** HTTP/1.1 over TLS 1.3 with `cert`, the GET written the moment the client's handshake is done. What came back. */
function h1Early(p: ProxyProcess, cert: ClientCert, path: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: http2PortOf(p.logs()), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], minVersion: 'TLSv1.3', cert: cert.cert, key: cert.key });
    let answer = '';
    const timer = setTimeout(() => s.destroy(), 3_000);
    s.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
    s.on('error', () => { /* refused: the close says it */ });
    s.once('secureConnect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    s.on('close', () => { clearTimeout(timer); resolve(answer); });
  });
}

/** HTTP/2 over TLS 1.3 with `cert`, one GET as soon as the session is up; its status (0: none). */
async function h2Early(p: ProxyProcess, cert: ClientCert, path: string): Promise<number> {
  try {
    const s = await h2Connect(`https://127.0.0.1:${http2PortOf(p.logs())}`, { cert: cert.cert, key: cert.key });
    try { return (await h2Request(s, { ':method': 'GET', ':path': path })).status; } finally { s.close(); }
  } catch {
    return 0;
  }
}

describe('a request racing the refusal of an unverifiable client certificate', () => {
  it.each(['required', 'optional'] as const)('never reaches the upstream (%s): another CA\'s or an expired certificate, HTTP/1.1 and HTTP/2', async (mode) => {
    const p = proxies[mode]!;
    const answers: string[] = [];
    for (let i = 0; i < 12; i++) {
      for (const c of [pki.wrongCa, pki.expired]) {
        answers.push(await h1Early(p, c, `/public/${mode}-h1-${i}`));
        answers.push(String(await h2Early(p, c, `/public/${mode}-h2-${i}`)));
      }
    }
    const reached = upstream.hits.filter((h) => h.url.startsWith(`/public/${mode}-`)).map((h) => h.url);
    expect(reached).toEqual([]);
    expect(answers.filter((a) => a !== '' && a !== '0')).toEqual([]);
    // refused quietly: no request handler fails on the closed connection (an error line with a stack per attempt before)
    expect(p.logs().filter((l) => Number(l.level) >= 50).map((l) => l.msg)).toEqual([]);
    // a verified client is still served
    expect(await h2Early(p, pki.good, `/public/${mode}-good`)).toBe(200);
  });
});
