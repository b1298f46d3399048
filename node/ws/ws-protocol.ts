// WebSocket protocol details the proxy owns: the bearer-token subprotocol convention
// (Kubernetes' `base64url.bearer.authorization.k8s.io.<token>`), parsing of the offered
// Sec-WebSocket-Protocol list, and which close codes may be relayed between the two hops.

/**
 * Prefix of the subprotocol entry carrying a bearer token (the Kubernetes API server's
 * convention, understood by its browser clients): the rest is the token, base64url without
 * padding. A browser cannot set `Authorization` on a WebSocket; this is how it sends a token.
 */
export const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

/** RFC 6750 §2.1 b64token (the same check extract.ts applies to `Authorization: Bearer`). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** RFC 6455 §4.1: a subprotocol is an RFC 7230 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The subprotocol entry that carries `token` (for clients, tests and dev mode). */
export function bearerProtocol(token: string): string {
  return BEARER_PROTOCOL_PREFIX + Buffer.from(token, 'utf8').toString('base64url');
}

/** What a client offered in Sec-WebSocket-Protocol, with any bearer entry taken out. */
export type OfferedProtocols =
  | { readonly ok: true; readonly protocols: readonly string[]; readonly token: string | null }
  | { readonly ok: false; readonly reason: 'malformed_protocol' | 'malformed_token_protocol' | 'multiple_token_protocols'; readonly message: string };

/**
 * Parse the (comma-joined) Sec-WebSocket-Protocol values. Bearer entries are always removed
 * from `protocols`, so a token never reaches the upstream as a subprotocol and can never be
 * selected (echoed back) by it. `token` is the decoded token of the one bearer entry, if any.
 */
export function parseOfferedProtocols(header: string): OfferedProtocols {
  const protocols: string[] = [];
  let token: string | null = null;
  for (const raw of header.split(',')) {
    const p = raw.trim();
    if (p === '') continue;
    if (!TOKEN.test(p)) return { ok: false, reason: 'malformed_protocol', message: 'Sec-WebSocket-Protocol holds a value that is not a token' };
    if (!p.startsWith(BEARER_PROTOCOL_PREFIX)) {
      // RFC 6455 §4.1: the offered values "MUST all be unique"
      if (protocols.includes(p)) return { ok: false, reason: 'malformed_protocol', message: 'Sec-WebSocket-Protocol offers one value twice' };
      protocols.push(p);
      continue;
    }
    if (token !== null) return { ok: false, reason: 'multiple_token_protocols', message: 'more than one bearer subprotocol sent' };
    const enc = p.slice(BEARER_PROTOCOL_PREFIX.length);
    const t = BASE64URL.test(enc) ? Buffer.from(enc, 'base64url').toString('utf8') : '';
    if (!B64TOKEN.test(t)) return { ok: false, reason: 'malformed_token_protocol', message: 'malformed token in the bearer subprotocol' };
    token = t;
  }
  return { ok: true, protocols, token };
}

// ---- close codes (RFC 6455 §7.4, IANA registry) -------------------------------------

/** Close codes the proxy sends itself. */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001, // proxy shutting down
  POLICY: 1008, // token revoked or expired
  INTERNAL: 1011, // a bug on our side
  TRY_AGAIN_LATER: 1013, // a buffer limit was hit
  BAD_GATEWAY: 1014, // the upstream connection failed or was lost
});

/** 1005 "no status" and 1006 "abnormal closure" are reported locally, never sent. */
export const NO_STATUS = 1005;
export const ABNORMAL = 1006;

/** A code that may appear in a close frame (what the ws library accepts for close()). */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Close reasons are at most 123 bytes of UTF-8 (a control frame carries 125 bytes). */
export function clampReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let s = reason.slice(0, 123);
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}
