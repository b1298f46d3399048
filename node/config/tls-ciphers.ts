// The listener's TLS 1.2 cipher policy: the default list (forward-secret AEAD only), the
// list that enforces `min_version: TLS1.3` in a uWebSockets.js build that cannot set a
// minimum version, and whether a cipher string is one the listener's TLS library accepts.
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

// loaded on first use: check-config and explain load the config but need the native addon only for a custom list
const load = createRequire(import.meta.url);

/**
 * Default TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (Mozilla's
 * "intermediate" TLS 1.2 list without DHE, which BoringSSL lacks). No static-RSA key exchange
 * (no forward secrecy), no CBC (Lucky13-style padding oracles, SHA-1 MACs). TLS 1.3 suites are
 * not configurable in BoringSSL and stay on. The order matters only to a build that honours
 * server preference; this one follows the client's order among these (README: Limitations).
 */
export const DEFAULT_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * `min_version: TLS1.3`: uSockets fixes the minimum at TLS 1.2 and offers no option, so TLS 1.2
 * is shut by a TLS 1.2 list no client can use: one PSK-only suite, and the listener has no PSK
 * callback, so every TLS 1.2 ClientHello ends in a handshake_failure alert (not protocol_version).
 */
export const TLS13_ONLY_CIPHERS = 'PSK-AES128-CBC-SHA';

/** The `ssl_ciphers` option for the listener's SSLApp from `server.tls`. */
export function listenerCiphers(tls: { readonly ciphers?: string | undefined; readonly min_version: 'TLS1.2' | 'TLS1.3' }): string {
  if (tls.min_version === 'TLS1.3') return TLS13_ONLY_CIPHERS;
  return tls.ciphers ?? DEFAULT_TLS12_CIPHERS;
}

const checked = new Map<string, boolean>();

/**
 * Whether the listener's TLS library (the BoringSSL inside uWebSockets.js, whose syntax and
 * suite names differ from Node's OpenSSL: no DHE, `[a|b]` groups) accepts `list`. Asked of the
 * library itself: an SSLApp with only this option throws when SSL_CTX_set_cipher_list fails.
 * Results are remembered per string (the build cannot free a probe app; a few KiB each).
 */
export function tlsCipherListAccepted(list: string): boolean {
  let ok = checked.get(list);
  if (ok === undefined) {
    const uWS = load('uWebSockets.js') as typeof UWS;
    try { uWS.SSLApp({ ssl_ciphers: list }); ok = true; } catch { ok = false; }
    checked.set(list, ok);
  }
  return ok;
}
