// Request fields a config may not name for a header the proxy fills itself (an identity header,
// `forward.caller_authorization`): ones the proxy sets, drops or reads, and the overrides an
// upstream takes as the proxy's word. Such a header would go out beside the proxy's own field.
import { IDENTITY_ASSERTION_HEADERS, UNTRUSTED_REQUEST_HEADERS } from './untrusted-headers.js';

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1), never relayed in either direction (node/pipeline/forward.ts),
 * plus every field the Connection header names. `te` too, even `te: trailers`: the HTTP/1.1 upstream
 * hop does not relay trailers (an HTTP/2 listener for gRPC must add it back itself). `upgrade` too: a
 * WebSocket route's upstream handshake is built by node/ws, not copied from the client.
 * `http2-settings` belongs to an h2c upgrade of one connection (RFC 9113 §8.2.2): node:http2
 * refuses to send it.
 */
export const HOP_BY_HOP_HEADERS = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings'] as const;

/**
 * Lower-case names: the credential and its proof, Cookie, Host and framing, hop-by-hop fields and
 * `Expect` (node/pipeline/forward.ts drops them), the forwarding fields and trace context the proxy
 * writes, and every override in UNTRUSTED_REQUEST_HEADERS (whatever `keep_headers` says) but the identity
 * assertions of other proxies: `X-Forwarded-User: sub` is what a route moved from oauth2-proxy maps, and a
 * name a route maps a claim to loses the client's copy anyway (the identity filter).
 */
export const PROXY_OWNED_HEADERS: ReadonlySet<string> = new Set([
  'authorization', 'proxy-authorization', 'dpop', 'cookie', 'host', 'content-length', 'content-type', 'expect',
  ...HOP_BY_HOP_HEADERS,
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-forwarded-client-cert', 'traceparent', 'tracestate',
  ...UNTRUSTED_REQUEST_HEADERS.filter((n) => !IDENTITY_ASSERTION_HEADERS.includes(n)),
]);

/** The config error for a header name the proxy would fill: null when `name` is free to use. */
export function proxyOwnedHeaderProblem(name: string): string | null {
  return PROXY_OWNED_HEADERS.has(name.toLowerCase())
    ? `"${name}" is a field the proxy sets or removes itself, or one an upstream reads as the request's credential, host, client address, method or URL: a second copy would reach the upstream beside (ahead of) the proxy's own`
    : null;
}
