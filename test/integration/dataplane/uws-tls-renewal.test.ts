// A server.tls certificate renewed under the same file names (cert-manager, certbot) on the uWS
// listener: served to new connections from the next reload (POST /reload, --watch, --workers 2),
// connections opened before keep working, a pair that does not load is refused and the running one kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';
import { bearer, call, metrics, sample } from '../auth/tokens-helpers.js';
import { http2PortOf } from '../../helpers/h2-client.js';

let echo: EchoUpstream;
const procs: ProxyProcess[] = [];

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await echo?.close();
});

const fingerprint = (pemFile: string): string => new X509Certificate(readFileSync(pemFile)).fingerprint256;

/** The certificate files the proxy reads, in a directory of their own (a renewal is copied over them). */
function certFiles(): { dir: string; cert: string; key: string } {
  const dir = tempDir('portcullis-uws-renew-');
  const first = selfSignedCert();
  const files = { dir, cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
  copyFileSync(first.cert, files.cert);
  copyFileSync(first.key, files.key);
  return files;
}

async function tlsProxy(files: { cert: string; key: string }, args: string[] = [], http2 = false): Promise<ProxyProcess> {
  const tlsFiles = { cert_file: files.cert, key_file: files.key };
  const server = { listen: { host: '127.0.0.1', port: 0 }, tls: tlsFiles, ...(http2 ? { http2: { listen: { host: '127.0.0.1', port: 0 }, tls: tlsFiles } } : {}) };
  const p = await startProxy(baseConfig(echo.url, { server }), { env: ADMIN_ENV, args, timeoutMs: 40_000 });
  procs.push(p);
  return p;
}

/**
 * The SHA-256 fingerprint of the certificate a new TLS connection (no SNI: a client by address) is
 * served. A connection the kernel queued on the replaced socket as it closed is reset: retried once, as a
 * client would (README: TLS on the listener; refused connections are never retried).
 */
function served(port: number, retry = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => { resolve(s.getPeerX509Certificate()!.fingerprint256); s.destroy(); });
    s.on('error', (err: NodeJS.ErrnoException) => { if (retry && err.code === 'ECONNRESET') served(port, false).then(resolve, reject); else reject(err); });
  });
}

/** The certificate each connection was served at its handshake (node drops it from a socket reused by a keep-alive agent). */
const handshakeCert = new WeakMap<object, string>();

/** GET / on `agent` (one keep-alive connection): status, whether the connection was reused, and the certificate its handshake was served. */
function get(port: number, agent: https.Agent): Promise<{ status: number; reused: boolean; cert: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', agent, rejectUnauthorized: false }, (res) => {
      const cert = handshakeCert.get(res.socket);
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket, cert }));
    });
    req.on('socket', (s) => { if (!handshakeCert.has(s)) s.once('secureConnect', () => handshakeCert.set(s, (s as tls.TLSSocket).getPeerX509Certificate()!.fingerprint256)); });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Ten connections opened back to back: the certificate each was served. Right after a reload's answer
 * all get the renewed one — the answer waits for the replaced listen socket's close (before, the
 * kernel could still hand one to the old socket, served the old certificate) — and none is reset
 * (only one queued on the old socket is), so none is retried.
 */
async function servedAfterAnswer(port: number): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) seen.push(await served(port, false));
  return seen;
}

const reload = (p: ProxyProcess) => call(`${p.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });

describe('server.tls renewed in place, one process', () => {
  it('a half renewal is refused (422, metric) and the old certificate kept; the whole one is served to new connections while an open one keeps working', async () => {
    const files = certFiles();
    const p = await tlsProxy(files);
    const first = fingerprint(files.cert);
    expect(await served(p.port)).toBe(first);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await get(p.port, agent)).toMatchObject({ status: 200, reused: false, cert: first });
      // the files as they were at start: a reload renews nothing (no second app bound, none kept)
      const unchanged = await reload(p);
      expect(unchanged.status, unchanged.text).toBe(200);
      expect(sample(await metrics(p, ADMIN_TOKEN), 'portcullis_listener_tls_renewals_total{result="applied"}') ?? 0).toBe(0);
      const renewed = selfSignedCert();
      // the new certificate, the old key (a renewal caught half-way): refused, the running certificate still served
      copyFileSync(renewed.cert, files.cert);
      const half = await reload(p);
      expect(half.status, half.text).toBe(422);
      expect(half.text).toContain('server.tls.key_file');
      expect(await served(p.port)).toBe(first);
      expect(sample(await metrics(p, ADMIN_TOKEN), 'portcullis_config_reloads_total{result="refused"}')).toBe(1);
      // the key written too: applied, new handshakes get the renewed certificate
      copyFileSync(renewed.key, files.key);
      const whole = await reload(p);
      expect(whole.status, whole.text).toBe(200);
      expect(JSON.parse(whole.text).restart_required).toEqual([]);
      expect(await servedAfterAnswer(p.port)).toEqual(Array(10).fill(fingerprint(renewed.cert)));
      // the connection opened before the renewal is still served, on its own handshake
      expect(await get(p.port, agent)).toMatchObject({ status: 200, reused: true, cert: first });
      expect(sample(await metrics(p, ADMIN_TOKEN), 'portcullis_listener_tls_renewals_total{result="applied"}')).toBe(1);
      // nothing renewed since: the next reload binds no second app either
      const again = await reload(p);
      expect(again.status, again.text).toBe(200);
      expect(sample(await metrics(p, ADMIN_TOKEN), 'portcullis_listener_tls_renewals_total{result="applied"}')).toBe(1);
      expect(await get(p.port, agent)).toMatchObject({ status: 200, reused: true, cert: first });
      // a file that is no certificate at all: refused, the renewed one kept
      writeFileSync(files.cert, 'not a certificate\n');
      const junk = await reload(p);
      expect(junk.status, junk.text).toBe(422);
      expect(junk.text).toContain('server.tls.cert_file');
      expect(await served(p.port)).toBe(fingerprint(renewed.cert));
    } finally { agent.destroy(); }
  }, 60_000);

  it('renewed five times: after each reload answer every new connection is served the renewed certificate', async () => {
    const files = certFiles();
    const p = await tlsProxy(files);
    const pairs = [selfSignedCert(), selfSignedCert()];
    for (let round = 0; round < 5; round++) {
      const pair = pairs[round % 2]!;
      copyFileSync(pair.cert, files.cert);
      copyFileSync(pair.key, files.key);
      const r = await reload(p);
      expect(r.status, r.text).toBe(200);
      expect(await servedAfterAnswer(p.port), `renewal ${round + 1}`).toEqual(Array(10).fill(fingerprint(pair.cert)));
    }
    expect(sample(await metrics(p, ADMIN_TOKEN), 'portcullis_listener_tls_renewals_total{result="applied"}')).toBe(5);
  }, 60_000);

  it('a second serve on the port still refuses to start (the port is shared only with the process itself)', async () => {
    const files = certFiles();
    const p = await tlsProxy(files);
    await expect(startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: p.port }, tls: { cert_file: files.cert, key_file: files.key } } }), { env: ADMIN_ENV, timeoutMs: 20_000 }).then((q) => { procs.push(q); return q; }))
      .rejects.toThrow(/server\.listen: cannot listen on .*another process holds the port/);
    expect(await served(p.port)).toBe(fingerprint(files.cert));
  }, 60_000);

  it('serve --watch: files rewritten by a renewal are served without a signal', async () => {
    const files = certFiles();
    const p = await tlsProxy(files, ['--watch']);
    const renewed = selfSignedCert();
    copyFileSync(renewed.key, files.key + '.new');
    copyFileSync(renewed.cert, files.cert + '.new');
    // certbot-like: both names replaced by rename
    renameSync(files.key + '.new', files.key);
    renameSync(files.cert + '.new', files.cert);
    // "config reloaded" is logged once the replaced listen socket is closed: every connection from then on gets the renewed certificate
    await waitFor('a reload applied', () => p.logs().some((l) => l.msg === 'config reloaded' && l.version === 2), 10_000, { everyMs: 100 });
    expect(await servedAfterAnswer(p.port)).toEqual(Array(10).fill(fingerprint(renewed.cert)));
  }, 60_000);
});

describe('server.tls renewed in place, --workers 2', () => {
  it('every worker serves the renewed certificate to new connections after one reload, on both listeners; an open connection keeps working', async () => {
    const files = certFiles();
    const p = await tlsProxy(files, ['--workers', '2'], true);
    const h2Port = http2PortOf(p.logs());
    const first = fingerprint(files.cert);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await get(p.port, agent)).toMatchObject({ status: 200, cert: first });
      const renewed = selfSignedCert();
      copyFileSync(renewed.cert, files.cert);
      copyFileSync(renewed.key, files.key);
      const r = await reload(p);
      expect(r.status, r.text).toBe(200);
      // new connections spread over both workers by the kernel (SO_REUSEPORT): none is served the old certificate
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add(await served(p.port));
      expect([...seen]).toEqual([fingerprint(renewed.cert)]);
      const seenH2 = new Set<string>();
      for (let i = 0; i < 30; i++) seenH2.add(await served(h2Port));
      expect([...seenH2], 'the HTTP/2 listener').toEqual([fingerprint(renewed.cert)]);
      expect(await get(p.port, agent)).toMatchObject({ status: 200, reused: true, cert: first });
      // the primary answers once every worker closed its replaced listen socket: renewed four more times,
      // the connections opened after each answer all get that renewal
      const pairs = [selfSignedCert(), renewed];
      for (let round = 0; round < 4; round++) {
        const pair = pairs[round % 2]!;
        copyFileSync(pair.cert, files.cert);
        copyFileSync(pair.key, files.key);
        const again = await reload(p);
        expect(again.status, again.text).toBe(200);
        expect(await servedAfterAnswer(p.port), `renewal ${round + 2}`).toEqual(Array(10).fill(fingerprint(pair.cert)));
      }
      expect(sample(await metrics(p, ADMIN_TOKEN), 'portcullis_listener_tls_renewals_total{result="applied"}')).toBe(10);
    } finally { agent.destroy(); }
  }, 90_000);
});
