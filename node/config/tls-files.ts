// The listeners' TLS files read as the listeners will load them: a PEM certificate, a PEM
// private key that opens (with passphrase_env's value) and belongs to it, PEM client CAs. Part of
// checkEnvironment, so check-config refuses what serve would fail on ("App construction failed").
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConfigProblem } from './problem.js';
import type { Config } from './schema.js';

type Environment = Readonly<Record<string, string | undefined>>;
type TlsFields = { cert_file?: unknown; key_file?: unknown; passphrase_env?: unknown; client_ca_file?: unknown };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The file's bytes, or null when it cannot be read (the `*_file` walk reports that). */
function read(file: unknown): Buffer | null {
  if (typeof file !== 'string') return null;
  try { return readFileSync(file); } catch { return null; }
}

/** Why `pem` holds no usable PEM certificate (each block must parse), or null. */
function certProblem(pem: Buffer): string | null {
  const blocks = pem.toString('latin1').match(PEM_CERT);
  if (blocks === null) return 'no PEM certificate in it (-----BEGIN CERTIFICATE-----)';
  for (const b of blocks) { try { new X509Certificate(b); } catch { return 'a PEM certificate in it does not parse'; } }
  return null;
}

/** Whether `key` is the private key of the first certificate in `pem`. */
function keyMatches(pem: Buffer, key: KeyObject): boolean {
  try { return new X509Certificate(pem.toString('latin1').match(PEM_CERT)![0]!).checkPrivateKey(key); } catch { return false; }
}

/** Problems of one listener's `tls` block at `at` (server.tls, server.http2.tls). */
function listenerProblems(at: string, t: TlsFields, env: Environment): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const cert = read(t.cert_file);
  const key = read(t.key_file);
  const certBad = cert === null ? null : certProblem(cert);
  if (certBad !== null) out.push({ path: `${at}.cert_file`, message: `${String(t.cert_file)}: ${certBad}` });
  const passphrase = typeof t.passphrase_env === 'string' ? env[t.passphrase_env] : undefined;
  // an unset passphrase variable is reported by the walk; the key cannot be judged without it
  const judgeKey = key !== null && (t.passphrase_env === undefined || (passphrase !== undefined && passphrase !== ''));
  let opened: KeyObject | null = null;
  if (judgeKey) {
    try { opened = createPrivateKey({ key: key!, format: 'pem', ...(passphrase !== undefined ? { passphrase } : {}) }); } catch {
      const why = t.passphrase_env !== undefined ? 'not a PEM private key, or the passphrase in passphrase_env does not open it' : 'not a PEM private key (an encrypted one needs passphrase_env)';
      out.push({ path: `${at}.key_file`, message: `${String(t.key_file)}: ${why}` });
    }
  }
  // the listener serves the file's first certificate with the key (the rest is its chain)
  if (cert !== null && certBad === null && opened !== null && !keyMatches(cert, opened)) {
    out.push({ path: `${at}.key_file`, message: `${String(t.key_file)}: the key does not belong to the certificate in cert_file ${String(t.cert_file)}` });
  }
  const ca = read(t.client_ca_file);
  const caBad = ca === null ? null : certProblem(ca);
  if (caBad !== null) out.push({ path: `${at}.client_ca_file`, message: `${String(t.client_ca_file)}: ${caBad}` });
  return out;
}

/**
 * Every listener TLS file that cannot serve: a cert_file with no parsable PEM certificate, a
 * key_file that is no PEM private key or that the passphrase does not open, a key that does not
 * match the certificate, a client_ca_file without PEM certificates. Files that cannot be read at
 * all are left to the `*_file` walk (env-check.ts). Never throws; an empty list = loadable.
 */
export function tlsFileProblems(config: Config, env: Environment): ConfigProblem[] {
  const server = (config as { server?: { tls?: unknown; http2?: { tls?: unknown } } }).server;
  const out: ConfigProblem[] = [];
  for (const [at, t] of [['server.tls', server?.tls], ['server.http2.tls', server?.http2?.tls]] as const) {
    if (t !== null && typeof t === 'object') out.push(...listenerProblems(at, t as TlsFields, env));
  }
  return out;
}
