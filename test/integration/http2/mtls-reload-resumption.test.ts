// A reload that leaves server.http2.tls's files as they are (a routes change, a policy version) keeps
// the HTTP/2 listener's TLS context: clients resume their TLS sessions across it and no open mTLS
// connection is judged again. Files that changed still swap it: a CA taken out of client_ca_file
// refuses a session it authenticated, resumed or not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { makePki, type ClientCert, type Pki } from '../../helpers/mtls-certs.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { bearer, call } from '../auth/tokens-helpers.js';

let echo: EchoUpstream;
let pki: Pki;
let proxy: ProxyProcess;
let bundle: string;

beforeAll(async () => {
  pki = makePki();
  echo = await startEchoUpstream();
  // two CAs trusted at start: the shop's, and one withdrawn in the last test (it signed "mallory")
  bundle = join(tempDir('portcullis-ca-bundle-'), 'clients.pem');
  writeFileSync(bundle, Buffer.concat([readFileSync(pki.caFile), readFileSync(join(dirname(pki.caFile), 'rogue-ca.pem'))]));
  const { cert, key } = selfSignedCert();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: bundle, client_certificates: 'required' } } },
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

interface Visit { status: number; resumed: boolean; ticket: Buffer | null }

/** One GET on a new h2 connection with `client`'s certificate, offering `ticket` for resumption: its status (0: refused), whether the TLS session was resumed, and the ticket the server gave. */
function visit(client: ClientCert, ticket: Buffer | null): Promise<Visit> {
  const port = http2PortOf(proxy.logs());
  return new Promise((resolve) => {
    let sock: tls.TLSSocket | null = null;
    let issued: Buffer | null = null;
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      createConnection: () => {
        sock = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['h2'], rejectUnauthorized: false, cert: client.cert, key: client.key, ...(ticket !== null ? { session: ticket } : {}) });
        sock.on('session', (t: Buffer) => { issued = t; });
        return sock;
      },
    });
    session.on('error', () => { /* a refused certificate: seen by the request (status 0) */ });
    void h2Request(session, { ':method': 'GET', ':path': '/a' }).then((r) => {
      const resumed = sock?.isSessionReused() === true;
      session.close();
      resolve({ status: r.status, resumed, ticket: issued });
    });
  });
}

const reload = () => call(`${proxy.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });

describe('a reload and the HTTP/2 listener\'s TLS sessions', () => {
  it('a reload that changes no TLS file keeps the context: a client resumes its session across it', async () => {
    const first = await visit(pki.good, null);
    expect(first).toMatchObject({ status: 200, resumed: false });
    expect(first.ticket).not.toBeNull();
    // the context is kept between reloads: resumption works at all
    const again = await visit(pki.good, first.ticket);
    expect(again).toMatchObject({ status: 200, resumed: true });
    const r = await reload();
    expect(r.status, r.text).toBe(200);
    // every reload used to install a new context (new ticket keys): each client's next connection a full handshake
    const after = await visit(pki.good, again.ticket ?? first.ticket);
    expect(after).toMatchObject({ status: 200, resumed: true });
  }, 60_000);

  it('a CA taken out of client_ca_file refuses its client\'s session ticket from before the reload', async () => {
    const before = await visit(pki.wrongCa, null);
    expect(before.status).toBe(200);
    expect(before.ticket).not.toBeNull();
    writeFileSync(bundle, readFileSync(pki.caFile));
    const r = await reload();
    expect(r.status, r.text).toBe(200);
    expect((await visit(pki.wrongCa, before.ticket)).status).toBe(0);
    expect(await visit(pki.good, null)).toMatchObject({ status: 200 });
  }, 60_000);
});
