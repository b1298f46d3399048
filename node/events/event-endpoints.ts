// The endpoints where identity providers push events, on the main listener before routing:
// which path belongs to which issuer (per config version), the bounded body read under uWS's
// rules, one JWKS actor per issuer with an endpoint (node/jwt's key handling), the answer, and
// counters per source, event type and result.
import type { HttpResponse } from 'uWebSockets.js';
import type { Config, IssuerConfig } from '../config/index.js';
import type { RevocationPublisher } from '../contracts/index.js';
import { JwksActor } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { handleLogout, type EventAnswer } from './backchannel-logout.js';

/** A logout token is at most 16 KiB (node/jwt's MAX_TOKEN_BYTES); the form adds its name and little else. */
export const MAX_EVENT_BODY_BYTES = 20 * 1024;

/** An endpoint a request path selected. */
export interface EventTarget {
  readonly name: string;
  readonly issuer: IssuerConfig;
}

export interface EventEndpointsOptions {
  readonly publisher: RevocationPublisher | null;
  readonly logger: Logger;
}

const NONE: ReadonlyMap<string, EventTarget> = new Map();

/** The event endpoints of one listener. */
export class EventEndpoints {
  readonly #log: Logger;
  readonly #publisher: RevocationPublisher | null;
  /** Path → endpoint, per issuers object (a reload brings a new one). */
  readonly #paths = new WeakMap<object, ReadonlyMap<string, EventTarget>>();
  /** JWKS actor per issuer name, replaced when the issuer's config changes. */
  readonly #actors = new Map<string, JwksActor>();
  readonly #counts = new Map<string, number>();

  constructor(opts: EventEndpointsOptions) {
    this.#log = opts.logger.child({ component: 'idp-events' });
    this.#publisher = opts.publisher;
  }

  /** The endpoint `path` belongs to in `config`, or null (one Map lookup; none configured: an empty map). */
  match(config: Config, path: string): EventTarget | null {
    let m = this.#paths.get(config.issuers);
    if (m === undefined) {
      const built = new Map<string, EventTarget>();
      for (const [name, issuer] of Object.entries(config.issuers)) {
        if (issuer.backchannel_logout !== undefined) built.set(issuer.backchannel_logout.path, { name, issuer });
      }
      m = built.size === 0 ? NONE : built;
      this.#paths.set(config.issuers, m);
    }
    return m.size === 0 ? null : (m.get(path) ?? null);
  }

  /**
   * Answer one request for `t` (called synchronously in the uWS handler: registers onAborted and
   * onData before anything else). `contentLength`: -1 chunked, 0 no body. `done` gets the status and result once written (not when the client left).
   */
  serve(res: HttpResponse, t: EventTarget, method: string, contentType: string, contentLength: number, done: (status: number, result: string) => void): void {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    const write = (a: EventAnswer, allow = false): void => {
      this.#count(t.name, 'backchannel_logout', a.result);
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(a.status === 200 ? '200 OK' : a.status === 400 ? '400 Bad Request' : a.status === 405 ? '405 Method Not Allowed' : a.status === 413 ? '413 Content Too Large' : '503 Service Unavailable');
        res.writeHeader('cache-control', 'no-store');
        if (allow) res.writeHeader('allow', 'POST');
        if (a.retryAfter !== undefined) res.writeHeader('retry-after', String(a.retryAfter));
        if (a.body !== '') res.writeHeader('content-type', 'application/json');
        // the body was not read to its end on early refusals: close rather than reuse the connection
        res.end(a.body, a.status !== 200 && a.status !== 400 && a.status !== 503);
      });
      done(a.status, a.result);
    };
    const json = (status: number, result: string, error: string, description: string): EventAnswer =>
      ({ status, result, body: JSON.stringify({ error, error_description: description }) });
    if (method !== 'POST') return write(json(405, 'method_not_allowed', 'invalid_request', 'use POST'), true);
    if (contentLength > MAX_EVENT_BODY_BYTES) return write(json(413, 'oversized', 'invalid_request', `body exceeds ${MAX_EVENT_BODY_BYTES} bytes`));
    const run = (body: Buffer): void => {
      void handleLogout(t.name, t.issuer, this.#actor(t), contentType, body, {
        publisher: this.#publisher, logger: this.#log, keyWaitMs: t.issuer.jwks.timeout_ms,
      }).then(write, (err: unknown) => {
        this.#log.error({ err: String(err) }, 'identity-provider event handler failed');
        write(json(503, 'internal', 'temporarily_unavailable', 'internal error'));
      });
    };
    // no body at all: uWS calls no onData
    if (contentLength === 0) return run(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    res.onData((ab, last) => {
      if (aborted || over) return;
      size += ab.byteLength;
      if (size > MAX_EVENT_BODY_BYTES) { over = true; write(json(413, 'oversized', 'invalid_request', `body exceeds ${MAX_EVENT_BODY_BYTES} bytes`)); return; }
      // uWS neuters the ArrayBuffer on return: copy
      chunks.push(Buffer.from(Buffer.from(ab)));
      if (last) run(Buffer.concat(chunks));
    });
  }

  /** Counters: `events.<source>.<type>.<result>`. */
  stats(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  /** Stop every JWKS actor. */
  async close(): Promise<void> {
    const all = [...this.#actors.values()];
    this.#actors.clear();
    await Promise.all(all.map((a) => a.close()));
  }

  #actor(t: EventTarget): JwksActor {
    const cur = this.#actors.get(t.name);
    if (cur !== undefined && cur.config === t.issuer) return cur;
    // a reload changed the issuer (or first use): keys of the same source seed the new actor
    const sameSource = cur !== undefined && cur.config.jwks_uri === t.issuer.jwks_uri && cur.config.issuer === t.issuer.issuer && cur.config.discovery === t.issuer.discovery;
    const next = new JwksActor(t.name, t.issuer, this.#log, sameSource ? cur.snapshot : null);
    next.start();
    this.#actors.set(t.name, next);
    if (cur !== undefined) void cur.close();
    return next;
  }

  #count(source: string, type: string, result: string): void {
    const k = `events.${source}.${type}.${result}`;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  /** Start fetching keys for every endpoint of `config` (so the first logout does not wait for them). */
  warm(config: Config): void {
    for (const [name, issuer] of Object.entries(config.issuers)) if (issuer.backchannel_logout !== undefined) this.#actor({ name, issuer });
  }
}
