// The endpoints where identity providers push events, on the main listener before routing:
// which path belongs to which issuer or SSF transmitter (per config version), the bounded body
// read under uWS's rules, one JWKS actor per source (node/jwt's key handling), the answer, and
// counters per source, event type and result.
import type { HttpResponse } from 'uWebSockets.js';
import type { Config, EventSourceConfig, IssuerConfig } from '../config/index.js';
import type { RevocationPublisher } from '../contracts/index.js';
import { JwksActor } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { handleLogout, type EventAnswer } from './backchannel-logout.js';
import { authorized, handlePush, type DropCached } from './ssf-push.js';
import { EventLatency } from './event-latency.js';
import { SsfPoller } from './ssf-poller.js';
import { requestedEvents } from './ssf-mapping.js';
import { SsfStreamManager, STREAM_STATUSES, type StreamView } from './ssf-stream.js';
import { asInsideParseLoop, closeAfterParse } from '../handler-scope.js';

/** A logout token is at most 16 KiB (node/jwt's MAX_TOKEN_BYTES); the form adds its name and little else. */
export const MAX_EVENT_BODY_BYTES = 20 * 1024;

/** An endpoint a request path selected: an issuer's back-channel logout, or an SSF transmitter's push. */
export type EventTarget =
  | { readonly kind: 'logout'; readonly name: string; readonly issuer: IssuerConfig }
  | { readonly kind: 'ssf'; readonly name: string; readonly source: EventSourceConfig; readonly keys: IssuerConfig };

export interface EventEndpointsOptions {
  readonly publisher: RevocationPublisher | null;
  readonly logger: Logger;
  /** Drops a subject's cached verdicts here and at every member (drop_cache events); none = those events answer 503. */
  readonly dropCached?: DropCached | null;
  /** Where `*_env` secrets are read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const NONE: ReadonlyMap<string, EventTarget> = new Map();
const STATUS: Readonly<Record<number, string>> = {
  200: '200 OK', 202: '202 Accepted', 400: '400 Bad Request', 401: '401 Unauthorized', 405: '405 Method Not Allowed', 413: '413 Content Too Large', 503: '503 Service Unavailable',
};

const keysOf = new WeakMap<EventSourceConfig, IssuerConfig>();

/** Key handling of an SSF transmitter in node/jwt's terms (one object per source config): its JWKS, or `jwks_uri` from its SSF metadata (SSF 1.0 §7.2). */
function transmitterKeys(src: EventSourceConfig): IssuerConfig {
  let k = keysOf.get(src);
  if (k === undefined) keysOf.set(src, (k = buildKeys(src)));
  return k;
}

function buildKeys(src: EventSourceConfig): IssuerConfig {
  const u = new URL(src.issuer);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  return {
    issuer: src.issuer, discovery: `${u.origin}/.well-known/ssf-configuration${path}`, ...(src.jwks_uri === undefined ? {} : { jwks_uri: src.jwks_uri }),
    audiences: src.audiences, algorithms: src.algorithms, clock_skew_s: src.clock_skew_s, jwks: src.jwks,
  } as IssuerConfig;
}

/** Path → endpoint for one config; an empty shared map when there is none. */
function targets(config: Config): ReadonlyMap<string, EventTarget> {
  const built = new Map<string, EventTarget>();
  for (const [name, issuer] of Object.entries(config.issuers)) {
    if (issuer.backchannel_logout !== undefined) built.set(issuer.backchannel_logout.path, { kind: 'logout', name, issuer });
  }
  for (const [name, source] of Object.entries(config.event_sources)) if (source.push !== undefined) built.set(source.push.path, { kind: 'ssf', name, source, keys: transmitterKeys(source) });
  return built.size === 0 ? NONE : built;
}

/** The event endpoints of one listener. */
export class EventEndpoints {
  readonly #log: Logger;
  readonly #publisher: RevocationPublisher | null;
  /** Path → endpoint, per config version (a reload brings a new config object). */
  readonly #paths = new WeakMap<object, ReadonlyMap<string, EventTarget>>();
  /** JWKS actor per issuer name, replaced when the issuer's config changes. */
  readonly #actors = new Map<string, JwksActor>();
  readonly #counts = new Map<string, number>();
  readonly #latency = new EventLatency();
  readonly #pollers: SsfPoller[] = [];
  /** Managed streams by source name, with the JSON of the source config they run with. */
  readonly #streams = new Map<string, { readonly manager: SsfStreamManager; readonly json: string }>();
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #dropCached: DropCached | null;
  /** Requests being served (body arriving or being judged): a stop's drain waits for them (idle()). */
  #inflight = 0;
  #idleResolve: (() => void) | null = null;

  constructor(opts: EventEndpointsOptions) {
    this.#log = opts.logger.child({ component: 'idp-events' });
    this.#publisher = opts.publisher;
    this.#env = opts.env ?? process.env;
    this.#dropCached = opts.dropCached ?? null;
  }

  /** The endpoint `path` belongs to in `config`, or null (one Map lookup; none configured: an empty map). */
  match(config: Config, path: string): EventTarget | null {
    const m = this.#targetsOf(config);
    return m.size === 0 ? null : (m.get(path) ?? null);
  }

  /**
   * Answer one request for `t` (called synchronously in the uWS handler: registers onAborted and
   * onData before anything else). `contentLength`: -1 chunked, 0 no body. `done` gets the status and result once written (not when the client left).
   */
  serve(res: HttpResponse, t: EventTarget, method: string, headers: readonly string[], contentLength: number, done: (status: number, result: string) => void): void {
    const started = performance.now();
    let aborted = false;
    let settled = false;
    this.#inflight++;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (--this.#inflight === 0 && this.#idleResolve !== null) { this.#idleResolve(); this.#idleResolve = null; }
    };
    res.onAborted(() => { aborted = true; settle(); });
    const write = (a: EventAnswer & { readonly type?: string }, allow = false): void => {
      this.#count(t.name, t.kind === 'logout' ? 'backchannel_logout' : `ssf_${a.type ?? 'unknown'}`, a.result);
      if (a.result === 'accepted') this.#latency.record(performance.now() - started);
      // the body was not read to its end on early refusals: close rather than reuse the connection
      const close = a.status === 401 || a.status === 405 || a.status === 413;
      const answer = (): void => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus(STATUS[a.status] ?? '503 Service Unavailable');
          res.writeHeader('cache-control', 'no-store');
          if (allow) res.writeHeader('allow', 'POST');
          if (a.retryAfter !== undefined) res.writeHeader('retry-after', String(a.retryAfter));
          if (a.wwwAuthenticate !== undefined) res.writeHeader('www-authenticate', a.wwwAuthenticate);
          if (a.body !== '') res.writeHeader('content-type', 'application/json');
          res.end(a.body, close);
        });
        done(a.status, a.result);
        settle();
      };
      // a closing answer given inside uWS's handler waits for its parse loop (node/handler-scope.ts)
      if (close) closeAfterParse(answer);
      else answer();
    };
    // RFC 8935 names its error member `err`, OpenID Connect (OAuth) `error`
    const json = (status: number, result: string, error: string, description: string): EventAnswer =>
      ({ status, result, body: JSON.stringify(t.kind === 'logout' ? { error, error_description: description } : { err: error, description }) });
    let contentType = '';
    let authorization = '';
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'content-type') contentType = headers[i + 1]!;
      else if (headers[i] === 'authorization') authorization = headers[i + 1]!;
    }
    if (method !== 'POST') return write(json(405, 'method_not_allowed', 'invalid_request', 'use POST'), true);
    // an unauthenticated transmitter gets no body read at all (the connection is closed after the answer)
    if (t.kind === 'ssf' && !authorized(authorization, this.#env[t.source.push!.authorization_env] ?? null)) {
      return write({ status: 401, result: 'authentication_failed', wwwAuthenticate: 'Bearer', body: JSON.stringify({ err: 'authentication_failed', description: 'the transmitter did not authenticate' }) });
    }
    if (contentLength > MAX_EVENT_BODY_BYTES) return write(json(413, 'oversized', 'invalid_request', `body exceeds ${MAX_EVENT_BODY_BYTES} bytes`));
    const run = (body: Buffer): void => {
      const answer = t.kind === 'logout'
        ? handleLogout(t.name, t.issuer, this.#actor(t.name, t.issuer), contentType, body, { publisher: this.#publisher, logger: this.#log, keyWaitMs: t.issuer.jwks.timeout_ms })
        : handlePush(t.name, t.source, this.#actor(`ssf.${t.name}`, t.keys), authorization, contentType, body, {
          publisher: this.#publisher, logger: this.#log, keyWaitMs: t.keys.jwks.timeout_ms, authorization: this.#env[t.source.push!.authorization_env] ?? null,
          delivered: this.#streams.get(t.name)?.manager.delivered() ?? null, dropCached: this.#dropCached,
        });
      void answer.then(write, (err: unknown) => {
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
      // inside uWS's parse loop (body callback): the closing 413 waits for it, as in the handler
      if (size > MAX_EVENT_BODY_BYTES) { over = true; asInsideParseLoop(() => write(json(413, 'oversized', 'invalid_request', `body exceeds ${MAX_EVENT_BODY_BYTES} bytes`))); return; }
      // uWS neuters the ArrayBuffer on return: copy
      chunks.push(Buffer.from(Buffer.from(ab)));
      if (last) run(Buffer.concat(chunks));
    });
  }

  /** A request is being served. */
  get busy(): boolean { return this.#inflight > 0; }

  /** A stop's drain: resolve once no request is being served, or after `ms`. */
  idle(ms: number): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
      this.#idleResolve = () => { clearTimeout(t); resolve(); };
    });
  }

  /** Counters `events.<source>.<type>.<result>` and the handling-time histogram. */
  stats(): Record<string, number> {
    const out: Record<string, number> = { ...Object.fromEntries(this.#counts), ...this.#latency.stats() };
    for (const [name, { manager }] of this.#streams) {
      const st = manager.view().status;
      for (const s of STREAM_STATUSES) out[`ssf_stream.${name}.status_${s}`] = s === st ? 1 : 0;
    }
    return out;
  }

  /** Managed streams as /readyz reports them (source name → view); empty when none. */
  streams(): Record<string, StreamView> {
    return Object.fromEntries([...this.#streams].map(([name, { manager }]) => [name, manager.view()]));
  }

  /** Stop every JWKS actor. */
  async close(): Promise<void> {
    for (const p of this.#pollers.splice(0)) p.stop();
    for (const { manager } of this.#streams.values()) manager.stop();
    this.#streams.clear();
    const all = [...this.#actors.values()];
    this.#actors.clear();
    await Promise.all(all.map((a) => a.close()));
  }

  /** The JWKS actor of one source (`key`: issuer name, or `ssf.<name>`), replaced when its config changes. */
  #actor(key: string, cfg: IssuerConfig): JwksActor {
    const cur = this.#actors.get(key);
    if (cur !== undefined && cur.config === cfg) return cur;
    // a reload changed the issuer (or first use): keys of the same source seed the new actor
    const sameSource = cur !== undefined && cur.config.jwks_uri === cfg.jwks_uri && cur.config.issuer === cfg.issuer && cur.config.discovery === cfg.discovery;
    const next = new JwksActor(key, cfg, this.#log, sameSource ? cur.snapshot : null, sameSource ? cur.leakedKeys : []);
    next.start();
    this.#actors.set(key, next);
    if (cur !== undefined) void cur.close();
    return next;
  }

  #targetsOf(config: Config): ReadonlyMap<string, EventTarget> {
    let m = this.#paths.get(config);
    if (m === undefined) {
      m = targets(config);
      this.#paths.set(config, m);
    }
    return m;
  }

  #count(source: string, type: string, result: string): void {
    if (type === 'ssf_verification' && result === 'verification') this.#streams.get(source)?.manager.noteVerified();
    const k = `events.${source}.${type}.${result}`;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  /** Start fetching keys for every endpoint of `config` (so the first logout does not wait for them). */
  warm(config: Config): void {
    for (const t of this.#targetsOf(config).values()) {
      if (t.kind === 'logout') this.#actor(t.name, t.issuer);
      else this.#actor(`ssf.${t.name}`, t.keys);
    }
  }

  /** Start the RFC 8936 poll loops of `config`'s sources (once, at start: poll settings are read then). */
  startPolling(config: Config): void {
    if (this.#publisher === null || this.#pollers.length > 0) return;
    for (const [name, source] of Object.entries(config.event_sources)) {
      if (source.poll === undefined) continue;
      const poller = new SsfPoller(name, source, {
        publisher: this.#publisher, logger: this.#log, authorization: this.#env[source.poll.authorization_env] ?? '',
        actor: this.#actor(`ssf.${name}`, transmitterKeys(source)), count: (type, result) => this.#count(name, type, result),
        delivered: () => this.#streams.get(name)?.manager.delivered() ?? null, dropCached: this.#dropCached,
      });
      poller.start();
      this.#pollers.push(poller);
    }
  }

  /**
   * Start, restart or stop the stream managers of `config`'s sources with a `stream` block (at
   * start and on every reload; a source whose config did not change keeps its manager).
   */
  manageStreams(config: Config): void {
    const wanted = new Map(Object.entries(config.event_sources).filter(([, s]) => s.stream !== undefined));
    for (const [name, cur] of this.#streams) {
      const src = wanted.get(name);
      if (src === undefined || JSON.stringify(src) !== cur.json) { cur.manager.stop(); this.#streams.delete(name); }
    }
    for (const [name, src] of wanted) {
      if (this.#streams.has(name)) continue;
      const manager = new SsfStreamManager(name, src, {
        publisher: this.#publisher, logger: this.#log, authorization: this.#env[src.stream!.authorization_env] ?? '',
        pushAuthorization: src.push === undefined ? null : (this.#env[src.push.authorization_env] ?? null),
        eventsRequested: requestedEvents(src), count: (result) => this.#count(name, 'stream', result),
      });
      this.#streams.set(name, { manager, json: JSON.stringify(src) });
      manager.start();
    }
  }
}
