// A listener that serves clear text beside a main listener with TLS: the HTTP/2 listener without its own `tls`
// is h2c, so bearer tokens reach it unencrypted while `server.tls` says the proxy is TLS. A warning, not an
// error (a mesh or loopback hop may be intended); check-config prints it, serve and reload log it.
import type { Config } from './schema.js';
import type { ConfigProblem } from './problem.js';

/** Loopback hosts (127.0.0.0/8, ::1, localhost): clear text there never crosses a network. */
function loopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The warning for `server.http2` serving h2c beyond loopback while `server.tls` is set; empty otherwise. */
export function cleartextBesideTls(cfg: Pick<Config, 'server'>): ConfigProblem[] {
  const h2 = cfg.server.http2;
  if (cfg.server.tls === undefined || h2 === undefined || h2.tls !== undefined || loopback(h2.listen.host)) return [];
  return [{
    path: 'server.http2.tls',
    message: `server.tls serves the main listener over TLS, but server.http2 has no tls: it serves h2c (clear text) on ${h2.listen.host}:${h2.listen.port}, where bearer tokens and answers travel unencrypted — add server.http2.tls (the same cert_file and key_file serve), or listen on loopback if a local sidecar is its only client`,
  }];
}
