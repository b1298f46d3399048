// Listener TLS files that exist but cannot serve (not a PEM certificate, a key of another
// certificate, a passphrase that does not open the key, a client CA file without certificates):
// check-config exits 2 naming the field, and serve exits 2 with the same line before listening.
// Before, check-config said ok and serve died with "App construction failed".
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { runCli, writeConfig, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';

let dir: string;
const f = (name: string): string => join(dir, name);

function openssl(args: string[]): void {
  try { execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }); } catch (err) { throw new Error(`openssl is needed (sudo apt-get install -y openssl): ${(err as Error).message}`); }
}

beforeAll(() => {
  dir = tempDir('portcullis-tls-files-');
  for (const n of ['a', 'b']) openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${n}`, '-days', '1', '-keyout', `${n}.key`, '-out', `${n}.pem`]);
  openssl(['pkey', '-in', 'a.key', '-aes256', '-passout', 'pass:right-passphrase', '-out', 'a-enc.key']);
  writeFileSync(f('junk.pem'), 'not a certificate\n');
});

const withTls = (tls: Record<string, unknown>): string => writeConfig(baseConfig('http://127.0.0.1:9', { server: { listen: { host: '127.0.0.1', port: 0 }, tls } }));

describe('check-config with listener TLS files', () => {
  it('a matching certificate and key (also an encrypted key with its passphrase): exit 0', async () => {
    const [plain, enc] = await Promise.all([
      runCli(['check-config', withTls({ cert_file: f('a.pem'), key_file: f('a.key') })], ADMIN_ENV),
      runCli(['check-config', withTls({ cert_file: f('a.pem'), key_file: f('a-enc.key'), passphrase_env: 'PT_TLS_PASS' })], { ...ADMIN_ENV, PT_TLS_PASS: 'right-passphrase' }),
    ]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(enc.code, enc.stderr).toBe(0);
  });

  it('a cert_file that holds no PEM certificate: exit 2 naming server.tls.cert_file', async () => {
    const r = await runCli(['check-config', withTls({ cert_file: f('junk.pem'), key_file: f('a.key') })], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/server\.tls\.cert_file: .*junk\.pem: no PEM certificate/);
  });

  it('the key of another certificate, or cert and key swapped: exit 2 naming server.tls.key_file', async () => {
    const [other, swapped] = await Promise.all([
      runCli(['check-config', withTls({ cert_file: f('a.pem'), key_file: f('b.key') })], ADMIN_ENV),
      runCli(['check-config', withTls({ cert_file: f('a.key'), key_file: f('a.pem') })], ADMIN_ENV),
    ]);
    expect(other.code, other.stdout + other.stderr).toBe(2);
    expect(other.stderr).toMatch(/server\.tls\.key_file: .*b\.key: the key does not belong to the certificate/);
    expect(swapped.code, swapped.stdout + swapped.stderr).toBe(2);
    expect(swapped.stderr).toMatch(/server\.tls\.cert_file: .*no PEM certificate/);
    expect(swapped.stderr).toMatch(/server\.tls\.key_file: .*not a PEM private key/);
  });

  it('an encrypted key with a wrong passphrase: exit 2, and the passphrase is not printed', async () => {
    const r = await runCli(['check-config', withTls({ cert_file: f('a.pem'), key_file: f('a-enc.key'), passphrase_env: 'PT_TLS_PASS' })], { ...ADMIN_ENV, PT_TLS_PASS: 'wrong-passphrase' });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/server\.tls\.key_file: .*the passphrase in passphrase_env does not open it/);
    expect(r.stdout + r.stderr).not.toContain('wrong-passphrase');
  });

  it('an HTTP/2 client_ca_file without PEM certificates: exit 2 naming server.http2.tls.client_ca_file', async () => {
    const cfg = writeConfig(baseConfig('http://127.0.0.1:9', { server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: f('a.pem'), key_file: f('a.key'), client_ca_file: f('junk.pem') } } } }));
    const r = await runCli(['check-config', cfg], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/server\.http2\.tls\.client_ca_file: .*junk\.pem: no PEM certificate/);
  });
});

describe('serve with listener TLS files', () => {
  it('the key of another certificate: exit 2 naming server.tls.key_file before listening', async () => {
    const r = await runCli(['serve', '--config', withTls({ cert_file: f('a.pem'), key_file: f('b.key') })], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/server\.tls\.key_file: .*the key does not belong to the certificate/);
    expect(r.stdout).not.toMatch(/"msg":"listening"/);
  });
});
