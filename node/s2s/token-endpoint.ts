// OAuth token endpoint calls (RFC 6749 §3.2) for token exchange and client credentials:
// where the endpoint is (configured, or `token_endpoint` from the issuer's discovery
// document, looked up once per issuer, single-flight), client authentication
// (client_secret_basic / client_secret_post), a total deadline and a bounded answer.
// Never rejects: failures are plain data without tokens or secrets.
import type { Agent, Dispatcher } from 'undici';
import { undici } from '../lazy-packages.js';
import { discoveryUrls, fetchJson, metadataEndpoint } from '../jwt/jwks-fetch.js';
import { formEncode } from '../introspection/introspection-caller.js';

const MAX_ANSWER_BYTES = 64 * 1024; // 64 KiB

/** Why a call failed: `refused` = the server answered an OAuth error (4xx JSON); the rest are outages. */
/**
 * After a token endpoint call failed so that no usable token came of it, the next call for the same
 * grant waits this long, ms (monotonic clock): meanwhile requests get the 503 (Retry-After: 1) at once,
 * instead of one call per request to an endpoint that is failing (client credentials and exchange alike).
 */
export const FAILURE_HOLD_MS = 1_000; // 1 s

export type TokenFailure = 'refused' | 'http_error' | 'bad_response' | 'network_error' | 'timeout' | 'no_endpoint';

export type TokenAnswer =
  | { readonly ok: true; readonly accessToken: string; readonly tokenType: string; readonly expiresIn: number | null; readonly issuedTokenType: string | null }
  | { readonly ok: false; readonly failure: TokenFailure; readonly detail: string; readonly status: number; /** A registered error code, `unregistered`, or null. */ readonly oauthError: string | null };

export interface OAuthClient {
  readonly clientId: string;
  readonly secret: string;
  readonly authMethod: 'client_secret_basic' | 'client_secret_post';
  readonly timeoutMs: number;
}

/** Shared keep-alive agent for every token endpoint call of one process. */
export function tokenAgent(): Agent {
  return new (undici().Agent)({ connections: 16, keepAliveTimeout: 4_000, connect: { timeout: 5_000 } });
}

/** Issuer → token endpoint, from discovery when not configured; remembered once found. */
export class EndpointDirectory {
  readonly #found = new Map<string, string>();
  readonly #pending = new Map<string, Promise<string | null>>();
  readonly #dispatcher: Dispatcher;
  readonly #abort = new AbortController();
  #lookups = 0;
  #failures = 0;

  constructor(dispatcher: Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  /** Token endpoint of `issuer` (URL); `discovery` as in the issuer config; null when discovery failed (not remembered). */
  resolve(issuer: string, discovery: boolean | string, timeoutMs: number): string | Promise<string | null> {
    const key = `${issuer}\0${String(discovery)}`;
    const hit = this.#found.get(key);
    if (hit !== undefined) return hit;
    let p = this.#pending.get(key);
    if (p === undefined) {
      p = this.#discover(issuer, discovery === false ? true : discovery, timeoutMs).then((url) => {
        this.#pending.delete(key);
        if (url !== null) this.#found.set(key, url); else this.#failures++;
        return url;
      });
      this.#pending.set(key, p);
    }
    return p;
  }

  async #discover(issuer: string, discovery: boolean | string, timeoutMs: number): Promise<string | null> {
    this.#lookups++;
    let urls: string[];
    try { urls = discoveryUrls(issuer, discovery); } catch { return null; }
    for (const url of urls) {
      const r = await fetchJson(url, { dispatcher: this.#dispatcher, timeoutMs, signal: this.#abort.signal });
      if (!r.ok) continue;
      const doc = r.body as { issuer?: unknown; token_endpoint?: unknown } | null;
      if (doc?.issuer !== issuer) continue;
      // a plain-http endpoint named by an https document would carry our client secret in clear text
      const endpoint = metadataEndpoint(url, doc.token_endpoint);
      if (endpoint !== 'missing' && endpoint !== 'downgrade') return endpoint;
    }
    return null;
  }

  stats(): Record<string, number> {
    return { discovery_lookups: this.#lookups, discovery_failures: this.#failures };
  }

  close(): void {
    this.#abort.abort();
  }
}

/**
 * Error codes a token endpoint may answer (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 9449 §12.6, RFC 8707 and
 * the IANA OAuth Extensions Error registry). Anything else is reported as `unregistered`: the `error`
 * member is the server's text, and a server that echoes what it was sent would put our client secret or
 * the user's subject token into our log.
 */
const ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope',
  'invalid_target', 'access_denied', 'server_error', 'temporarily_unavailable', 'invalid_dpop_proof', 'use_dpop_nonce',
  'unsupported_token_type', 'invalid_authorization_details', 'insufficient_user_authentication',
]);

/** The answer's `error` as a registered code, `unregistered` for any other string, null when absent. */
function errorCode(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  return ERROR_CODES.has(v) ? v : 'unregistered';
}

/** Token types worth naming in a log line; any other value is the server's free text and is not repeated. */
const KNOWN_TOKEN_TYPES: ReadonlySet<string> = new Set(['bearer', 'dpop', 'n_a', 'mac', 'pop']);

/** `token_type` as a log detail: a known type's name, else a placeholder (never the server's text). */
export function shownTokenType(t: string): string {
  return KNOWN_TOKEN_TYPES.has(t.toLowerCase()) ? t : 'unrecognised';
}

/** Headers and body suffix carrying the client's credentials (RFC 6749 §2.3.1). */
function clientAuth(c: OAuthClient): { headers: Record<string, string>; suffix: string } {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (c.authMethod === 'client_secret_basic') {
    headers.authorization = `Basic ${Buffer.from(`${formEncode(c.clientId)}:${formEncode(c.secret)}`, 'utf8').toString('base64')}`;
    return { headers, suffix: '' };
  }
  return { headers, suffix: `&client_id=${formEncode(c.clientId)}&client_secret=${formEncode(c.secret)}` };
}

/** `name=value&…` form body from pairs (values form-encoded). */
export function formBody(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${k}=${formEncode(v)}`).join('&');
}

/** POST a token request; `form` without client credentials (added here). Never rejects. */
export async function requestToken(endpoint: string, form: string, client: OAuthClient, dispatcher: Dispatcher): Promise<TokenAnswer> {
  const auth = clientAuth(client);
  const signal = AbortSignal.timeout(client.timeoutMs); // token calls are rare (cache misses): one timer each is fine
  let status = 0;
  try {
    const res = await undici().request(endpoint, { method: 'POST', headers: auth.headers, body: form + auth.suffix, dispatcher, signal });
    status = res.statusCode;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) return { ok: false, failure: 'bad_response', detail: `answer over ${MAX_ANSWER_BYTES} bytes`, status, oauthError: null };
      chunks.push(chunk);
    }
    let body: unknown = null;
    try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* judged below */ }
    const o = body !== null && typeof body === 'object' && !Array.isArray(body) ? body as Record<string, unknown> : null;
    if (status !== 200) {
      const oauthError = errorCode(o?.error);
      // RFC 6749 §5.2: 400/401 with an error code is the server refusing us, not an outage; so is a 403
      // with one (Keycloak refuses a token exchange for an audience with 403 access_denied)
      if ((status === 400 || status === 401 || status === 403) && oauthError !== null) return { ok: false, failure: 'refused', detail: `status ${status} ${oauthError}`, status, oauthError };
      return { ok: false, failure: 'http_error', detail: `status ${status}`, status, oauthError };
    }
    if (o === null || typeof o.access_token !== 'string' || o.access_token === '' || typeof o.token_type !== 'string') {
      return { ok: false, failure: 'bad_response', detail: 'no access_token/token_type in the answer', status, oauthError: null };
    }
    if (!/^[\x21-\x7e]+$/.test(o.access_token)) return { ok: false, failure: 'bad_response', detail: 'access_token is not a header-safe string', status, oauthError: null };
    const expiresIn = typeof o.expires_in === 'number' && Number.isFinite(o.expires_in) && o.expires_in > 0 ? o.expires_in : null;
    return { ok: true, accessToken: o.access_token, tokenType: o.token_type, expiresIn, issuedTokenType: typeof o.issued_token_type === 'string' ? o.issued_token_type : null };
  } catch (err) {
    if (signal.aborted) return { ok: false, failure: 'timeout', detail: `no answer within ${client.timeoutMs} ms`, status, oauthError: null };
    return { ok: false, failure: 'network_error', detail: (err as { code?: string }).code ?? 'request failed', status, oauthError: null };
  }
}
