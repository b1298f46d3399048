// One RFC 7662 request on the wire: the form body, client authentication (RFC 6749
// §2.3.1), a bounded response read, and a total deadline per call enforced by one
// coarse timer per caller. Answers are plain data; it never rejects.
import { performance } from 'node:perf_hooks';
import { Agent, request, type Dispatcher } from 'undici';
import type { IssuerConfig } from '../config/index.js';

export type IntrospectionConfig = NonNullable<IssuerConfig['introspection']>;

/** Stable reasons of a failed call (all become 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE). */
export type CallFailReason =
  | 'introspection_timeout' | 'introspection_http_error' | 'introspection_bad_response'
  | 'introspection_network_error' | 'introspection_no_endpoint' | 'introspection_closed';

export type CallAnswer =
  | { readonly ok: true; readonly response: Readonly<Record<string, unknown>> & { readonly active: boolean } }
  | { readonly ok: false; readonly reason: CallFailReason; readonly detail: string; readonly status: number };

export interface IntrospectionCallerOptions {
  /** Issuer config name, for error messages. */
  name: string;
  cfg: IntrospectionConfig;
  /** The client secret (already read from its environment variable). */
  secret: string;
  /** Endpoint from discovery, used when the config has none; null until known. */
  endpoint: string | null;
  /** Default: a keep-alive Agent owned (and closed) by the caller. */
  dispatcher?: Dispatcher;
  /** Largest response read, bytes. */
  maxResponseBytes: number;
}

const TIMEOUT = Symbol('introspection timeout');

/** application/x-www-form-urlencoded serialisation (WHATWG), as RFC 6749 §2.3.1 asks for id and secret. */
export function formEncode(s: string): string {
  return new URLSearchParams([['', s]]).toString().slice(1);
}

/** Validates an endpoint URL; throws naming the issuer. */
function checkEndpoint(name: string, url: string): string {
  let ok = false;
  try { ok = /^https?:$/.test(new URL(url).protocol); } catch { /* reported below */ }
  if (!ok) throw new Error(`issuers.${name}.introspection.endpoint: not an http(s) URL`);
  return url;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

interface Timed { readonly deadline: number; readonly ac: AbortController }

export class IntrospectionCaller {
  readonly #name: string;
  readonly #cfg: IntrospectionConfig;
  #endpoint: string | null;
  readonly #headers: Record<string, string>;
  /** `&token_type_hint=…` plus client_secret_post credentials, precomputed. */
  readonly #bodySuffix: string;
  readonly #dispatcher: Dispatcher;
  readonly #own: Agent | null;
  readonly #maxBytes: number;
  readonly #timed = new Set<Timed>();
  readonly #tickMs: number;
  #sweeper: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(opts: IntrospectionCallerOptions) {
    const cfg = opts.cfg;
    this.#name = opts.name;
    this.#cfg = cfg;
    const ep = cfg.endpoint ?? opts.endpoint;
    this.#endpoint = ep === null ? null : checkEndpoint(opts.name, ep);
    this.#headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    let suffix = '&token_type_hint=access_token';
    if (cfg.auth_method === 'client_secret_basic') {
      // RFC 6749 §2.3.1: form-encode id and secret, then Basic (RFC 7617)
      const basic = Buffer.from(`${formEncode(cfg.client_id)}:${formEncode(opts.secret)}`, 'utf8').toString('base64');
      this.#headers.authorization = `Basic ${basic}`;
    } else {
      suffix += `&client_id=${formEncode(cfg.client_id)}&client_secret=${formEncode(opts.secret)}`;
    }
    this.#bodySuffix = suffix;
    const timeout = Math.max(1, cfg.timeout_ms);
    this.#tickMs = Math.min(250, Math.max(10, Math.floor(timeout / 4)));
    this.#own = opts.dispatcher === undefined
      ? new Agent({ connect: { timeout }, headersTimeout: timeout, bodyTimeout: timeout, keepAliveTimeout: 4_000, connections: 64 })
      : null;
    this.#dispatcher = opts.dispatcher ?? this.#own!;
    this.#maxBytes = opts.maxResponseBytes;
  }

  get endpoint(): string | null { return this.#endpoint; }

  /** Supply the endpoint found by discovery; the config's endpoint always wins. */
  setEndpoint(url: string): void {
    if (this.#cfg.endpoint === undefined) this.#endpoint = checkEndpoint(this.#name, url);
  }

  get closed(): boolean { return this.#closed; }

  /** POST the token; resolves with the response object (boolean `active` checked) or a failure. */
  async call(token: string): Promise<CallAnswer> {
    const endpoint = this.#endpoint;
    if (this.#closed) return { ok: false, reason: 'introspection_closed', detail: 'closed', status: 0 };
    if (endpoint === null) return { ok: false, reason: 'introspection_no_endpoint', detail: 'no endpoint yet', status: 0 };
    const timed: Timed = { deadline: performance.now() + this.#cfg.timeout_ms, ac: new AbortController() };
    this.#timed.add(timed);
    this.#armSweeper();
    let status = 0;
    try {
      const res = await request(endpoint, {
        method: 'POST', headers: this.#headers, body: `token=${formEncode(token)}${this.#bodySuffix}`,
        signal: timed.ac.signal, dispatcher: this.#dispatcher,
      });
      status = res.statusCode;
      if (status !== 200) {
        // drain (small) or drop the body; destroy() alone would emit an unhandled 'error'
        res.body.dump({ limit: 64 * 1024 }).catch(() => {});
        return { ok: false, reason: 'introspection_http_error', detail: `status ${status}`, status };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        // leaving the loop destroys the stream without an unhandled 'error'
        if (size > this.#maxBytes) return { ok: false, reason: 'introspection_bad_response', detail: `response over ${this.#maxBytes} bytes`, status };
        chunks.push(chunk);
      }
      let parsed: unknown;
      try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch {
        return { ok: false, reason: 'introspection_bad_response', detail: 'response is not JSON', status };
      }
      if (!isPlainObject(parsed) || typeof parsed.active !== 'boolean') {
        return { ok: false, reason: 'introspection_bad_response', detail: 'response is not an object with a boolean "active"', status };
      }
      return { ok: true, response: parsed as Record<string, unknown> & { active: boolean } };
    } catch (err) {
      if (timed.ac.signal.reason === TIMEOUT) return { ok: false, reason: 'introspection_timeout', detail: `no answer within ${this.#cfg.timeout_ms} ms`, status };
      if (this.#closed) return { ok: false, reason: 'introspection_closed', detail: 'closed', status };
      return { ok: false, reason: 'introspection_network_error', detail: (err as { code?: string }).code ?? 'request failed', status };
    } finally {
      this.#timed.delete(timed);
      if (this.#timed.size === 0) this.#stopSweeper();
    }
  }

  /** Abort calls in flight and close the owned Agent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timed) t.ac.abort();
    this.#stopSweeper();
    if (this.#own !== null) await this.#own.destroy();
  }

  #armSweeper(): void {
    if (this.#sweeper !== null) return;
    // one coarse timer per caller while calls are in flight, instead of a timer per call
    this.#sweeper = setInterval(() => {
      const t = performance.now();
      for (const x of this.#timed) if (t >= x.deadline) x.ac.abort(TIMEOUT);
    }, this.#tickMs);
    this.#sweeper.unref();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== null) { clearInterval(this.#sweeper); this.#sweeper = null; }
  }
}
