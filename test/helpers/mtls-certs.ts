// openssl-made PKI for mutual-TLS tests: a client CA, client certificates it signed (with a
// SPIFFE URI and a DNS name in the SAN), one signed by another CA, one already expired, and the
// RFC 8705 thumbprint (base64url SHA-256 of the DER) of each.
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dirs.js';

export interface ClientCert { cert: Buffer; key: Buffer; certFile: string; thumbprint: string; hashHex: string }
export interface Pki { caFile: string; good: ClientCert; other: ClientCert; wrongCa: ClientCert; expired: ClientCert }

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed (is openssl installed? sudo apt-get install -y openssl): ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
  }
}

function ca(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-days', '2', '-keyout', `${name}.key`, '-out', `${name}.pem`], dir);
}

function loaded(dir: string, name: string): ClientCert {
  const certFile = join(dir, `${name}.pem`);
  const cert = readFileSync(certFile);
  const der = new X509Certificate(cert).raw;
  return { cert, key: readFileSync(join(dir, `${name}.key`)), certFile, thumbprint: createHash('sha256').update(der).digest('base64url'), hashHex: createHash('sha256').update(der).digest('hex') };
}

/** Client certificate `name` signed by CA `by` (valid now, two days). */
function client(dir: string, name: string, by: string, uri: string): ClientCert {
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=URI:${uri},DNS:${name}.internal\nextendedKeyUsage=clientAuth\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}/O=Shop`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.pem`, '-CAkey', `${by}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  return loaded(dir, name);
}

/** A client certificate of CA `by` that expired in 2020 (openssl ca can set past dates, x509 -req cannot). */
function expired(dir: string, name: string, by: string): ClientCert {
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${dir}/index.txt\nnew_certs_dir=${dir}\nserial=${dir}/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', `${by}.pem`, '-keyfile', `${by}.key`, '-in', `${name}.csr`, '-out', `${name}.pem`, '-notext', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z'], dir);
  return loaded(dir, name);
}

export function makePki(): Pki {
  const dir = tempDir('portcullis-mtls-');
  ca(dir, 'client-ca');
  ca(dir, 'rogue-ca');
  return {
    caFile: join(dir, 'client-ca.pem'),
    good: client(dir, 'orders', 'client-ca', 'spiffe://example.org/ns/shop/sa/orders'),
    other: client(dir, 'billing', 'client-ca', 'spiffe://example.org/ns/shop/sa/billing'),
    wrongCa: client(dir, 'mallory', 'rogue-ca', 'spiffe://example.org/ns/shop/sa/orders'),
    expired: expired(dir, 'stale', 'client-ca'),
  };
}
