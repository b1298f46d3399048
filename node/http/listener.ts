// The client-facing uWS listener: reads the request synchronously, applies limits
// and path normalisation, routes, runs the pipeline stages and hands the request to
// an Exchange for forwarding. The handler never throws into uWS (that aborts the process).
import { hash } from 'node:crypto';
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { listenerCiphers } from '../config/tls-ciphers.js';
import { proxyError, type ErrorCode, type ProxyError } from '../errors.js';
import { Fingerprint, type Logger } from '../log.js';
import type { RequestMetrics } from '../metrics/index.js';
import { headerValue, type RequestContext, type StageResult } from '../pipeline/context.js';
import { forwardedQuery } from '../pipeline/index.js';
import { strippedRequestHeaders } from '../config/untrusted-headers.js';
import { Exchange, type ExchangeHost } from './exchange.js';
import { normalizedHostHeader, routingHost } from './host-normalize.js';
import { normalizePath, stripParams } from './path-normalize.js';
import { AMBIGUOUS } from '../routing/route-table.js';
import { visibleAscii } from './request-bytes.js';
import { writeError } from './respond.js';
import type { OutboundResult, Snapshot } from './snapshot.js';
import { writeWellKnown } from '../s2s/index.js';
import type { TokenState } from '../contracts/index.js';
import { WsProxy } from '../ws/index.js';

/**
 * Request headers never forwarded (hop-by-hop, RFC 9110 §7.6.1) — plus every header Connection names.
 * `expect` too: uWS already answered "100 Continue" to the client, and undici refuses the header (→ 502).
 */
const HOP_REQUEST = new Set(['content-length', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'expect', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

let collected: string[] = [];
let collectedBytes = 0;
/** Name of the first header whose value fails visibleAscii(), else null. */
let collectedBad: string | null = null;
function collect(k: string, v: string): void {
  collected.push(k, v);
  collectedBytes += k.length + v.length + 4;
  if (collectedBad === null && !visibleAscii(v)) collectedBad = k;
}

/** Access-log `reason` of the proxy's own error answer: the code without its prefix, lower-case (PORTCULLIS_ERR_ROUTE_NOT_FOUND → route_not_found). */
function errorReason(code: ErrorCode): string {
  return code.slice(15).toLowerCase();
}

/** A request path as logged for a request refused before normalisation: at most 512 characters. */
function loggedRawPath(p: string): string {
  return p.length > 512 ? `${p.slice(0, 512)}…` : p;
}

export interface ListenerOptions {
  host: string;
  port: number;
  tls?: { cert_file: string; key_file: string; passphrase?: string };
  logger: Logger;
  metrics: RequestMetrics;
  accessLog: boolean;
  /** Revocations for closing WebSockets and streamed responses (node/ws); null = expiry only. */
  tokenState?: TokenState | null;
}

export class Listener implements ExchangeHost {
  private app: TemplatedApp;
  private socket: us_listen_socket | null = null;
  private readonly bodies = new Set<Exchange>();
  private readonly active = new Set<Exchange>();
  /** Request bodies answered 408 by the sweeper; slow bodies kept from uWS's own cut (Exchange.keepBodyAlive). */
  private readonly bodyCounters = { request_timeouts: 0, uws_body_timer_rearms: 0 };
  private sweeper: NodeJS.Timeout | null = null;
  private draining = false;
  private drainResolve: (() => void) | null = null;
  // The request being handled synchronously, for reject()'s access log line (no object per request).
  private reqStart = 0;
  private reqMethod = '';
  private reqPath = '';
  snapshot: Snapshot;
  port = 0;
  readonly tls: boolean;
  /** Proxied WebSockets and the live-connection registry (node/ws). */
  readonly ws: WsProxy;

  constructor(snapshot: Snapshot, private readonly opts: ListenerOptions) {
    this.snapshot = snapshot;
    this.tls = opts.tls !== undefined;
    this.app = opts.tls !== undefined
      ? uWS.SSLApp({
        cert_file_name: opts.tls.cert_file, key_file_name: opts.tls.key_file, ...(opts.tls.passphrase !== undefined ? { passphrase: opts.tls.passphrase } : {}),
        // forward-secret AEAD suites only by default; server.tls.ciphers / min_version (README: TLS)
        ssl_ciphers: listenerCiphers(snapshot.config.server.tls ?? { min_version: 'TLS1.2' }),
      })
      : uWS.App();
    this.ws = new WsProxy({ settings: snapshot.config.server.websocket, tokenState: opts.tokenState ?? null, logger: opts.logger });
    this.ws.watchStreams(this.active);
    opts.metrics.addSource(() => this.ws.stats());
    opts.metrics.addSource(() => ({
      'listener.request_timeouts_total': this.bodyCounters.request_timeouts,
      'listener.uws_body_timer_rearms_total': this.bodyCounters.uws_body_timer_rearms,
    }));
    // upgrade requests (GET with a Sec-WebSocket-Key) come here first, with their socket context
    this.app.ws('/*', this.ws.behavior((res, req, context) => this.handle(res, req, context)));
    this.app.any('/*', (res, req) => this.handle(res, req));
  }

  /** Bind; resolves with the bound port. Rejects when the port cannot be bound. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.opts.host, this.opts.port, (s) => {
        if (s === false) { reject(new Error(`cannot listen on ${this.opts.host}:${this.opts.port}`)); return; }
        this.socket = s;
        this.port = uWS.us_socket_local_port(s);
        // One coarse timer for every request body deadline (no per-request setTimeout).
        this.sweeper = setInterval(() => this.sweep(), 250);
        this.sweeper.unref();
        resolve(this.port);
      });
    });
  }

  /** Stop accepting; resolve when in-flight requests finished or after `drainMs`. */
  async drain(drainMs: number): Promise<void> {
    this.draining = true;
    if (this.socket !== null) { uWS.us_listen_socket_close(this.socket); this.socket = null; }
    this.ws.closeAll(); // a WebSocket never finishes by itself: 1001 at once
    if (this.active.size > 0) {
      await new Promise<void>((resolve) => {
        this.drainResolve = resolve;
        setTimeout(resolve, drainMs).unref();
      });
    }
    for (const ex of [...this.active]) ex.shutdown();
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.ws.stop();
    (this.app as unknown as { close?: () => void }).close?.();
  }

  get inflight(): number {
    return this.active.size;
  }

  // ---- ExchangeHost ----------------------------------------------------------

  finished(ex: Exchange): void {
    this.active.delete(ex);
    const m = this.opts.metrics;
    m.inflight = this.active.size;
    const ms = performance.now() - ex.start;
    m.observe(ex.ctx.route.name, ex.status, ms / 1000, ex.bytesIn, ex.bytesOut);
    const reason = ex.errorKind ?? (ex.errorCode !== null ? errorReason(ex.errorCode) : null);
    if (ex.outcome !== 'complete') m.incomplete(ex.ctx.route.name, ex.outcome, reason ?? 'unknown');
    if (this.opts.accessLog) {
      this.opts.logger.info({
        route: ex.ctx.route.name, method: ex.ctx.method, path: ex.ctx.path, status: ex.status, outcome: ex.outcome,
        ...(reason !== null ? { reason } : {}),
        ms: Math.round(ms * 1000) / 1000, upstream_ms: ex.upstreamMs < 0 ? null : Math.round(ex.upstreamMs * 1000) / 1000,
        bytes_in: ex.bytesIn, bytes_out: ex.bytesOut, client: ex.ctx.remoteAddress,
        ...(ex.ctx.denyReason !== null ? { deny: ex.ctx.denyReason } : {}),
        ...(ex.ctx.principal !== null ? { sub: ex.ctx.principal.claims.sub, token: new Fingerprint(ex.ctx.principal.fingerprint) }
          : ex.ctx.token !== null ? { token: new Fingerprint(hash('sha256', ex.ctx.token, 'hex').slice(0, 16)) } : {}),
      }, 'request');
    }
    if (this.draining && this.active.size === 0 && this.drainResolve !== null) this.drainResolve();
  }

  /**
   * After a reload: every proxied WebSocket is judged again by the new config — the route
   * its request matches now and that route's policy for the principal it was authorized
   * with; those no longer allowed are closed 1008. The token is not verified again (its
   * revocation and expiry already end it). Returns how many were closed.
   */
  reauthorizeLive(): number {
    const snap = this.snapshot;
    return this.ws.reauthorize((ctx) => {
      const m = snap.table.resolve(ctx.method, ctx.host, ctx.path);
      if (m === null || m === AMBIGUOUS || !m.route.config.websocket) return false;
      if (m.route.policy === null) return true;
      if (ctx.principal === null) return false;
      return snap.auth.authorize({ ...ctx, route: m.route, params: m.params, denyReason: null }).kind === 'continue';
    });
  }

  upstreamError(upstream: string, kind: string): void {
    this.opts.metrics.upstreamError(upstream, kind);
  }

  headHeld(): void { this.opts.metrics.headsHeld++; }

  bodyStarted(ex: Exchange): void { this.bodies.add(ex); }
  bodyEnded(ex: Exchange): void { this.bodies.delete(ex); }

  private sweep(): void {
    if (this.bodies.size === 0) return;
    const now = performance.now();
    for (const ex of this.bodies) {
      if (ex.bodyDeadline < now) {
        this.bodies.delete(ex);
        this.bodyCounters.request_timeouts++;
        ex.failRequestBody(proxyError('PORTCULLIS_ERR_REQUEST_TIMEOUT', 'request body not received in time'), 'request_timeout');
      } else if (ex.keepBodyAlive(now)) {
        this.bodyCounters.uws_body_timer_rearms++;
      }
    }
  }

  // ---- the request handler ---------------------------------------------------

  private handle(res: HttpResponse, req: HttpRequest, wsContext?: unknown): void {
    try {
      this.handleUnsafe(res, req, wsContext);
    } catch (err) {
      this.opts.logger.error({ err }, 'request handler failed');
      try { res.cork(() => writeError(res, proxyError('PORTCULLIS_ERR_INTERNAL', 'internal error'), this.snapshot.realm, true)); } catch { /* already answered or aborted */ }
    }
  }

  /** Answer a request refused before it became an Exchange (limits, bad bytes, no route, draining): metrics and its access log line. */
  private reject(res: HttpResponse, err: ProxyError, route: string, head: boolean): void {
    // the address must be read before the response ends (uWS invalidates res then)
    const client = this.opts.accessLog ? Buffer.from(res.getRemoteAddressAsText()).toString() : '';
    const status = writeError(res, err, this.snapshot.realm, true, head);
    this.logEarly(route, status, errorReason(err.code), client);
  }

  /** Metrics and access log line of a request answered inside the handler (no Exchange). */
  private logEarly(route: string, status: number, reason: string | null, client: string, bytesOut = 0): void {
    const ms = performance.now() - this.reqStart;
    this.opts.metrics.observe(route, status, ms / 1000, 0, bytesOut);
    if (!this.opts.accessLog) return;
    this.opts.logger.info({
      route, method: this.reqMethod, path: loggedRawPath(this.reqPath), status, outcome: 'complete',
      ...(reason !== null ? { reason } : {}),
      ms: Math.round(ms * 1000) / 1000, upstream_ms: null, bytes_in: 0, bytes_out: bytesOut, client,
    }, 'request');
  }

  /** `wsContext`: set for WebSocket upgrade requests (uWS socket context for res.upgrade). */
  private handleUnsafe(res: HttpResponse, req: HttpRequest, wsContext?: unknown): void {
    const start = performance.now();
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
    collected = headers;
    collectedBytes = 0;
    collectedBad = null;
    req.forEach(collect);
    const headerBytes = collectedBytes;

    if (this.draining) return this.reject(res, proxyError('PORTCULLIS_ERR_SHUTTING_DOWN', 'instance is shutting down', { retryAfter: 1 }), '(none)', head);
    if (headerBytes > limits.max_header_bytes) return this.reject(res, proxyError('PORTCULLIS_ERR_HEADERS_TOO_LARGE', `request headers exceed ${limits.max_header_bytes} bytes`), '(none)', head);
    if (rawPath.length + query.length > limits.max_url_bytes) return this.reject(res, proxyError('PORTCULLIS_ERR_URL_TOO_LONG', `request target exceeds ${limits.max_url_bytes} bytes`), '(none)', head);
    if (collectedBad !== null) return this.reject(res, proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', `header ${collectedBad} has a byte outside visible ASCII, SP and HTAB`), '(none)', head);
    if (query !== '' && !visibleAscii(query)) return this.reject(res, proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'query has a byte outside visible ASCII (percent-encode it)'), '(none)', head);

    let hostHeader: string | null = null;
    let contentLength = -1;
    let chunked = false;
    let connectionNames: string | null = null;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      if (k === 'host') {
        if (hostHeader !== null) return this.reject(res, proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'more than one Host header'), '(none)', head);
        hostHeader = headers[i + 1]!;
      } else if (k === 'content-length') {
        const v = headers[i + 1]!;
        if (!/^\d{1,15}$/.test(v) || (contentLength !== -1 && contentLength !== Number(v))) {
          return this.reject(res, proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'invalid Content-Length'), '(none)', head);
        }
        contentLength = Number(v);
      } else if (k === 'transfer-encoding') {
        if (headers[i + 1]!.toLowerCase().trim() !== 'chunked') return this.reject(res, proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'unsupported Transfer-Encoding'), '(none)', head);
        chunked = true;
      } else if (k === 'connection') {
        connectionNames = connectionNames === null ? headers[i + 1]! : `${connectionNames},${headers[i + 1]!}`;
      }
    }
    if (chunked && contentLength !== -1) return this.reject(res, proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'both Content-Length and Transfer-Encoding'), '(none)', head);
    if (contentLength > limits.max_body_bytes) return this.reject(res, proxyError('PORTCULLIS_ERR_BODY_TOO_LARGE', `request body exceeds ${limits.max_body_bytes} bytes`), '(none)', head);

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
        const client = this.opts.accessLog ? Buffer.from(res.getRemoteAddressAsText()).toString() : '';
        this.logEarly('(well-known)', writeWellKnown(res, doc, head), null, client, doc.body.length);
        return;
      }
    }
    // every way an upstream family reads the path must select this same route
    const match = snap.table.resolve(method, host, path);
    if (match === AMBIGUOUS) return this.reject(res, proxyError('PORTCULLIS_ERR_PATH_AMBIGUOUS', 'path selects another route when read ignoring case, a trailing / or trailing dots'), '(none)', head);
    if (match === null) return this.reject(res, proxyError('PORTCULLIS_ERR_ROUTE_NOT_FOUND', `no route for ${method} ${path}`), '(none)', head);

    const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString();
    const ctx: RequestContext = {
      method, path, query, host, headers, remoteAddress,
      route: match.route, params: match.params, token: null, tokenSource: null, tokenScheme: 'bearer', principal: null, denyReason: null, responseHeaders: null,
    };
    const ex = new Exchange(res, this, snap, ctx, start, limits.max_body_bytes);
    res.onAborted(() => ex.onAborted());
    this.active.add(ex);
    this.opts.metrics.inflight = this.active.size;
    if (contentLength > 0 || chunked) ex.expectBody(start + snap.config.server.timeouts.request_ms, chunked ? -1 : contentLength);
    if (match.route.config.websocket) {
      // RFC 6455 checks of an upgrade attempt; a valid one's bearer subprotocol becomes Authorization here
      const d = this.ws.accept(ex, wsContext);
      if (d !== null && d.kind === 'deny') return this.deny(ex, d);
    }

    // Pipeline: extract → authenticate → authorize → mutate → forward.
    const auth = snap.auth;
    if (match.route.policy !== null) {
      if (!auth.ready()) {
        ctx.denyReason = 'not_ready';
        this.opts.metrics.decision('not_ready');
        return ex.sendError(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'signing keys not loaded yet', { retryAfter: 1 }));
      }
      const x = auth.extract(ctx);
      if (x.kind === 'deny') return this.deny(ex, x);
      const a = auth.authenticate(ctx);
      if (a instanceof Promise) {
        a.then((r) => this.afterAuthenticate(ex, r, connectionNames), (err) => {
          this.opts.logger.error({ err }, 'authenticate failed');
          ex.sendError(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'token check failed', { retryAfter: 1 }));
        });
        return;
      }
      return this.afterAuthenticate(ex, a, connectionNames);
    }
    this.outbound(ex, connectionNames);
  }

  private deny(ex: Exchange, r: StageResult & { kind: 'deny' }): void {
    ex.ctx.denyReason = r.reason;
    this.opts.metrics.decision(r.reason);
    ex.sendError(r.error);
  }

  private afterAuthenticate(ex: Exchange, r: StageResult, connectionNames: string | null): void {
    if (ex.done || ex.aborted) return;
    if (r.kind === 'deny') return this.deny(ex, r);
    const z = ex.snap.auth.authorize(ex.ctx);
    if (z.kind === 'deny') return this.deny(ex, z);
    this.opts.metrics.decision(null);
    this.outbound(ex, connectionNames);
  }

  /**
   * The route's outbound token step (node/s2s: internal token, token exchange, client
   * credentials), between authorize and send; routes without one go straight to send.
   * A failure answers the client (503, or 401/403 when the token server refused) and nothing is forwarded.
   */
  private outbound(ex: Exchange, connectionNames: string | null): void {
    const step = ex.snap.outbound[ex.ctx.route.index];
    if (step == null) return this.send(ex, connectionNames, null, null);
    const r = step.authorization(ex.ctx);
    if (!(r instanceof Promise)) return this.afterOutbound(ex, connectionNames, r, step.callerHeader);
    r.then((x) => this.afterOutbound(ex, connectionNames, x, step.callerHeader), (err) => {
      this.opts.logger.error({ err: String(err) }, 'outbound token step failed');
      ex.ctx.denyReason = 'outbound_token_failed';
      ex.sendError(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'could not obtain the outbound token', { retryAfter: 1 }));
    });
  }

  private afterOutbound(ex: Exchange, connectionNames: string | null, r: OutboundResult, callerHeader: string | null): void {
    if (ex.done || ex.aborted) return;
    if (typeof r === 'string') return this.send(ex, connectionNames, r, callerHeader);
    // not a token decision (the inbound token passed): reason for the access log only
    ex.ctx.denyReason = r.reason;
    ex.sendError(r.error);
  }

  /**
   * Build the upstream header list and dispatch. `authz` replaces the client's Authorization
   * (an outbound token); `callerHeader` then carries the client's own value, else it is dropped.
   */
  private send(ex: Exchange, connectionNames: string | null, authz: string | null, callerHeader: string | null): void {
    const ctx = ex.ctx;
    const snap = ex.snap;
    const route = ctx.route.config;
    const up = snap.upstreams.get(route.upstream)!;
    const auth = snap.auth;
    const stripAuth = ctx.route.policy !== null && auth.stripsAuthorization(ctx);
    const named = connectionNames === null ? null : new Set(connectionNames.toLowerCase().split(',').map((s) => s.trim()));
    // client-address, URL and method overrides an upstream would take as the proxy's word
    const untrusted = strippedRequestHeaders(snap.config.server.forwarded.keep_headers);
    const h = ctx.headers;
    const out: string[] = [];
    let xff: string | null = null;
    let xfProto: string | null = null;
    let xfHost: string | null = null;
    let callerAuth: string | null = null;
    // a DPoP proof belongs to the Authorization it came with: it goes when that goes
    const dropAuth = stripAuth || authz !== null;
    for (let i = 0; i < h.length; i += 2) {
      const k = h[i]!;
      if (HOP_REQUEST.has(k)) {
        if (k === 'x-forwarded-for') xff = xff === null ? h[i + 1]! : `${xff}, ${h[i + 1]!}`;
        else if (k === 'x-forwarded-proto') xfProto = h[i + 1]!;
        else if (k === 'x-forwarded-host') xfHost = h[i + 1]!;
        continue;
      }
      if (named !== null && named.has(k)) continue;
      if (untrusted.has(k) || auth.isIdentityHeader(k)) continue;
      if (dropAuth && (k === 'authorization' || k === 'dpop')) {
        if (k === 'authorization' && callerHeader !== null && callerAuth === null) callerAuth = h[i + 1]!;
        continue;
      }
      if (k === callerHeader) continue; // a client cannot pose as the caller
      out.push(k, h[i + 1]!);
    }
    if (authz !== null) {
      out.push('authorization', authz);
      if (callerAuth !== null) out.push(callerHeader!, callerAuth);
    }
    // Before host and X-Forwarded-*: mutate may remove entries (a stripped token header or
    // cookie), which would shift hostIdx onto another header's value.
    if (ctx.route.policy !== null) auth.mutate(ctx, out);
    // X-Forwarded-For always appends the client (the rightmost entry is ours); Proto and
    // Host are ours unless server.trust_forwarded keeps what a trusted front proxy sent.
    const trust = snap.config.server.trust_forwarded;
    out.push('x-forwarded-for', xff !== null ? `${xff}, ${ctx.remoteAddress}` : ctx.remoteAddress);
    out.push('x-forwarded-proto', trust && xfProto !== null ? xfProto : this.tls ? 'https' : 'http');
    // the Host as routed (lower case, no trailing dot), port as sent: the upstream reads what was authorized
    const clientHost = normalizedHostHeader(headerValue(h, 'host') ?? '') ?? '';
    if (clientHost !== '' || (trust && xfHost !== null)) out.push('x-forwarded-host', trust && xfHost !== null ? xfHost : clientHost);
    const hostMode = up.config.host;
    const hostIdx = hostMode === 'target' ? out.length + 1 : -1; // filled per picked target
    out.push('host', hostMode === 'preserve' ? (clientHost || up.targets[0]!.hostPort) : hostMode === 'target' ? '' : hostMode);

    let p = ctx.path;
    const strip = route.strip_prefix;
    if (strip !== undefined) {
      const routed = stripParams(p); // the path routed on: segments without ;parameters
      if (routed === p) { if (p.startsWith(strip)) p = p.slice(strip.length) || '/'; }
      // with parameters, drop the prefix's segments whole (their ;parameters go with them)
      else if (routed.startsWith(strip)) p = dropSegments(p, strip.split('/').length - 1) || '/';
    }
    if (p[0] !== '/') p = '/' + p;
    const prefix = up.config.path_prefix;
    if (prefix !== '') p = p === '/' ? prefix : prefix + p;
    // a stripped credential leaves the query too, not only the Authorization header
    const query = stripAuth ? forwardedQuery(ctx) : ctx.query;
    if (query !== '') p = `${p}?${query}`;
    if (route.websocket && this.ws.forward(ex, up, p, out, hostIdx)) return;
    ex.forward(up, p, out, hostIdx);
  }
}

/** `path` without its first `n` segments ("/a;x/b/c", 1 → "/b/c"); '' when nothing is left. */
function dropSegments(path: string, n: number): string {
  let i = 0;
  for (let k = 0; k <= n; k++) {
    i = path.indexOf('/', i + (k === 0 ? 0 : 1));
    if (i === -1) return '';
  }
  return path.slice(i);
}
