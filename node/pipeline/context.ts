// The per-request context passed through every pipeline stage (created once per
// request, pingora's CTX) and the discriminated result every stage returns.
import type { ProxyError } from '../errors.js';
import type { RouteConfig } from '../config/index.js';
import type { TokenFacts } from '../contracts/index.js';
import type { RequestTrace } from '../tracing/index.js';

/** Who the token says the caller is; produced by authenticate, read by authorize and mutate. */
export interface Principal {
  /** Name of the configured issuer (key in `issuers:`), not the `iss` URL. */
  readonly issuer: string;
  readonly kind: 'jwt' | 'opaque';
  readonly claims: Readonly<Record<string, unknown>>;
  /** Parsed `scope` (space separated) or `scp` (array) claim. */
  readonly scopes: readonly string[];
  /** Expiry, seconds since epoch. */
  readonly exp: number;
  /**
   * Seconds since epoch from which every path refuses this principal: `exp` + the issuer's
   * `clock_skew_s` — the instant after which an HTTP request with the token gets 401, and at
   * which its WebSockets and streamed responses end (one rule for both). An opaque token
   * without `exp`: its cached introspection answer's expiry.
   */
  readonly validUntil: number;
  /** First 8 bytes of SHA-256(token), hex: the only token trace allowed in logs. */
  readonly fingerprint: string;
  /** Revocation keys of this token. */
  readonly facts: TokenFacts;
}

/** A route compiled at config load; `policy` is attached by the auth layer (null = auth: none). */
export interface CompiledRoute {
  readonly index: number;
  readonly name: string;
  readonly config: RouteConfig;
  /** Opaque to the data plane: compiled by pipeline/authorize.ts. */
  readonly policy: unknown;
}

/** The verified client certificate of an mTLS connection (RFC 8705; Envoy's XFCC fields). */
export interface ClientCertificate {
  /** SHA-256 of the DER certificate, base64url: what `cnf.x5t#S256` names. */
  readonly thumbprint: string;
  readonly subject: string;
  /** Every CN attribute of the subject (route client_cert rules match only a single one). */
  readonly commonNames: readonly string[];
  /** SAN URIs (e.g. a SPIFFE ID) and DNS names. */
  readonly uris: readonly string[];
  readonly dns: readonly string[];
}

/** The connection's address read on demand (the uWS relay); '' once the client left. */
export interface PeerAddress {
  peerAddress(): string;
}

export interface RequestContext {
  /** Upper-case method as sent. */
  readonly method: string;
  /** Normalised, percent-decoded path used for matching and forwarding. */
  readonly path: string;
  /** Raw query string without '?', '' when absent. */
  readonly query: string;
  /** Host header as sent (lower-cased). */
  readonly host: string;
  /** Request headers as received: flat [name, value, name, value…], names lower-cased. */
  readonly headers: string[];
  /** The client connection's address; '' where nothing reads it (node/http: X-Forwarded-For append, the access log and tracing do). */
  readonly remoteAddress: string;
  /**
   * The client the access log and spans name (README "Access log"): with server.trust_forwarded, the
   * rightmost X-Forwarded-For entry when an IP literal (node/pipeline/forwarded-client.ts), else
   * remoteAddress; absent/undefined = not trusted (or nothing records it): remoteAddress is the client.
   */
  readonly client?: string | undefined;
  /**
   * Reads the connection's address on demand where the transport left remoteAddress '' to spare the read
   * (uWS: a getpeername per read): requestClient uses it; absent/null = remoteAddress is all there is.
   */
  peer?: PeerAddress | null;
  /** The client connection is TLS (X-Forwarded-Proto); absent = no. */
  readonly secure?: boolean;
  /** The client's origin (`https://api.example`) as an edge reported it (node/decision); absent = read from the request's own headers. */
  readonly origin?: string | null;
  /** Connection header values as sent, comma-joined (the fields they name are hop-by-hop); absent/null = none. */
  readonly connection?: string | null;
  /** Client certificate: absent = the listener asks for none (mTLS off); null = none presented; else the verified one. */
  readonly clientCert?: ClientCertificate | null;
  route: CompiledRoute;
  /** Path parameters of the matched route (/orders/:id → { id }), null when none. */
  params: Record<string, string> | null;
  /** The credential found by extract, null when none was sent. */
  token: string | null;
  /** How the token was presented (for WWW-Authenticate scheme decisions). */
  tokenSource: 'header' | 'cookie' | 'query' | 'custom-header' | null;
  /** Authorization scheme of a header token: 'dpop' for `Authorization: DPoP` (RFC 9449), else 'bearer'. Set by extract. */
  tokenScheme?: 'bearer' | 'dpop';
  /**
   * The Authorization value, as received, from which extract read `Bearer|DPoP <b64token>`: it
   * holds only HTAB, SP and visible ASCII, so the upstream client skips its CR/LF/NUL check for
   * this string (and only this one). Null/absent when extract proved nothing. Set by extract.
   */
  checkedAuthorization?: string | null;
  principal: Principal | null;
  /** Stable reason code of a denial, for logs and metrics. */
  denyReason: string | null;
  /** Headers a stage adds to the forwarded response (flat [name, value…]), e.g. a fresh DPoP-Nonce; null/absent = none. */
  responseHeaders?: readonly string[] | null;
  /** This request's trace (node/tracing) when tracing is on; null/absent when off. */
  trace?: RequestTrace | null;
}

export type StageResult = { readonly kind: 'continue' } | { readonly kind: 'deny'; readonly error: ProxyError; readonly reason: string };

/** Shared, allocation-free continue result. */
export const CONTINUE: StageResult = Object.freeze({ kind: 'continue' });

/** Find a header value (first occurrence); names are lower-case. */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** The one value of header `name` (lower-case): undefined when absent, null when sent more than once (ambiguous). */
export function singleHeader(headers: readonly string[], name: string): string | undefined | null {
  let v: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue;
    if (v !== undefined) return null;
    v = headers[i + 1]!;
  }
  return v;
}
