// The node:http2 listener (server.http2): h2c with prior knowledge, or h2 over TLS chosen by ALPN
// with HTTP/1.1 on the same port. Turns each request into a RequestContext (the same limits, path
// and Host readings as the uWS listener), runs the pipeline with an H2Relay as its sink, and
// bounds sessions against the HTTP/2 attack classes (node:http2 limits + SessionGuard).
// HTTP/2 streams are served on node:http2's core API ('stream' event, H2StreamResponse): its
// compat Http2ServerRequest/Response pair is never built; only HTTP/1.1 by ALPN uses node:http.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Http2SecureServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import { Socket, type AddressInfo } from 'node:net';
import type { Http2Config } from '../config/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import { unmetExpectation } from '../http/expectation.js';
import { lateRequestBody } from '../http/upstream-failure.js';
import { createPipeline, type Pipeline } from '../pipeline/index.js';
import type { Snapshot } from '../pipeline/snapshot.js';
import type { TLSSocket } from 'node:tls';
import { clientCertOf } from './client-cert.js';
import { CHECK_PATH, ExtAuthzService } from './ext-authz-service.js';
import { SlotRegistry } from '../slot-registry.js';
import { GrpcDeadlines } from './grpc-deadline.js';
import { H2Body } from './h2-body.js';
import { readRequest, type RequestHead } from './h2-request.js';
import { H2Relay, type H2RelayHost } from './h2-relay.js';
import { writeH2Document, writeH2Error, writeSocketError, type AnyResponse } from './h2-respond.js';
import { isGrpc } from './grpc-status.js';
import { applyLimits } from './h2-settings.js';
import { createH2Server, renewedTls, type RenewedTls } from './h2-server.js';
import { CertifiedConnections } from './client-ca-recheck.js';
import { capConnections, defaultMaxConnections } from './connection-cap.js';
import { protocolOf, recordAnswered, recordFinished, recordRefused, type H2RecordOptions } from './h2-access-log.js';
import { H2StreamResponse } from './h2-stream-response.js';
import { SessionGuard, type SessionCloseReason } from './session-guard.js';
import { prefaceDeadline } from './preface-deadline.js';
import { sessionIdle } from './session-idle.js';
import { performance } from 'node:perf_hooks';

export interface H2ListenerOptions extends H2RecordOptions {
  config: Http2Config;
  /** TLS key passphrase (from tls.passphrase_env). */
  passphrase?: string;
  /** A response head arriving under `current`, newer than the relay's snapshot: true when `current` refused it (node/ws WsProxy.refusedAtStart). */
  refusedByReload?: (relay: H2Relay, current: Snapshot) => boolean;
}

/** Requests by protocol as the client spoke it; sessions closed by the proxy by reason. */
interface Counters {
  [k: string]: number;
}

export class H2Listener implements H2RelayHost {
  private readonly server: Http2Server | Http2SecureServer;
  private readonly sessions = new Set<ServerHttp2Session>();
  /** In-flight requests; also watched by node/ws to end streamed responses on revocation. */
  readonly active = new SlotRegistry<H2Relay>('slot');
  /** Requests whose body is still arriving (swept for the request timeout). Neither is a Set: node/slot-registry.ts. */
  private readonly bodies = new SlotRegistry<H2Relay>('bodySlot');
  /** Responses the client's side holds back (swept for server.http2.stalled_response_ms). */
  private readonly stalls = new SlotRegistry<H2Relay>('stallSlot');
  private readonly counters: Counters = {
    'http2.requests_h2_total': 0, 'http2.requests_h2c_total': 0, 'http2.requests_http1_total': 0,
    'http2.sessions_total': 0, 'http2.sessions_closed_rapid_reset_total': 0, 'http2.sessions_closed_ping_flood_total': 0,
    'http2.sessions_closed_settings_flood_total': 0, 'http2.sessions_closed_protocol_error_total': 0, 'http2.sessions_closed_idle_total': 0,
    'http2.sessions_closed_preface_timeout_total': 0, 'http2.sessions_closed_tls_handshake_timeout_total': 0,
    'http2.request_timeouts_total': 0, 'http2.client_certificates_refused_total': 0, 'http2.connections_refused_total': 0,
    'http2.grpc_deadline_before_response_total': 0, 'http2.grpc_deadline_streaming_total': 0,
    'http2.request_bodies_buffered_total': 0, 'http2.request_body_buffer_overflow_total': 0, 'http2.request_body_buffer_share_total': 0,
  };
  /** gRPC calls bounded by their grpc-timeout (one shared timer). */
  private readonly deadlines = new GrpcDeadlines();
  private pipeline: Pipeline | null = null;
  private pipelineSnap: Snapshot | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private draining = false;
  private drainResolve: (() => void) | null = null;
  snapshot: Snapshot;
  port = 0;
  readonly tls: boolean;
  /** Client certificates are asked for (server.http2.tls.client_ca_file). */
  private readonly mtls: boolean;
  /** Open connections with a verified client certificate: cut when a reload's CA bundle no longer trusts them. */
  private readonly certified = new CertifiedConnections();
  /** Digest of the files the TLS context in use was made from (h2-server.ts renewedTls); null: h2c. */
  private tlsServing: string | null;
  /** Envoy ext_authz gRPC Check (server.decision.grpc), null when off. Read at start. */
  private readonly extAuthz: ExtAuthzService | null;

  constructor(snapshot: Snapshot, private readonly opts: H2ListenerOptions) {
    this.snapshot = snapshot;
    const c = opts.config;
    const limits = snapshot.config.server.limits;
    this.tls = c.tls !== undefined;
    const built = createH2Server(c, limits, opts.passphrase, () => { this.counters['http2.client_certificates_refused_total']!++; }, this.certified);
    this.server = built.server;
    this.mtls = built.mtls;
    this.tlsServing = built.tlsDigest;
    this.extAuthz = ExtAuthzService.create(snapshot.config.server.decision, {
      logger: opts.logger, accessLog: opts.accessLog, addSource: (src) => opts.metrics.addSource(src), authDecision: (reason) => opts.metrics.decision(reason),
    });
    applyLimits(this.server, limits, c);
    const maxConnections = c.max_connections ?? defaultMaxConnections();
    capConnections(this.server, maxConnections, () => { this.counters['http2.connections_refused_total']!++; },
      (refused) => opts.logger.warn({ max_connections: maxConnections, refused }, 'http2 connections refused at server.http2.max_connections'));
    this.server.on('session', (s: ServerHttp2Session) => this.onSession(s));
    // a TLS handshake not done within preface_timeout_ms (h2-server.ts handshakeTimeout): node destroys the socket, we count it
    if (this.tls) this.server.on('tlsClientError', (err: NodeJS.ErrnoException) => { if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.counters['http2.sessions_closed_tls_handshake_timeout_total']!++; });
    if (c.tls !== undefined && c.allow_http1) {
      // HTTP/1.1 by ALPN arrives as 'request' only; adding that listener makes node:http2 serve
      // every HTTP/2 stream through its compat wrappers too — that 'stream' listener is removed
      // node:http answers an unmet Expect 417 itself, unlogged, unless 'checkExpectation' is heard: readRequest refuses it
      for (const ev of ['request', 'checkExpectation']) this.server.on(ev, (req: IncomingMessage, res: ServerResponse) => this.handle(http1Head(req), res, req, req.socket));
      // HTTP/1.1 CONNECT: node:http hands over the socket ('connect'; without a listener it closes it without a word)
      this.server.on('connect', (req: IncomingMessage, socket: Duplex) => this.refuseConnect(req, socket));
      this.server.removeAllListeners('stream');
    }
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => this.onStream(stream, headers, rawHeaders));
    opts.metrics.addSource(() => ({ ...this.counters, 'http2.sessions_open': this.sessions.size }));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${this.opts.config.listen.host}:${this.opts.config.listen.port} (http2): ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(this.opts.config.listen.port, this.opts.config.listen.host, () => {
        this.server.off('error', onError);
        this.port = (this.server.address() as AddressInfo).port;
        this.sweeper = setInterval(() => this.sweep(), 250);
        this.sweeper.unref();
        resolve(this.port);
      });
    });
  }

  /** Stop accepting, GOAWAY every session; resolve when in-flight requests finished or after `drainMs`. */
  async drain(drainMs: number): Promise<void> {
    this.draining = true;
    this.server.close();
    for (const s of this.sessions) { try { s.close(); } catch { /* gone */ } }
    // Checks being judged (node/http2/ext-authz-service) are answered within the same drainMs
    const checks = this.extAuthz?.idle(drainMs);
    if (this.active.size > 0) {
      await new Promise<void>((resolve) => { this.drainResolve = resolve; setTimeout(resolve, drainMs).unref(); });
    }
    await checks;
    for (const r of [...this.active]) r.shutdown();
    for (const s of this.sessions) s.destroy();
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.deadlines.close();
  }

  // ---- sessions ------------------------------------------------------------
  private onSession(s: ServerHttp2Session): void {
    // h2c: node:http2 still builds a session on a connection capConnections destroyed; it is no session
    if (s.destroyed || s.socket?.destroyed === true) return;
    this.sessions.add(s);
    this.counters['http2.sessions_total']!++;
    const guard = new SessionGuard(s, this.opts.config.flood, (reason: SessionCloseReason) => {
      this.counters[`http2.sessions_closed_${reason}_total`]!++;
      this.opts.logger.warn({ reason, client: s.socket?.remoteAddress }, 'http2 session closed by the proxy');
    });
    s.on('stream', (stream) => guard.watch(stream));
    s.on('close', () => this.sessions.delete(s));
    // node:http2 reports its own limits (invalid frames, rejected streams, flood of queued frames) as session errors
    s.on('error', (err: NodeJS.ErrnoException) => {
      // node:http2's own limits end a session with ERR_HTTP2_*; a client that just drops the connection (ECONNRESET) is not counted
      if (guard.closedFor === null && err.code?.startsWith('ERR_HTTP2') === true) { guard.closedFor = 'protocol_error'; this.counters['http2.sessions_closed_protocol_error_total']!++; }
      this.opts.logger.info({ code: err.code, client: s.socket?.remoteAddress }, 'http2 session error');
    });
    s.on('frameError', () => { /* counted by nghttp2 against maxSessionInvalidFrames */ });
    sessionIdle(s, this.opts.config.idle_timeout_ms, () => guard.close('idle'));
    // the client's preface and first SETTINGS by preface_timeout_ms, else its max_connections slot is
    // freed now: before, a connection that sent nothing held it for idle_timeout_ms
    prefaceDeadline(s, this.opts.config.preface_timeout_ms, () => guard.close('preface_timeout'));
  }

  // ---- H2RelayHost -----------------------------------------------------------
  finished(relay: H2Relay): void {
    this.active.delete(relay);
    this.opts.metrics.inflightH2 = this.active.size;
    recordFinished(relay, this.opts);
    if (this.draining && this.active.size === 0 && this.drainResolve !== null) this.drainResolve();
  }

  upstreamError(upstream: string, kind: string): void { this.opts.metrics.upstreamError(upstream, kind); }
  decision(reason: string | null): void { this.opts.metrics.decision(reason); }
  bodyEnded(relay: H2Relay): void { this.bodies.delete(relay); }
  bodyPlanned(plan: 'buffer' | 'overflow' | 'share'): void {
    if (plan === 'buffer') { this.counters['http2.request_bodies_buffered_total']!++; return; }
    this.counters['http2.request_body_buffer_overflow_total']!++;
    if (plan === 'share') this.counters['http2.request_body_buffer_share_total']!++;
  }
  deadlineExceeded(_relay: H2Relay, streaming: boolean): void { this.counters[streaming ? 'http2.grpc_deadline_streaming_total' : 'http2.grpc_deadline_before_response_total']!++; }
  /** A reloaded snapshot: its header limits reach the sessions and HTTP/1.1 connections opened from now on (h2-settings.ts). */
  useSnapshot(next: Snapshot): void {
    applyLimits(this.server, next.config.server.limits, this.opts.config);
    this.snapshot = next;
  }
  /**
   * Reload, step 1: the TLS files (read at start by name) read again; null for h2c, and when they are
   * the bytes of the context in use. Throws `server.http2.tls.…: why` when they cannot serve.
   */
  readTls(): RenewedTls | null { return this.opts.config.tls === undefined ? null : renewedTls(this.opts.config.tls, this.opts.passphrase, this.tlsServing); }
  /**
   * Reload, step 2: connections from now on shake hands with `tls` (certificate, key, client CAs; new
   * session ticket keys: no session resumes across it); open ones keep theirs, but one whose client
   * certificate the new CA bundle does not trust is closed now.
   */
  useTls(tls: RenewedTls): void {
    (this.server as Http2SecureServer).setSecureContext(tls.context);
    this.tlsServing = tls.digest;
    if (!this.mtls || tls.context.ca === undefined) return;
    const cut = this.certified.cutUntrusted(tls.context.ca as Buffer);
    if (cut === 0) return;
    this.counters['http2.client_certificates_refused_total']! += cut;
    this.opts.logger.warn({ connections: cut }, 'server.http2.tls.client_ca_file: connections whose client certificate the new CA bundle does not trust closed');
  }
  refusedByReload(relay: H2Relay): boolean { return relay.snap !== this.snapshot && this.opts.refusedByReload?.(relay, this.snapshot) === true; }
  stalled(relay: H2Relay, on: boolean): void { if (on) this.stalls.add(relay); else this.stalls.delete(relay); }

  private sweep(): void {
    if (this.stalls.size !== 0) {
      const cutoff = performance.now() - this.opts.config.stalled_response_ms;
      for (const relay of this.stalls) if (relay.stalledSince < cutoff) relay.stallTimedOut(); // finish() unregisters it
    }
    if (this.bodies.size === 0) return;
    const now = performance.now();
    for (const relay of this.bodies) {
      if (relay.body !== null && relay.body.deadline < now) {
        this.bodies.delete(relay);
        const f = lateRequestBody(relay.upstream?.name ?? null, relay.body.heldBack, relay.snap.config.server.timeouts.request_ms); // 408, or 504: the upstream did not take it
        if (f.metric === null) this.counters['http2.request_timeouts_total']!++; else this.upstreamError(relay.upstream!.name, f.metric);
        relay.failRequestBody(f.error, f.reason);
      }
    }
  }

  // ---- requests --------------------------------------------------------------

  /** One HTTP/2 stream: the core API's head, answered through an H2StreamResponse. */
  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    // a stream error (client reset, write after close) is reported by 'close'; unhandled it would end the process
    stream.on('error', noop);
    const res = new H2StreamResponse(stream);
    const method = headers[':method'];
    const session = stream.session;
    const head: RequestHead = {
      h2: true, method, url: headers[':path'], rawHeaders, remoteAddress: session?.socket?.remoteAddress ?? '',
      endAfterHeaders: stream.endAfterHeaders, contentType: headers['content-type'],
    };
    // CONNECT (no :path, RFC 9113 §8.5) asks for a tunnel: never proxied (405); another expectation than 100-continue is refused by readRequest (417)
    if (method === 'CONNECT') { this.reject(head, res, connectRefused(), performance.now(), false, isGrpc(head.contentType)); return; }
    if (headers.expect !== undefined && !unmetExpectation(headers.expect) && !stream.destroyed) stream.additionalHeaders({ ':status': 100 });
    this.handle(head, res, stream, session ?? null);
  }

  /** `body`: where the request body is read from; `conn`: the client certificate's cache key (session or socket). */
  private handle(req: RequestHead, res: AnyResponse, body: Readable, conn: object | null): void {
    try {
      this.handleUnsafe(req, res, body, conn);
    } catch (err) {
      this.opts.logger.error({ err }, 'http2 request handler failed');
      try { writeH2Error(res, proxyError('PORTCULLIS_ERR_INTERNAL', 'internal error'), this.snapshot.realm, false, false, this.snapshot.policyHeader); } catch { /* answered or gone */ }
    }
  }

  private handleUnsafe(req: RequestHead, res: AnyResponse, body: Readable, conn: object | null): void {
    const start = performance.now();
    const snap = this.snapshot;
    this.counters[REQUESTS_BY_PROTOCOL[protocolOf(res)]]!++;
    const cert = this.mtls && conn !== null ? clientCertOf(conn, tlsSocketOf(conn)) : undefined;
    // a certificate that did not verify (or a connection already closed): closed unanswered, nothing forwarded
    if (cert === false) { closeConnection(conn!); return; }
    // an Envoy ext_authz Check judges the original request it reports, not this call (before routing; HTTP/2 only)
    if (this.extAuthz !== null && req.url === CHECK_PATH && !this.draining && 'stream' in res) {
      return this.extAuthz.handle(req, res, snap, this.pipelineOf(snap), start);
    }
    const r = readRequest(req, snap, this.tls, cert);
    // gRPC needs HTTP/2: HTTP/1.1 by ALPN with `application/grpc` is refused as on the main listener
    // (its HTTP status; Connection: close with its body unread), not with a trailers-only 200
    const grpc = req.h2 && isGrpc(req.contentType);
    const head = req.method === 'HEAD';
    if (this.draining) return this.reject(req, res, proxyError('PORTCULLIS_ERR_SHUTTING_DOWN', 'instance is shutting down', { retryAfter: 1 }), start, head, grpc);
    if (r.kind === 'refused') return this.reject(req, res, r.error, start, head, grpc);
    if (r.kind === 'well-known') return this.document(req, res, r.doc, start, head);
    const ctx = r.ctx;
    const relay = new H2Relay(res, this, snap, ctx, start, grpc);
    this.active.add(relay);
    this.opts.metrics.inflightH2 = this.active.size;
    if (grpc) relay.withDeadline(this.deadlines);
    if (r.hasBody) {
      relay.setBody(new H2Body(body, relay, start + snap.config.server.timeouts.request_ms, r.contentLength, snap.config.server.limits.max_body_bytes));
      this.bodies.add(relay);
    }
    this.pipelineOf(snap).run(ctx, relay);
  }

  /** HTTP/1.1 CONNECT on the TLS port: 405 and the connection closed; nothing is read from it or forwarded. */
  private refuseConnect(req: IncomingMessage, socket: Duplex): void {
    socket.on('error', noop);
    const start = performance.now();
    const err = connectRefused();
    const status = writeSocketError(socket, err, this.snapshot.realm, this.snapshot.policyHeader);
    recordRefused(http1Head(req), 'http/1.1', err, status, start, this.snapshot, this.opts);
  }

  /** The proxy's own JWKS or discovery document: metrics, trace and the access log line as on the main listener. */
  private document(req: RequestHead, res: AnyResponse, doc: { readonly body: string; readonly cacheControl: string }, start: number, head: boolean): void {
    const bytes = writeH2Document(res, doc.body, doc.cacheControl, head, this.snapshot.policyHeader);
    recordAnswered(req, protocolOf(res), { route: '(well-known)', status: 200, reason: null, bytesOut: bytes }, start, this.snapshot, this.opts);
  }

  /** Answer a request refused before routing (limits, bad bytes, no route, draining): metrics and the access log line. */
  private reject(req: RequestHead, res: AnyResponse, err: ProxyError, start: number, head: boolean, grpc: boolean): void {
    const status = writeH2Error(res, err, this.snapshot.realm, head, grpc, this.snapshot.policyHeader);
    recordRefused(req, protocolOf(res), err, status, start, this.snapshot, this.opts);
  }

  private pipelineOf(snap: Snapshot): Pipeline {
    if (this.pipelineSnap !== snap) {
      this.pipeline = createPipeline(snap, { logger: this.opts.logger });
      this.pipelineSnap = snap;
    }
    return this.pipeline!;
  }
}

/** The answer to CONNECT on either protocol: the proxy relays HTTP requests, it opens no tunnels. */
function connectRefused(): ProxyError {
  return proxyError('PORTCULLIS_ERR_CONNECT_REFUSED', 'CONNECT asks for a tunnel: this proxy relays HTTP requests only');
}

/** The per-protocol request counter's key (no string built per request). */
const REQUESTS_BY_PROTOCOL = { h2: 'http2.requests_h2_total', h2c: 'http2.requests_h2c_total', 'http/1.1': 'http2.requests_http1_total' } as const;

function noop(): void { /* reported elsewhere */ }

/** The TLS socket of a client-certificate cache key: an HTTP/2 session's, or the HTTP/1.1 socket itself. */
function tlsSocketOf(conn: object): TLSSocket {
  return (conn instanceof Socket ? conn : (conn as ServerHttp2Session).socket) as TLSSocket;
}

/**
 * Close a connection whose requests must not be served. An HTTP/2 session is destroyed itself: its
 * `socket` is node:http2's proxy object, whose destroy() throws ERR_HTTP2_NO_SOCKET_MANIPULATION.
 */
function closeConnection(conn: object): void {
  if (conn instanceof Socket) conn.destroy();
  else (conn as ServerHttp2Session).destroy();
}

/** The head of an HTTP/1.1 request on the TLS port (ALPN http/1.1). */
function http1Head(req: IncomingMessage): RequestHead {
  return {
    h2: false, method: req.method, url: req.url, rawHeaders: req.rawHeaders, remoteAddress: req.socket?.remoteAddress ?? '',
    endAfterHeaders: false, contentType: req.headers['content-type'], hostRequired: req.httpVersion === '1.1', httpVersion: req.httpVersion,
  };
}
