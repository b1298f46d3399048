// TLS handshakes as `openssl s_client` makes them (any protocol version or cipher list a
// client library would refuse to offer), and a throwaway self-signed RSA certificate.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed RSA-2048 certificate for CN=localhost, valid one day; files in a temp directory. */
export function selfSignedCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`openssl is needed (sudo apt-get install -y openssl): ${(err as Error).message}`);
  }
  return { cert, key };
}

/** What a handshake settled on: protocol and cipher, or null for both when it failed. */
export interface Negotiated { protocol: string | null; cipher: string | null; output: string }

/**
 * One handshake with `openssl s_client` against 127.0.0.1:`port`; `args` e.g.
 * ['-tls1_2', '-cipher', 'AES128-SHA'] or ['-tls1_3']. Never throws for a refused handshake.
 */
export function handshakeWith(port: number, args: string[]): Promise<Negotiated> {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    p.on('error', (e) => reject(new Error(`openssl s_client could not run (sudo apt-get install -y openssl): ${e.message}`)));
    p.stdin.end('Q\n');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.on('exit', () => {
      clearTimeout(t);
      const m = /New, (\S+), Cipher is (\S+)/.exec(output);
      const ok = m !== null && m[2] !== '(NONE)';
      resolve({ protocol: ok ? m![1]! : null, cipher: ok ? m![2]! : null, output });
    });
  });
}
