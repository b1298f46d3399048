// Client certificates with hostile names on the mTLS listener, from a CA the proxy trusts: a subject
// outside Latin-1 (CJK, emoji), control characters, escaped separators. The certificate's identity
// goes upstream as X-Forwarded-Client-Cert: every such client is answered (never a 5xx for its own
// name) and the header the upstream reads is one line that names no other identity.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf, type H2Reply } from '../../helpers/h2-client.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';

let upstream: Recorder;
let proxy: ProxyProcess;
let dir: string;

const openssl = (args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }); };

/** A client certificate of the trusted CA with subject `subj` (openssl -subj syntax, UTF-8). */
function issue(name: string, subj: string): { cert: Buffer; key: Buffer } {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-utf8', '-subj', subj, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  return { cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) };
}

beforeAll(async () => {
  dir = tempDir('portcullis-mtls-names-');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=client-ca', '-days', '2', '-keyout', 'ca.key', '-out', 'ca.pem']);
  upstream = await startRecorder((_req, _body, res) => { res.writeHead(200).end('ok'); });
  const { cert, key } = selfSignedCert();
  proxy = await startProxy(baseConfig(upstream.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key, client_ca_file: join(dir, 'ca.pem'), client_certificates: 'required' } } },
    routes: [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

async function get(c: { cert: Buffer; key: Buffer }, path: string): Promise<H2Reply> {
  const s = await h2Connect(`https://127.0.0.1:${http2PortOf(proxy.logs())}`, c);
  try { return await h2Request(s, { ':method': 'GET', ':path': path }); } finally { s.close(); }
}

/** The Subject of an XFCC value, unquoted and its RFC 4514 hex pairs decoded as UTF-8. */
function subjectOf(xfcc: string): string {
  const m = /;Subject="((?:[^"\\]|\\.)*)"/.exec(xfcc);
  if (m === null) return `(no Subject in ${xfcc})`;
  const unquoted = m[1]!.replace(/\\(.)/g, '$1');
  return Buffer.from(unquoted.replace(/\\([0-9A-F]{2})/g, (_h, x: string) => String.fromCharCode(parseInt(x, 16))), 'latin1').toString('utf8');
}

describe('X-Forwarded-Client-Cert for hostile subject names', () => {
  it.each([
    ['cjk', '/CN=注文/O=Shop', 'CN=注文,O=Shop'],
    ['emoji', '/CN=orders-🔑/O=Shop', 'CN=orders-🔑,O=Shop'],
    ['latin1', '/CN=ördérs/O=Shop', 'CN=ördérs,O=Shop'],
  ])('a subject outside ASCII (%s) is served; the upstream reads it back from one ASCII line', async (name, subj, expected) => {
    const r = await get(issue(name, subj), `/public/${name}`);
    expect(r.status, r.text).toBe(200);
    const hit = upstream.hits.find((h) => h.url === `/public/${name}`);
    const xfcc = String(hit?.headers['x-forwarded-client-cert']);
    expect(xfcc).toMatch(/^[\x20-\x7e]+$/);
    expect(subjectOf(xfcc)).toBe(expected);
  });

  it.each([
    ['newline', '/CN=a\nO=admin/O=Shop'],
    ['crlf', '/CN=a\r\nX-Evil: 1/O=Shop'],
    ['comma', '/CN=a\\, O=admin/O=Shop'],
    ['quote', '/CN=a"; Hash=00/O=Shop'],
  ])('a subject with separators or control characters (%s) stays one quoted Subject; no header or attribute is added', async (name, subj) => {
    const r = await get(issue(name, subj), `/public/${name}`);
    expect(r.status, r.text).toBe(200);
    const hit = upstream.hits.find((h) => h.url === `/public/${name}`)!;
    expect(hit.headers['x-evil']).toBeUndefined();
    const xfcc = String(hit.headers['x-forwarded-client-cert']);
    expect(xfcc).toMatch(/^[\x20-\x7e]+$/);
    expect(xfcc.match(/;Hash=|^Hash=/g)).toHaveLength(1);
    expect(subjectOf(xfcc)).toMatch(/,O=Shop$/);
    expect(subjectOf(xfcc)).not.toMatch(/(^|[^\\]),\s*O=admin/);
  });
});
