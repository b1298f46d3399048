// The client-facing uWS listener: reads the request synchronously, applies limits (request-framing.ts)
// and path normalisation, routes, runs the pipeline stages and hands the request to
// a Relay for forwarding. The handler never throws into uWS (that aborts the process).
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { bindBeside, renewedTlsApp, TlsRenewals } from './listener-tls.js';
import { proxyError, type ProxyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RequestMetrics } from '../metrics/index.js';
import { createPipeline, forwardedClient, type Pipeline, type RequestContext, type UpstreamRequest } from '../pipeline/index.js';
import { Relay, type RelayHost } from './relay.js';
import { bufferedBodyBytes } from './body-buffer.js';
import { SlotRegistry } from '../slot-registry.js';
import { endRelayTrace } from './request-trace.js';
import { keepAccessLine } from './access-sampling.js';
import { accessLineWriter, type AccessLine } from './access-line.js';
import { RequestFraming } from './request-framing.js';
import { listenOn, listenRebindable } from './listen-port.js';
import { routingHost } from '../routing/host-normalize.js';
import { normalizePath } from '../routing/path-normalize.js';
import { AMBIGUOUS } from '../routing/route-table.js';
import { routeMiss } from '../routing/route-miss.js';
import { liveJudge } from './live-reauthorize.js';
import { HeaderCollector } from '../routing/request-bytes.js';
import { writeClosingError, writeError } from './respond.js';
import { answerKeepAlive, handlerScope } from '../handler-scope.js';
import type { Snapshot } from '../pipeline/snapshot.js';
import { writeWellKnown } from '../s2s/index.js';
import type { TokenState } from '../contracts/index.js';
import { WsProxy, verifyAndAuthorize } from '../ws/index.js';
import type { EventEndpoints } from '../events/index.js';
import { DecisionEndpoints } from '../decision/index.js';
import { clientAddress } from './client-address.js';
import { errorReason, loggedRawPath } from './refusal-fields.js';
import { enterRun, leaveRun, runNow } from '../run-clock.js';

const headersIn = new HeaderCollector();
const framing = new RequestFraming();

export interface ListenerOptions {
  host: string;
  port: number;
  tls?: { cert_file: string; key_file: string; passphrase?: string };
  logger: Logger;
  metrics: RequestMetrics;
  accessLog: boolean;
  /** Revocations for closing WebSockets and streamed responses (node/ws); null = expiry only. */
  tokenState?: TokenState | null;
  /** Identity-provider event endpoints (node/events), answered before routing; none = no such paths. */
  events?: EventEndpoints | null;
  /** Share the port with other listeners (SO_REUSEPORT: `--workers`); default false — a port another process holds fails the bind. */
  sharedPort?: boolean;
}

export class Listener implements RelayHost {
  private app: TemplatedApp;
  private socket: us_listen_socket | null = null;
  private readonly bodies = new SlotRegistry<Relay>('bodySlot');
  /** In-flight relays; not a Set (node/slot-registry.ts: a Set's rehash chain kept requests alive through scavenges). */
  private readonly active = new SlotRegistry<Relay>('slot');
  /** Request bodies answered 408 by the sweeper; slow bodies kept from uWS's own cut (Relay.keepBodyAlive); bodies read whole (body-buffer.ts). */
  private readonly bodyCounters = { request_timeouts: 0, uws_body_timer_rearms: 0, access_lines_sampled_out: 0, buffer: 0, overflow: 0, share: 0 };
  /** server.tls renewals: counters, the apps they replaced, the replaced listen socket still closing. */
  private readonly renewals = new TlsRenewals();
  private readonly accessLine: AccessLine;
  private sweeper: NodeJS.Timeout | null = null;
  /** A stop's drain has begun (drain()): requests on open connections are still served, with `Connection: close`. */
  draining = false;
  /** The drain is over; the sockets close within this turn. */
  private drained = false;
  private drainResolve: (() => void) | null = null;
  // The request being handled synchronously, for reject()'s access log line (no object per request).
  private reqStart = 0;
  private reqMethod = '';
  private reqPath = '';
  /** The pipeline of `pipelineSnap`, rebuilt when a reload swaps the snapshot. */
  private pipeline: Pipeline | null = null;
  private pipelineSnap: Snapshot | null = null;
  snapshot: Snapshot;
  port = 0;
  readonly tls: boolean;
  /** Proxied WebSockets and the live-connection registry (node/ws). */
  readonly ws: WsProxy;
  /** Forward-auth endpoints (node/decision), null when none is configured. Read at start. */
  private readonly decisions: DecisionEndpoints | null;

  constructor(snapshot: Snapshot, private readonly opts: ListenerOptions) {
    this.snapshot = snapshot;
    this.tls = opts.tls !== undefined;
    this.accessLine = accessLineWriter(opts.logger);
    this.app = opts.tls !== undefined ? this.renewals.first(opts.tls, snapshot.config.server.tls) : uWS.App();
    // live sockets of introspected tokens are verified again by the current config's token check
    this.ws = new WsProxy({ settings: snapshot.config.server.websocket, tokenState: opts.tokenState ?? null, logger: opts.logger, recheck: (ctx) => verifyAndAuthorize(this.snapshot.auth, ctx) });
    this.ws.watchStreams(this.active);
    opts.metrics.addSource(() => this.ws.stats());
    opts.metrics.addSource(() => ({
      'listener.request_timeouts_total': this.bodyCounters.request_timeouts,
      'listener.uws_body_timer_rearms_total': this.bodyCounters.uws_body_timer_rearms,
      'listener.access_lines_sampled_out_total': this.bodyCounters.access_lines_sampled_out,
      'listener.request_bodies_buffered_total': this.bodyCounters.buffer, 'listener.request_body_buffer_overflow_total': this.bodyCounters.overflow, 'listener.request_body_buffer_share_total': this.bodyCounters.share, 'listener.request_body_buffer_bytes': bufferedBodyBytes(), // process-wide (both listeners' bodies): reported here once
      ...this.renewals.stats(),
    }));
    this.decisions = DecisionEndpoints.create(snapshot.config.server.decision, {
      logger: opts.logger, accessLog: opts.accessLog, addSource: (src) => opts.metrics.addSource(src),
      writeError: (res, err, close, head) => writeClosingError(res, err, this.snapshot.realm, close, head, this.snapshot.policyHeader, true),
      authDecision: (reason) => opts.metrics.decision(reason),
      current: () => ({ snap: this.snapshot, pipeline: this.pipelineOf(this.snapshot) }), draining: () => this.draining,
    });
    this.wire(this.app);
  }

  private wire(app: TemplatedApp): void {
    // upgrade requests (GET with a Sec-WebSocket-Key) come here first, with their socket context
    app.ws('/*', this.ws.behavior((res, req, context) => this.handle(res, req, context)));
    app.any('/*', (res, req) => this.handle(res, req));
  }

  /** Reload, step 1: server.tls's files (read at start by name) read again into a new app; null without TLS or when they are the bytes served now. Throws `server.tls.…: why` when they cannot serve. */
  readTls(): TemplatedApp | null {
    if (this.opts.tls === undefined) return null;
    try { return renewedTlsApp(this.opts.tls, this.snapshot.config.server.tls, this.renewals); } catch (err) { this.renewals.counters.refused++; throw err; }
  }

  /**
   * Reload, step 2: `app` (readTls) bound on the port beside the running app, whose listen socket
   * then closes (afterSwap): handshakes from then on get the renewed certificate, open connections
   * stay on the app they were accepted by. A bind that fails keeps the running certificate (logged, counted).
   */
  useTls(app: TemplatedApp): void {
    if (this.socket === null || this.draining) return;
    this.wire(app);
    const bound = bindBeside(app, this.opts.host, this.port);
    if (bound === false) {
      this.renewals.counters.rebind_failures++;
      return this.opts.logger.error({ port: this.port }, 'server.tls: the renewed certificate could not be bound beside the running one; the running certificate is still served');
    }
    this.renewals.replaced(this.app, this.socket, app);
    [this.socket, this.app] = [bound, app];
  }

  /** Resolves once the listen socket a renewal replaced is closed (no new connection can reach the old certificate); null when none is closing. */
  afterSwap(): Promise<void> | null { return this.renewals.pending; }

  /** Bind (and server.decision.unix_socket); resolves with the bound port. Rejects when either cannot be bound. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      // a TLS listener binds so that a renewed certificate can be bound beside it (useTls)
      (this.tls && this.opts.sharedPort !== true ? listenRebindable : listenOn)(this.app, this.opts.host, this.opts.port, this.opts.sharedPort === true, (s) => {
        if (s === false) { reject(new Error(`server.listen: cannot listen on ${this.opts.host}:${this.opts.port} (another process holds the port, or the address is not this host's)`)); return; }
        this.socket = s;
        this.port = uWS.us_socket_local_port(s);
        this.sweeper = setInterval(() => this.sweep(), 250).unref(); // one coarse timer for every request body deadline
        (this.decisions?.listenSocket() ?? Promise.resolve()).then(() => resolve(this.port), reject);
      });
    });
  }

  /** Stop accepting; resolve when in-flight requests and decisions finished or after `drainMs`. */
  async drain(drainMs: number): Promise<void> {
    this.draining = true;
    const until = performance.now() + drainMs;
    if (this.socket !== null) { uWS.us_listen_socket_close(this.socket); this.socket = null; }
    this.ws.closeAll(); // a WebSocket never finishes by itself: 1001 at once
    // decisions being judged (node/decision) and identity-provider events (node/events) are answered too, within
    // the same drainMs; so are requests, decisions and events asked on open connections meanwhile: waiting for
    // one kind, another may have started
    const events = this.opts.events ?? null;
    for (let left = drainMs; left > 0; left = until - performance.now()) {
      const decisions = this.decisions?.drain(left); // also stops its unix socket
      if (this.active.size > 0) await new Promise<void>((resolve) => { this.drainResolve = resolve; setTimeout(resolve, left).unref(); });
      await decisions;
      await events?.idle(until - performance.now());
      if (this.active.size === 0 && this.decisions?.busy !== true && events?.busy !== true) break;
    }
    for (const relay of [...this.active]) relay.shutdown();
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.ws.stop();
    // an answer written in this turn (the last event's, from a promise callback) leaves with uWS's loop
    // iteration: closing the sockets now dropped it (the client saw the connection close without it);
    // a request read meanwhile is not served (pools and components close next): its connection is closed
    this.drained = true;
    this.decisions?.closeAll(); // the same for the unix socket's connections
    await Promise.all([new Promise((r) => setImmediate(r)), this.renewals.pending]); // a replaced listen socket closes before its app
    for (const app of [...this.renewals.formerApps, this.app]) (app as unknown as { close?: () => void }).close?.();
  }

  get inflight(): number { return this.active.size; }

  // ---- RelayHost ----------------------------------------------------------
  get accessLog(): boolean { return this.opts.accessLog; }

  finished(relay: Relay): void {
    this.active.delete(relay);
    const m = this.opts.metrics;
    m.inflight = this.active.size;
    // the upstream read's one clock reading (node/run-clock.ts); answered in its own handler run, a fresh one
    const end = runNow();
    const ms = (end === relay.start ? performance.now() : end) - relay.start;
    m.observe(relay.ctx.route.name, relay.status, ms / 1000, relay.bytesIn, relay.bytesOut);
    const reason = relay.errorKind ?? (relay.errorCode !== null ? errorReason(relay.errorCode) : null);
    if (relay.outcome !== 'complete') m.incomplete(relay.ctx.route.name, relay.outcome, reason ?? 'unknown');
    const tr = relay.ctx.trace;
    if (tr != null) endRelayTrace(relay.snap.tracer!, tr, relay, reason, performance.now());
    if (this.opts.accessLog && !keepAccessLine(relay)) this.bodyCounters.access_lines_sampled_out++;
    else if (this.opts.accessLog) this.accessLine(relay, reason, ms);
    if (this.draining && this.active.size === 0 && this.drainResolve !== null) this.drainResolve();
  }

  /**
   * After a reload: every proxied WebSocket and every response still streaming (this listener's
   * and the HTTP/2 one's) is judged again by the new config (live-reauthorize.ts); those no longer
   * allowed are closed 1008 / cut. Returns how many were ended.
   */
  reauthorizeLive(): number {
    return this.ws.reauthorize(liveJudge(this.snapshot));
  }

  /** A response head arriving under `current`, newer than its request's snapshot (also the HTTP/2 listener's): answered 403 and true when `current` refuses it. */
  refusedByReload(relay: Parameters<WsProxy['refusedAtStart']>[0], current = this.snapshot): boolean { return this.ws.refusedAtStart(relay, liveJudge(current)); }
  upstreamError(upstream: string, kind: string): void { this.opts.metrics.upstreamError(upstream, kind); }
  /** An access-log line left out by its route's sample_allowed (the HTTP/2 listener's too: one counter). */
  accessLineSampledOut(): void { this.bodyCounters.access_lines_sampled_out++; }
  headHeld(): void { this.opts.metrics.headsHeld++; }
  decision(reason: string | null): void { this.opts.metrics.decision(reason); }

  upgrade(relay: Relay, req: UpstreamRequest): boolean {
    const snap = this.snapshot;
    // authorized under a snapshot a reload has since replaced: the new one must allow the socket too
    return this.ws.forward(relay, req.upstream, req.path, req.headers, req.hostIdx, snap.config.server.trust_forwarded, relay.snap === snap ? null : liveJudge(snap));
  }

  bodyStarted(relay: Relay): void { this.bodies.add(relay); }
  bodyEnded(relay: Relay): void { this.bodies.delete(relay); }
  bodyPlanned(plan: 'buffer' | 'overflow' | 'share'): void { if (plan === 'share') { this.bodyCounters.overflow++; this.bodyCounters.share++; } else this.bodyCounters[plan]++; }

  private sweep(): void {
    if (this.bodies.size === 0) return;
    const now = performance.now();
    for (const relay of this.bodies) {
      if (relay.bodyDeadline < now) {
        this.bodies.delete(relay);
        if (relay.bodyDeadlinePassed()) this.bodyCounters.request_timeouts++; // 408, else 504: the upstream did not take it
      } else if (relay.keepBodyAlive(now)) {
        this.bodyCounters.uws_body_timer_rearms++;
      }
    }
  }

  // ---- the request handler ---------------------------------------------------

  private handle(res: HttpResponse, req: HttpRequest, wsContext?: unknown): void {
    handlerScope.inside = true; // until the finally: closing answers wait for uWS's parse loop
    enterRun(); // one clock reading for the request's start and its upstream write (node/run-clock.ts)
    try {
      this.handleUnsafe(res, req, wsContext);
    } catch (err) {
      this.opts.logger.error({ err }, 'request handler failed');
      try { res.cork(() => writeError(res, proxyError('PORTCULLIS_ERR_INTERNAL', 'internal error'), this.snapshot.realm, true, false, this.snapshot.policyHeader)); } catch { /* already answered or aborted */ }
    } finally { handlerScope.inside = false; leaveRun(); }
  }

  /** Answer a request refused before it became an Relay (limits, bad bytes, no route, draining): metrics and its access log line. */
  private reject(res: HttpResponse, err: ProxyError, route: string, head: boolean): void {
    const client = this.opts.accessLog ? clientAddress(res) : ''; // read now: uWS invalidates res once it ends
    const status = writeClosingError(res, err, this.snapshot.realm, true, head, this.snapshot.policyHeader); // after uWS's parse loop
    this.logEarly(route, status, errorReason(err.code), client);
  }

  /**
   * Metrics and access log line of a request answered inside the handler (no Relay). `headers`:
   * the request's own; an answer given later (an identity-provider event, after its body) passes
   * them, the module-level collector holding by then whichever request came last.
   */
  private logEarly(route: string, status: number, reason: string | null, peer: string, bytesOut = 0, headers: readonly string[] = headersIn.headers): void {
    const end = performance.now();
    const trusted = this.snapshot.config.server.trust_forwarded;
    const client = trusted ? forwardedClient(headers, peer, this.snapshot.config.server.trusted_hops) : peer;
    const ms = end - this.reqStart;
    this.opts.metrics.observe(route, status, ms / 1000, 0, bytesOut);
    // refused before it had a context: its trace (tracing on) starts and ends here
    const tracer = this.snapshot.tracer;
    const tr = tracer === null ? null : tracer.start(headers);
    if (tr !== null) {
      tracer!.end(tr, {
        method: this.reqMethod, route, path: loggedRawPath(this.reqPath), status, outcome: 'complete', reason, deny: null, client, peer: trusted ? peer : undefined, fingerprint: null, start: this.reqStart, end, upstream: null,
      });
    }
    if (!this.opts.accessLog) return;
    this.opts.logger.info({
      route, method: this.reqMethod, path: loggedRawPath(this.reqPath), status, outcome: 'complete',
      ...(reason !== null ? { reason } : {}),
      ms: Math.round(ms * 1000) / 1000, upstream_ms: null, bytes_in: 0, bytes_out: bytesOut, client, ...(trusted ? { peer } : {}), policy: this.snapshot.policyLabel,
      ...(tr !== null ? { trace_id: tr.traceId, span_id: tr.spanId } : {}),
    }, 'request');
  }

  /** `wsContext`: set for WebSocket upgrade requests (uWS socket context for res.upgrade). */
  private handleUnsafe(res: HttpResponse, req: HttpRequest, wsContext?: unknown): void {
    const start = runNow();
    const snap = this.snapshot;
    const limits = snap.config.server.limits;
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const head = method === 'HEAD';
    const rawPath = req.getUrl();
    const query = req.getQuery() ?? '';
    this.reqStart = start;
    this.reqMethod = method;
    this.reqPath = rawPath;

    // Headers: one flat array, size counted as sent ("name: value\r\n"); the
    // module-level collector avoids a closure per request.
    const headers: string[] = [];
    headersIn.start(headers);
    req.forEach(headersIn.collect);

    // During a stop's drain a request on a connection opened before is served (with `Connection: close`):
    // a 503 here was an error for a client that had only reused its keep-alive connection. A WebSocket
    // would outlive the drain: refused.
    if (this.drained) { res.close(); return; }
    if (this.draining && wsContext !== undefined) return this.reject(res, proxyError('PORTCULLIS_ERR_SHUTTING_DOWN', 'instance is shutting down', { retryAfter: 1 }), '(none)', head);
    const refused = framing.check(headersIn, rawPath, query, limits);
    if (refused !== null) return this.reject(res, refused, '(none)', head);
    const { hostHeader, contentLength, chunked, connectionNames } = framing;

    // decision endpoints judge the original request the edge reports, not this one (before routing)
    if (this.decisions !== null) {
      const ep = this.decisions.endpoint(rawPath);
      if (ep !== null) return this.decisions.handle(ep, res, { method, path: rawPath, query, headers, hasBody: contentLength > 0 || chunked, head, start }, snap, this.pipelineOf(snap));
    }
    const allowParams = snap.config.server.paths.allow_params;
    const path = normalizePath(rawPath, allowParams);
    if (path === null) {
      const why = !allowParams && rawPath.includes(';') ? 'path parameters (;) are not accepted (server.paths.allow_params)' : 'path is ambiguous or invalid after normalisation';
      return this.reject(res, proxyError('PORTCULLIS_ERR_PATH_AMBIGUOUS', why), '(none)', head);
    }
    // routed as virtual-host routers read it (case, one trailing dot, port); never guessed at
    const host = hostHeader === null ? '' : routingHost(hostHeader);
    if (host === null) return this.reject(res, proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'invalid Host header'), '(none)', head);
    // the proxy's own JWKS and discovery document (internal tokens), before any route
    if (snap.wellKnown !== null && (method === 'GET' || head) && path.startsWith('/.well-known/')) {
      const doc = snap.wellKnown(path);
      if (doc !== null) {
        const client = this.opts.accessLog ? clientAddress(res) : '';
        answerKeepAlive(res, () => writeWellKnown(res, doc, head, snap.policyHeader));
        this.logEarly('(well-known)', 200, null, client, doc.body.length);
        return;
      }
    }
    // identity-provider events (back-channel logout): their configured paths, before any route
    const event = this.opts.events?.match(snap.config, path) ?? null;
    if (event !== null) {
      const client = this.opts.accessLog ? clientAddress(res) : '';
      this.opts.events!.serve(res, event, method, headers, chunked ? -1 : Math.max(contentLength, 0), (status, result) => {
        this.reqStart = start; this.reqMethod = method; this.reqPath = rawPath;
        this.logEarly('(idp-event)', status, result === 'accepted' ? null : result, client, 0, headers);
      });
      return;
    }
    // every way an upstream family reads the path must select this same route
    const match = snap.table.resolve(method, host, path);
    if (match === AMBIGUOUS || match === null || !('route' in match)) return this.reject(res, routeMiss(match, method, path), '(none)', head);

    // uWS reads the address with a getpeername syscall per call (README "Limitations"): only when
    // X-Forwarded-For appends it, or the access log or a trace records it
    const recorded = this.opts.accessLog || snap.tracer !== null;
    const remoteAddress = snap.config.server.forwarded.x_forwarded_for === 'append' || recorded ? clientAddress(res) : '';
    // behind a trusted front proxy the log and spans name the client it appended to X-Forwarded-For
    const client = recorded && snap.config.server.trust_forwarded ? forwardedClient(headers, remoteAddress, snap.config.server.trusted_hops) : undefined;
    const ctx: RequestContext = {
      method, path, query, host, headers, remoteAddress, client, peer: null, secure: this.tls, connection: connectionNames,
      route: match.route, params: match.params, token: null, tokenSource: null, tokenScheme: 'bearer', checkedAuthorization: null, principal: null, denyReason: null, responseHeaders: null,
      trace: snap.tracer === null ? null : snap.tracer.start(headers),
    };
    const relay = new Relay(res, this, snap, ctx, start, limits.max_body_bytes);
    if (remoteAddress === '') ctx.peer = relay; // read only if an introspection call is charged to the client
    res.onAborted(() => relay.onAborted());
    this.active.add(relay);
    this.opts.metrics.inflight = this.active.size;
    if (contentLength > 0 || chunked) relay.expectBody(start + snap.config.server.timeouts.request_ms, chunked ? -1 : contentLength);
    if (match.route.config.websocket) {
      // RFC 6455 checks of an upgrade attempt; a valid one's bearer subprotocol becomes Authorization here
      const d = this.ws.accept(relay, wsContext);
      if (d !== null && d.kind === 'deny') {
        ctx.denyReason = d.reason;
        this.opts.metrics.decision(d.reason);
        return relay.sendError(d.error);
      }
    }

    // extract → authenticate → authorize → outbound token → forward (node/pipeline); the relay is its sink
    this.pipelineOf(snap).run(ctx, relay);
  }

  private pipelineOf(snap: Snapshot): Pipeline {
    if (this.pipelineSnap !== snap) {
      this.pipeline = createPipeline(snap, { logger: this.opts.logger });
      this.pipelineSnap = snap;
    }
    return this.pipeline!;
  }
}
