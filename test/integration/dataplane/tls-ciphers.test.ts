// The listener's TLS policy, probed with `openssl s_client`: by default TLS 1.2 offers only
// forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305) — static RSA and CBC
// suites are refused, so a client offering a weak suite first still ends on a strong one —
// TLS 1.3 is unaffected and TLS 1.1 refused; `server.tls.ciphers` and `min_version: TLS1.3`
// are honoured; a cipher string the TLS library refuses fails check-config with its path.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { handshakeWith, selfSignedCert } from '../../helpers/tls-probe.js';

let echo: EchoUpstream;
let cert: { cert: string; key: string };
const proxies: ProxyProcess[] = [];

async function tlsProxy(tls: Record<string, unknown> = {}): Promise<ProxyProcess> {
  const p = await startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert.cert, key_file: cert.key, ...tls } } }), { env: ADMIN_ENV });
  proxies.push(p);
  return p;
}

beforeAll(async () => {
  cert = selfSignedCert();
  echo = await startEchoUpstream();
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await echo?.close();
});

describe('TLS 1.2 suites by default', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => { proxy = await tlsProxy(); });

  for (const [name, suite] of [
    ['static RSA key exchange, CBC-SHA1', 'AES128-SHA'],
    ['static RSA key exchange, even with GCM', 'AES256-GCM-SHA384'],
    ['ECDHE with CBC-SHA1', 'ECDHE-RSA-AES128-SHA'],
    ['ECDHE with CBC-SHA1 (AES-256)', 'ECDHE-RSA-AES256-SHA'],
  ] as const) {
    it(`refuses ${name} (${suite})`, async () => {
      const r = await handshakeWith(proxy.port, ['-tls1_2', '-cipher', suite]);
      expect(r.cipher, r.output).toBeNull();
    });
  }

  for (const suite of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']) {
    it(`accepts ${suite}`, async () => {
      expect(await handshakeWith(proxy.port, ['-tls1_2', '-cipher', suite])).toMatchObject({ protocol: 'TLSv1.2', cipher: suite });
    });
  }

  it('a client offering a weak suite first still ends on the strong one it offered next', async () => {
    const r = await handshakeWith(proxy.port, ['-tls1_2', '-cipher', 'AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256']);
    expect(r.cipher, r.output).toBe('ECDHE-RSA-AES128-GCM-SHA256');
  });

  it('TLS 1.3 is unaffected, TLS 1.1 is refused', async () => {
    expect((await handshakeWith(proxy.port, ['-tls1_3'])).protocol).toBe('TLSv1.3');
    expect((await handshakeWith(proxy.port, ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0'])).cipher).toBeNull();
  });
});

describe('server.tls.ciphers and min_version', () => {
  it('a custom cipher list is honoured', async () => {
    const p = await tlsProxy({ ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' });
    expect((await handshakeWith(p.port, ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305'])).cipher).toBe('ECDHE-RSA-CHACHA20-POLY1305');
    expect((await handshakeWith(p.port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'])).cipher).toBeNull();
    expect((await handshakeWith(p.port, ['-tls1_3'])).protocol).toBe('TLSv1.3');
  });

  it('min_version TLS1.3 refuses every TLS 1.2 handshake and serves TLS 1.3', async () => {
    const p = await tlsProxy({ min_version: 'TLS1.3' });
    expect((await handshakeWith(p.port, ['-tls1_2'])).cipher).toBeNull();
    expect((await handshakeWith(p.port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'])).cipher).toBeNull();
    expect(await handshakeWith(p.port, ['-tls1_3'])).toMatchObject({ protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' });
  });

  it('check-config accepts a cipher string the TLS library takes, refuses one it does not and ciphers next to min_version TLS1.3, naming the path', async () => {
    const check = (tls: Record<string, unknown>): ReturnType<typeof runCli> =>
      runCli(['check-config', writeConfig(baseConfig('http://127.0.0.1:9', { server: { tls: { cert_file: cert.cert, key_file: cert.key, ...tls } } }))], ADMIN_ENV, 90_000);
    // five CLI processes at once: each loads the whole config stack, which is slow on a busy machine
    const [ok, notCipher, dhe, both, tls11] = await Promise.all([
      check({ ciphers: 'ECDHE+AESGCM:ECDHE+CHACHA20', min_version: 'TLS1.2' }),
      check({ ciphers: 'NOT-A-CIPHER' }),
      check({ ciphers: 'DHE-RSA-AES128-GCM-SHA256' }), // DHE suites exist in OpenSSL but not in the listener's BoringSSL
      check({ ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', min_version: 'TLS1.3' }),
      check({ min_version: 'TLS1.1' }),
    ]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    for (const r of [notCipher, dhe]) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout + r.stderr).toMatch(/server\.tls\.ciphers: not a cipher list the listener's TLS library \(BoringSSL\) accepts/);
    }
    expect(both.code).toBe(2);
    expect(both.stdout + both.stderr).toMatch(/server\.tls\.ciphers: TLS 1\.2 suites mean nothing with min_version TLS1\.3/);
    expect(tls11.code).toBe(2);
    expect(tls11.stdout + tls11.stderr).toMatch(/server\.tls\.min_version/);
  }, 120_000);
});
