// The uWS listener's TLS: the SSLApp built from server.tls, and its renewal — files renewed under the
// same names are proven loadable, built into a second app and bound beside the first (SO_REUSEPORT)
// before the first's listen socket closes, so no handshake is refused and open connections stay.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { listenOn } from './listen-port.js';
import { listenerCiphers } from '../config/tls-ciphers.js';
import type { Config } from '../config/index.js';

export interface ListenerTlsFiles { cert_file: string; key_file: string; passphrase?: string }

/** The SSLApp for `tls` (BoringSSL reads the files now). Throws uWS's bare "App construction failed" when they cannot load. */
export function buildTlsApp(tls: ListenerTlsFiles, section: Config['server']['tls']): TemplatedApp {
  return uWS.SSLApp({
    cert_file_name: tls.cert_file, key_file_name: tls.key_file, ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    // forward-secret AEAD suites only by default; server.tls.ciphers / min_version (README: TLS)
    ssl_ciphers: listenerCiphers(section ?? { min_version: 'TLS1.2' }),
  });
}

/**
 * A reload: the listener's files read again by name (a certificate renewed in place) and proven to
 * load together with Node's OpenSSL (parseable, key of this certificate), then built into a new app
 * (the listener's BoringSSL reading them). Throws `server.tls.<field>: why`: the reload is refused and
 * the running certificate stays.
 */
export function renewedTlsApp(tls: ListenerTlsFiles, section: Config['server']['tls'], renewals: TlsRenewals): TemplatedApp | null {
  let cert: Buffer, key: Buffer;
  try { cert = readFileSync(tls.cert_file); key = readFileSync(tls.key_file); } catch (err) {
    throw new Error(`server.tls.cert_file: cannot read the listener's TLS files again: ${(err as Error).message}`);
  }
  // the files the running app serves, byte for byte: nothing to renew (a reload or policy version
  // that changes no certificate binds no second app — each replaced app stays in memory for good)
  const digest = filesDigest(cert, key, tls.passphrase);
  if (digest === renewals.serving) return null;
  try { createSecureContext({ cert, key, ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}) }); } catch (err) {
    throw new Error(`server.tls.key_file: the files do not load together (${(err as Error).message})`);
  }
  try { const app = buildTlsApp(tls, section); renewals.built(app, digest); return app; } catch (err) {
    // read again by uWS a moment later: a renewal landing in between, or a key type BoringSSL cannot read
    throw new Error(`server.tls.cert_file: the listener's TLS library cannot load the files (${(err as Error).message})`);
  }
}

/** sha256 over the certificate, key and passphrase an app is built from: equal digests, the same certificate served. */
function filesDigest(cert: Buffer, key: Buffer, passphrase: string | undefined): string {
  return createHash('sha256').update(cert).update('\0').update(key).update('\0').update(passphrase ?? '').digest('hex');
}

/** `app` bound on `port` beside the running app (both shared: SO_REUSEPORT); false when the bind fails. */
export function bindBeside(app: TemplatedApp, host: string, port: number): us_listen_socket | false {
  let bound: us_listen_socket | false = false;
  listenOn(app, host, port, true, (s) => { bound = s; });
  return bound;
}

/**
 * Close a replaced listen socket once the loop has accepted what the kernel queued on it; resolves
 * right after the close. Closed at once, every connection queued since the last poll (all those that
 * arrived while the reload's own work held the loop) would be reset. The second immediate runs right
 * after the next poll phase, whose accept loop empties the queue; one arriving between that accept
 * and the close is still reset (Linux: `net.ipv4.tcp_migrate_req=1` hands it to the new socket —
 * README: TLS on the listener).
 */
export function retireListenSocket(s: us_listen_socket): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(() => { uWS.us_listen_socket_close(s); resolve(); })));
}

/**
 * A listener's renewals: their counters, the apps they replaced (still serving the connections they
 * accepted: the build cannot close an app) and the replaced listen socket still open, which a
 * reload's answer waits for (a client connecting after the answer could be handed to it).
 */
export class TlsRenewals {
  readonly counters = { renewed: 0, refused: 0, rebind_failures: 0 };
  readonly formerApps: TemplatedApp[] = [];
  private closing: Promise<void> | null = null;
  /** Digest of the files the app taking new connections was built from (null: not known, the next reload renews). */
  serving: string | null = null;
  private readonly digests = new WeakMap<TemplatedApp, string>();

  /** The app for the files at start, their digest noted (a reload finding the same bytes renews nothing). */
  first(tls: ListenerTlsFiles, section: Config['server']['tls']): TemplatedApp {
    // read before the app reads them: a renewal landing in between leaves the app newer than its digest
    // (the next reload renews once more), never older — no reload would then renew the expiring certificate
    let digest: string | null;
    try { digest = filesDigest(readFileSync(tls.cert_file), readFileSync(tls.key_file), tls.passphrase); } catch { digest = null; }
    const app = buildTlsApp(tls, section);
    this.serving = digest;
    return app;
  }

  /** `app` was built from files of `digest` (renewedTlsApp). */
  built(app: TemplatedApp, digest: string): void { this.digests.set(app, digest); }

  /** `app`'s listen socket `s` replaced by `next`'s: closed after the next poll (retireListenSocket). */
  replaced(app: TemplatedApp, s: us_listen_socket, next: TemplatedApp): void {
    this.formerApps.push(app);
    this.serving = this.digests.get(next) ?? null;
    this.counters.renewed++;
    const closed = retireListenSocket(s);
    this.closing = closed;
    void closed.then(() => { if (this.closing === closed) this.closing = null; });
  }

  /** Resolves once every replaced listen socket is closed (they close in order); null when none is open. */
  get pending(): Promise<void> | null { return this.closing; }

  stats(): Record<string, number> {
    return { 'listener.tls_renewed_total': this.counters.renewed, 'listener.tls_refused_total': this.counters.refused, 'listener.tls_rebind_failures_total': this.counters.rebind_failures };
  }
}
