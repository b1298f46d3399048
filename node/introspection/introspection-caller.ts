// One RFC 7662 request on the wire: the form body, client authentication (RFC 6749
// §2.3.1), a bounded response read; at most `connections` calls on the wire and
// `max_pending` waiting (fair-queue.ts), and a deadline per waiter (one coarse timer per caller).
import { performance } from 'node:perf_hooks';
import type { Agent, Dispatcher } from 'undici';
import { undici } from '../lazy-packages.js';
import type { IssuerConfig } from '../config/index.js';
import { FairQueue } from '../fair-queue.js';
import { serverHoldMs } from './server-hold.js';

export type IntrospectionConfig = NonNullable<IssuerConfig['introspection']>;

/** Stable reasons of a failed call (all become 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE). */
export type CallFailReason =
  | 'introspection_timeout' | 'introspection_http_error' | 'introspection_bad_response'
  | 'introspection_network_error' | 'introspection_no_endpoint' | 'introspection_closed'
  | 'introspection_queue_full' | 'introspection_client_limited' | 'introspection_held';

/** A failed call (the only kind `call` answers synchronously). */
export type CallFailed = Extract<CallAnswer, { readonly ok: false }>;

export type CallAnswer =
  | { readonly ok: true; readonly response: Readonly<Record<string, unknown>> & { readonly active: boolean } }
  | {
    readonly ok: false; readonly reason: CallFailReason; readonly detail: string; readonly status: number;
    /**
     * Only on `introspection_timeout` of a call already on the wire: its real answer. The call
     * keeps its connection until the AS answers (aborting it would cost a new connection — and a
     * TLS handshake — per timed-out call); never rejects.
     */
    readonly late?: Promise<CallAnswer>;
  };

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

/** A call on the wire: aborted (its connection closed) once `abortAt` passes, whatever bytes still trickle in. */
interface Wire {
  readonly ctl: AbortController;
  /** performance.now() past which the call is aborted: its start + max(late_answer_ms, timeout_ms). */
  readonly abortAt: number;
}

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

/**
 * RFC 7662 §2.2 answers are `application/json` (a `+json` type and parameters tolerated, any case).
 * Anything else — a login page, a captive proxy, a misrouted service — is not an answer, even when its
 * body happens to parse as JSON: refused as a bad response (503), never judged.
 */
const JSON_TYPE = /^application\/(?:[a-z0-9!#$&^_.+-]+\+)?json[ \t]*(?:;|$)/i;

/** RFC 9701 signed introspection answers (a JWT), which this client does not verify. */
const JWT_ANSWER_TYPE = /^application\/token-introspection\+jwt[ \t]*(?:;|$)/i;
const JWT_ANSWER_DETAIL = 'a signed JWT answer (RFC 9701, application/token-introspection+jwt) is not supported: register the client for plain JSON answers (no introspection_signed_response_alg)';

/** Deepest nesting of arrays/objects accepted in an answer: claims are shallow; deeper is not an answer. */
export const MAX_ANSWER_DEPTH = 32;

/**
 * True when `v` nests arrays/objects deeper than `max` levels. Iterative: JSON.parse accepts 100 000
 * levels in 256 KiB, and every recursive walk after it (freezing, the cluster codec, JSON.stringify)
 * would overflow the stack — one late answer like that crashed the process.
 */
export function nestsDeeperThan(v: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (depth >= max) return true;
    for (const y of Object.values(x)) if (y !== null && typeof y === 'object') stack.push([y, depth + 1]);
  }
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** One lookup's call: queued until a connection is free, then on the wire. */
interface Job {
  readonly token: string;
  /** The client key the call is queued under ('' when none is known). */
  readonly client: string;
  /** performance.now() after which the waiter is answered `introspection_timeout`. */
  readonly deadline: number;
  /** Answers the waiter; null once it has been answered. */
  resolve: ((a: CallAnswer) => void) | null;
  /** The wire call's answer, once started. */
  wire: Promise<CallAnswer> | null;
}

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
  readonly #connections: number;
  readonly #maxPending: number;
  /** Calls on the wire (≤ #connections, so undici never queues nor opens more connections). */
  #onWire = 0;
  /** The calls on the wire, each with its total deadline (undici's own timeouts are idle timers: a drip-fed answer resets them). */
  readonly #wires = new Set<Wire>();
  /** Longest a call may stay on the wire in total, ms: max(late_answer_ms, timeout_ms). */
  readonly #lateMs: number;
  /** Jobs waiting for a free connection, per client, served round robin (an expired one leaves in O(1)). */
  readonly #queue: FairQueue<Job>;
  /** Jobs whose waiter has not been answered yet, queued or on the wire. */
  readonly #waiting = new Set<Job>();
  readonly #tickMs: number;
  #sweeper: NodeJS.Timeout | null = null;
  #closed = false;
  /** Set by drain(): called once the last waiter was answered and the caller closed. */
  #drained: (() => void) | null = null;
  readonly #queueFull: CallFailed;
  readonly #pushedOut: CallFailed;
  /** performance.now() before which no call is sent: the server answered 429/503 (server-hold.ts); 0: none. */
  #holdUntil = 0;
  readonly #heldBack: CallFailed;

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
    this.#connections = cfg.connections;
    this.#maxPending = cfg.max_pending ?? cfg.connections;
    this.#queue = new FairQueue<Job>(this.#maxPending);
    const late = Math.max(cfg.late_answer_ms, timeout);
    this.#lateMs = late;
    // one request per connection (no pipelining): a slow answer must not hold others behind it
    this.#own = opts.dispatcher === undefined
      ? new (undici().Agent)({ connect: { timeout }, headersTimeout: late, bodyTimeout: late, keepAliveTimeout: 4_000, connections: this.#connections, pipelining: 1 })
      : null;
    this.#dispatcher = opts.dispatcher ?? this.#own!;
    this.#maxBytes = opts.maxResponseBytes;
    this.#queueFull = Object.freeze({
      ok: false as const, reason: 'introspection_queue_full' as const, status: 0,
      detail: `${this.#connections} calls in flight and ${this.#maxPending} waiting`,
    });
    this.#pushedOut = Object.freeze({
      ok: false as const, reason: 'introspection_client_limited' as const, status: 0,
      detail: `queue full (${this.#maxPending}): a client holding at least two fewer waiting calls took this call's place`,
    });
    this.#heldBack = Object.freeze({
      ok: false as const, reason: 'introspection_held' as const, status: 0,
      detail: 'not sent: the authorization server asked to wait (429, or 503 with Retry-After)',
    });
  }

  get endpoint(): string | null { return this.#endpoint; }

  /** How long calls are still held because the server answered 429/503, ms (0: not held). */
  heldForMs(): number {
    if (this.#holdUntil === 0) return 0;
    const left = this.#holdUntil - performance.now();
    if (left > 0) return left;
    this.#holdUntil = 0;
    return 0;
  }

  /** Supply the endpoint found by discovery; the config's endpoint always wins. */
  setEndpoint(url: string): void {
    if (this.#cfg.endpoint === undefined) this.#endpoint = checkEndpoint(this.#name, url);
  }

  get closed(): boolean { return this.#closed; }

  /** Calls on the wire plus calls waiting for a connection. */
  get pending(): number { return this.#onWire + this.#queue.size; }

  /**
   * True when call(…, client) now would be refused `introspection_queue_full` at once: every connection busy and
   * the fair queue takes no call of `client`'s. Pure (changes nothing), so a lookup can answer that refusal
   * synchronously, before any promise or flight exists (a junk-token flood is refused at the cost of a hash).
   */
  sheds(client: string): boolean {
    return !this.#closed && this.#endpoint !== null && this.#onWire >= this.#connections && !this.#queue.admits(client);
  }

  /**
   * POST the token for `client` (a client key, '' when none is known); resolves with the response object
   * (boolean `active` checked) or a failure. All connections busy: it waits in `client`'s lane (round robin
   * across clients). `max_pending` calls already waiting → `introspection_queue_full` at once, unless
   * `client` would still hold fewer of them than the client holding the most (so at least 2): then that client's newest waiting call is
   * answered `introspection_client_limited` and this one waits. No answer within `timeout_ms` →
   * `introspection_timeout` (with `late` when the call was on the wire). Never rejects.
   */
  call(token: string, client = ''): Promise<CallAnswer> | CallFailed {
    const endpoint = this.#endpoint;
    if (this.#closed) return { ok: false, reason: 'introspection_closed', detail: 'closed', status: 0 };
    if (endpoint === null) return { ok: false, reason: 'introspection_no_endpoint', detail: 'no endpoint yet', status: 0 };
    if (this.heldForMs() > 0) return this.#heldBack;
    const free = this.#onWire < this.#connections;
    if (!free && !this.#queue.admits(client)) return this.#queueFull;
    return new Promise<CallAnswer>((resolve) => {
      const job: Job = { token, client, deadline: performance.now() + this.#cfg.timeout_ms, resolve, wire: null };
      this.#waiting.add(job);
      this.#armSweeper();
      if (free) { this.#start(job, endpoint); return; }
      const out = this.#queue.push(job);
      if (out !== null) this.#answer(out, this.#pushedOut);
    });
  }

  /**
   * A reload replaced the client: waiters keep their deadline (at most timeout_ms) and get their
   * answer, then close(); resolves once closed. (close() itself answered them 503 mid-reload.)
   */
  drain(): Promise<void> {
    if (this.#waiting.size === 0) return this.close();
    return new Promise((resolve) => { this.#drained = resolve; });
  }

  /** Answer every waiter `introspection_closed`, drop the queue, close the owned Agent (aborting calls on the wire). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.clear();
    for (const j of this.#waiting) this.#answer(j, { ok: false, reason: 'introspection_closed', detail: 'closed', status: 0 });
    this.#stopSweeper();
    if (this.#own !== null) await this.#own.destroy();
  }

  #start(job: Job, endpoint: string): void {
    this.#onWire++;
    const wire: Wire = { ctl: new AbortController(), abortAt: performance.now() + this.#lateMs };
    this.#wires.add(wire);
    this.#armSweeper();
    job.wire = this.#send(job.token, endpoint, wire.ctl.signal);
    void job.wire.then((a) => {
      this.#wires.delete(wire);
      this.#onWire--;
      this.#answer(job, a);
      this.#next();
    });
  }

  /** Put waiting jobs on the connections that are free, the next client in rotation first. */
  #next(): void {
    const endpoint = this.#endpoint;
    if (this.#closed || endpoint === null) return;
    // the server asked to wait: the calls queued behind the one it refused are not sent either
    if (this.heldForMs() > 0) { for (let j = this.#queue.shift(); j !== undefined; j = this.#queue.shift()) this.#answer(j, this.#heldBack); return; }
    while (this.#onWire < this.#connections) {
      const job = this.#queue.shift();
      if (job === undefined) return;
      this.#start(job, endpoint);
    }
  }

  #answer(job: Job, a: CallAnswer): void {
    const resolve = job.resolve;
    if (resolve === null) return;
    job.resolve = null;
    this.#waiting.delete(job);
    if (this.#waiting.size === 0) {
      if (this.#wires.size === 0) this.#stopSweeper();
      const drained = this.#drained;
      if (drained !== null) { this.#drained = null; void this.close().then(drained); }
    }
    resolve(a);
  }

  /** The wire call itself; `signal` is its total deadline (the sweeper aborts it at max(late_answer_ms, timeout_ms)). */
  async #send(token: string, endpoint: string, signal: AbortSignal): Promise<CallAnswer> {
    let status = 0;
    try {
      const res = await undici().request(endpoint, {
        method: 'POST', headers: this.#headers, body: `token=${formEncode(token)}${this.#bodySuffix}`,
        dispatcher: this.#dispatcher, signal,
      });
      status = res.statusCode;
      if (status !== 200) {
        // drain (small) or drop the body; destroy() alone would emit an unhandled 'error'. Awaited: the
        // connection is this call's until then, and `signal` (late_answer_ms) bounds a body that drips
        await res.body.dump({ limit: 64 * 1024, signal }).catch(() => {});
        // 401: RFC 7662 §2.3 — the AS refused our client authentication (never "inactive")
        const holdMs = serverHoldMs(status, res.headers['retry-after'], Date.now());
        if (holdMs > 0) this.#holdUntil = Math.max(this.#holdUntil, performance.now() + holdMs);
        const detail = status === 401 ? 'status 401: the authorization server refused the client credentials (client_id, secret, auth_method)'
          : status === 403 ? 'status 403: the authorization server refused this client (client_id not allowed to introspect, or wrong credentials)'
            : holdMs > 0 ? `status ${status}: no call for ${Math.ceil(holdMs / 1000)} s (the server asks to wait)` : `status ${status}`;
        return { ok: false, reason: 'introspection_http_error', detail, status };
      }
      const type = res.headers['content-type'];
      if (typeof type !== 'string' || !JSON_TYPE.test(type)) {
        await res.body.dump({ limit: 64 * 1024, signal }).catch(() => {});
        // RFC 9701 signed answers are not verified here: say so, the operator has to change the client's registration
        const detail = typeof type === 'string' && JWT_ANSWER_TYPE.test(type) ? JWT_ANSWER_DETAIL : 'response is not application/json';
        return { ok: false, reason: 'introspection_bad_response', detail, status };
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
      if (nestsDeeperThan(parsed, MAX_ANSWER_DEPTH)) {
        return { ok: false, reason: 'introspection_bad_response', detail: `response nests deeper than ${MAX_ANSWER_DEPTH} levels`, status };
      }
      return { ok: true, response: parsed as Record<string, unknown> & { active: boolean } };
    } catch (err) {
      if (this.#closed) return { ok: false, reason: 'introspection_closed', detail: 'closed', status };
      if (signal.aborted) return { ok: false, reason: 'introspection_timeout', detail: `no complete answer within ${this.#lateMs} ms (connection closed)`, status };
      const code = (err as { code?: string }).code;
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
        return { ok: false, reason: 'introspection_timeout', detail: code, status };
      }
      return { ok: false, reason: 'introspection_network_error', detail: code ?? 'request failed', status };
    }
  }

  #armSweeper(): void {
    if (this.#sweeper !== null) return;
    // one coarse timer per caller while waiters exist, instead of a timer per call
    this.#sweeper = setInterval(() => {
      const t = performance.now();
      // an AS that drips its answer keeps undici's idle timers happy: the total bound is kept here
      for (const w of this.#wires) if (t >= w.abortAt) w.ctl.abort();
      for (const j of this.#waiting) {
        if (t < j.deadline) continue;
        // a queued call is never sent: its waiter is gone and nobody else asked for it
        this.#queue.delete(j);
        this.#answer(j, {
          ok: false, reason: 'introspection_timeout', detail: `no answer within ${this.#cfg.timeout_ms} ms`, status: 0,
          ...(j.wire !== null ? { late: j.wire } : {}),
        });
      }
      if (this.#waiting.size === 0 && this.#wires.size === 0) this.#stopSweeper();
    }, this.#tickMs);
    this.#sweeper.unref();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== null) { clearInterval(this.#sweeper); this.#sweeper = null; }
  }
}
