// The listener's WebSocket side: the uWS behaviour for upgrade requests, the bearer
// subprotocol translation, the bridges between a client socket and its upstream
// socket, and the live-connection registry that ends WebSockets (and, through stream-watch.ts,
// streamed responses) when their token is revoked anywhere in the cluster or expires.
import uWS, { type HttpRequest, type HttpResponse, type WebSocketBehavior } from 'uWebSockets.js';
import type { TokenState } from '../contracts/index.js';
import type { ServerConfig } from '../config/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import type { Relay } from '../http/relay.js';
import { Fingerprint, type Logger } from '../log.js';
import type { Principal, StageResult } from '../pipeline/context.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import { LiveRegistry, type EndReason } from './live-registry.js';
import { WsBridge, type BridgeCounters, type BridgeHost, type SocketData, type UpgradeRequest } from './ws-bridge.js';
import { ABNORMAL, CLOSE, parseOfferedProtocols } from './ws-protocol.js';
import { ENDED, POLICY_CHANGED, StreamWatch, type StreamingRelay } from './stream-watch.js';

/**
 * A client connection lost without a close frame (1006) this soon after its 101 is counted in
 * `closed_abnormal_early_total`, ms: the pinned uWS build's cork-after-upgrade bug dropped sockets
 * 4–13 ms after the 101 (see WsBridge.onUpstreamOpen); a non-zero count means something like it is back.
 */
export const ABNORMAL_EARLY_MS = 1_000;
import { checkHandshake } from './ws-handshake.js';
import { OpaqueRecheck, type Recheck } from './opaque-recheck.js';
import { cookieOriginAllowed } from './ws-origin.js';

export interface WsProxyOptions {
  settings: ServerConfig['websocket'];
  tokenState: TokenState | null;
  logger: Logger;
  /** Verifies a token again (the listener's current token check): live sockets of introspected tokens follow the authorization server. */
  recheck?: Recheck;
}

const deny = (message: string, reason: string): StageResult =>
  Object.freeze({ kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_REQUEST', message)), reason });
const PROTOCOL_TOKEN_REFUSED = deny('a token in Sec-WebSocket-Protocol is not allowed on this route', 'protocol_token_refused');
const MULTIPLE = deny('more than one credential sent', 'multiple_credentials');
const SHUTTING_DOWN = Object.freeze(proxyError('PORTCULLIS_ERR_SHUTTING_DOWN', 'instance is shutting down', { retryAfter: 1 }));
const CROSS_ORIGIN = Object.freeze(proxyError('PORTCULLIS_ERR_WEBSOCKET_ORIGIN', 'a WebSocket authenticated by a cookie must come from a page of this origin or of the route\'s cookie_origins or websocket_origins'));
const UPGRADE_WITH_BODY: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'a WebSocket upgrade request cannot carry a body')), reason: 'upgrade_with_body',
});

/** The WebSocket side of one listener. */
export class WsProxy implements BridgeHost {
  readonly registry: LiveRegistry;
  readonly maxMessageBytes: number;
  readonly maxBufferedBytes: number;
  readonly counters: BridgeCounters & {
    upgrades: number; closed_by_client: number; closed_by_upstream: number; closed_by_proxy: number;
    streams_ended_revoked: number; streams_ended_expired: number; streams_ended_unverifiable: number; streams_ended_policy_changed: number;
    ended_policy_changed: number; closed_abnormal: number; closed_abnormal_early: number;
  } = {
    messages_from_client: 0, messages_to_client: 0, bytes_from_client: 0, bytes_to_client: 0, upstream_pauses: 0, closed_backpressure: 0,
    upgrades: 0, closed_by_client: 0, closed_by_upstream: 0, closed_by_proxy: 0,
    streams_ended_revoked: 0, streams_ended_expired: 0, streams_ended_unverifiable: 0, streams_ended_policy_changed: 0,
    ended_policy_changed: 0, closed_abnormal: 0, closed_abnormal_early: 0,
  };
  private readonly pending = new WeakMap<Relay, UpgradeRequest>();
  private readonly handshakes = new Set<WsBridge>();
  private readonly live = new Set<WsBridge>();
  /** The listeners' streamed responses, ended and judged again beside the WebSockets. */
  private readonly streams: StreamWatch;
  private readonly logger: Logger;
  private readonly settings: ServerConfig['websocket'];
  private readonly opaque: OpaqueRecheck<WsBridge>;
  /** closeAll() ran: no new upstream socket is opened. */
  private closing = false;
  private lastLivenessMs = 0;

  constructor(opts: WsProxyOptions) {
    this.settings = opts.settings;
    this.maxMessageBytes = opts.settings.max_message_bytes;
    this.maxBufferedBytes = opts.settings.max_buffered_bytes;
    this.logger = opts.logger.child({ component: 'websocket' });
    this.registry = new LiveRegistry(opts.tokenState);
    this.streams = new StreamWatch(this.registry, this.counters, this.logger);
    this.opaque = new OpaqueRecheck<WsBridge>(opts.recheck ?? null, (b) => {
      // the authorization server no longer vouches for the token (HTTP gets 401 with it now)
      if (!this.registry.endNow(b, 'revoked')) b.end('revoked');
      const p = b.principal;
      this.logger.info({ route: b.relay.ctx.route.name, ...(p !== null ? { sub: p.claims.sub, token: new Fingerprint(p.fingerprint) } : {}) }, 'websocket closed: its token is refused by introspection now');
    });
    this.registry.onTick((nowMs) => { this.sweepHandshakes(); this.opaque.tick(nowMs); this.liveness(nowMs); });
    this.registry.start();
  }

  /**
   * The uWS behaviour for `app.ws('/*', …)`. Every upgrade request goes to `handle` (the
   * listener's request handler) with its socket context; routes without `websocket: true`
   * answer it as a plain request.
   */
  behavior(handle: (res: HttpResponse, req: HttpRequest, context: unknown) => void): WebSocketBehavior<SocketData> {
    const s = this.settings;
    return {
      compression: uWS.DISABLED,
      maxPayloadLength: s.max_message_bytes,
      idleTimeout: s.idle_timeout_s,
      sendPingsAutomatically: true,
      // a hard cap above the pause threshold: one message beyond it, plus what one upstream read may still hold
      maxBackpressure: s.max_buffered_bytes + s.max_message_bytes + 256 * 1024,
      upgrade: (res, req, context) => handle(res, req, context),
      open: (ws) => ws.getUserData().bridge.attach(ws),
      message: (ws, message, isBinary) => ws.getUserData().bridge.fromClient(message, isBinary),
      drain: (ws) => ws.getUserData().bridge.drained(),
      close: (ws, code, message) => ws.getUserData().bridge.clientClosed(code, message),
    };
  }

  /**
   * Synchronously in the request handler, for every request on a `websocket: true` route
   * (`context`: uWS routed it to its WebSocket handler). An upgrade attempt is checked against
   * RFC 6455 (ws-handshake.ts: 400, or 426 for the version) before any token stage; a valid one
   * is recorded for the handshake, with a bearer subprotocol turned into `Authorization: Bearer`
   * for the token stages. Returns a denial or null (an ordinary request stays ordinary).
   */
  accept(relay: Relay, context: unknown): StageResult | null {
    const h = relay.ctx.headers;
    const hs = checkHandshake(relay.ctx.method, h, context !== undefined);
    if (hs.kind !== 'handshake') return hs.kind === 'plain' ? null : hs;
    if (relay.body !== null) return UPGRADE_WITH_BODY;
    const { key, offered, bearerHeader } = hs;
    let protocols: readonly string[] = [];
    if (offered !== null) {
      const p = parseOfferedProtocols(offered);
      if (!p.ok) return deny(p.message, p.reason);
      protocols = p.protocols;
      if (p.token !== null) {
        const auth = relay.ctx.route.config.auth;
        if (auth === undefined || auth === 'none' || !auth.token_sources.websocket_protocol) return PROTOCOL_TOKEN_REFUSED;
        if (bearerHeader) return MULTIPLE;
        // extract reads it like any Authorization header; forward.authorization decides whether the upstream sees it
        h.push('authorization', `Bearer ${p.token}`);
      }
    }
    this.pending.set(relay, { context, key, protocols });
    return null;
  }

  /**
   * From Listener.send once the request is authorized: connect to the upstream WebSocket and
   * upgrade the client when it answers. `current`: the config now in force when a reload committed
   * since the request was read (it must allow the socket too, else 403). False when `relay` is not an accepted upgrade.
   */
  forward(relay: Relay, up: UpstreamPool, path: string, headers: string[], hostIdx: number, trustForwarded: boolean,
    current: ((ctx: Relay['ctx'], websocket: boolean) => boolean) | null = null): boolean {
    const req = this.pending.get(relay);
    if (req === undefined) return false;
    this.pending.delete(relay);
    const ctx = relay.ctx;
    // shutdown began while the upgrade was being authorized: closeAll() could not see it, and a socket opened now is dropped without a close frame
    if (this.closing) { relay.sendError(SHUTTING_DOWN, true); return true; }
    if (current !== null) {
      // a reload committed while the upgrade was being authorized: reauthorize() could not see it
      // (neither open nor waiting on its upstream), so the new config judges it here, before the upstream
      let ok: boolean;
      try { ok = current(ctx, true); } catch { ok = false; } // unsure → refused
      if (!ok) {
        this.counters.ended_policy_changed++;
        ctx.denyReason = 'policy_changed';
        relay.sendError(POLICY_CHANGED);
        return true;
      }
    }
    // a cookie is the one credential a foreign page's browser sends by itself
    if (ctx.tokenSource === 'cookie' && !cookieOriginAllowed(ctx.headers, ctx.secure === true, trustForwarded, ctx.route.config)) {
      ctx.denyReason = 'ws_cross_origin';
      relay.sendError(CROSS_ORIGIN);
      return true;
    }
    const p = relay.ctx.principal;
    if (p !== null) {
      // decided before the upstream socket exists: a client that will be refused never costs an upstream connection
      const why = this.registry.judge(p.facts, p.validUntil);
      if (why !== null) {
        relay.ctx.denyReason = why;
        relay.sendError(ENDED[why]);
        return true;
      }
    }
    relay.upstream = up;
    const b = new WsBridge(relay, this, req, relay.ctx.route.config.timeout_ms ?? up.config.timeouts.response_ms);
    this.handshakes.add(b);
    b.connect(up, path, headers, hostIdx);
    return true;
  }

  /**
   * End streamed responses of `active` (the listener's in-flight relays) on revocation and expiry;
   * on a revocation also requests still waiting for their response head (a long poll, an upload
   * still arriving): answered 401 and their upstream request cancelled, so no answer the upstream
   * gives later and no more of the body passes. Expiry leaves those alone (authorized while valid).
   */
  watchStreams(active: Iterable<StreamingRelay>): void {
    this.streams.watch(active);
  }

  /**
   * After a reload: close with 1008 every proxied WebSocket, and cut every streamed response,
   * whose request `allowed` (the new config's verdict; `websocket` true for a socket) now refuses.
   * A request still waiting for its response head finishes on the snapshot it started with.
   * Returns how many were ended.
   */
  reauthorize(allowed: (ctx: Relay['ctx'], websocket: boolean) => boolean): number {
    let n = 0;
    for (const b of [...this.live]) {
      let ok: boolean;
      try { ok = allowed(b.relay.ctx, true); } catch { ok = false; } // unsure → closed
      if (ok) continue;
      n++;
      this.counters.ended_policy_changed++;
      b.relay.ctx.denyReason = 'policy_changed';
      b.closeBoth(CLOSE.POLICY, 'access changed by configuration');
    }
    // handshakes still waiting on their upstream finish on their snapshot, then face the new config as they open
    // (before, reauthorize missed them and a socket the new config refuses stayed open)
    for (const b of this.handshakes) {
      if (b.refusedByReload) continue;
      let ok: boolean;
      try { ok = allowed(b.relay.ctx, true); } catch { ok = false; }
      if (ok) continue;
      b.refusedByReload = true;
      n++;
      this.counters.ended_policy_changed++;
    }
    if (n > 0) this.logger.info({ closed: n }, 'websockets closed: the reloaded config no longer allows them');
    return n + this.streams.reauthorize(allowed);
  }

  /**
   * A response whose upstream head arrives under a config a reload swapped in after its request was
   * authorized (reauthorize() leaves requests waiting for their head alone): judged by `allowed` (the
   * current config) before any byte reaches the client. Refused (or unsure): 403 "access changed by
   * configuration", its upstream request cancelled, counted as a stream the reload ended; true.
   */
  refusedAtStart(relay: StreamingRelay, allowed: (ctx: Relay['ctx'], websocket: boolean) => boolean): boolean {
    return this.streams.refusedAtStart(relay, allowed);
  }

  /** Shutdown: close every WebSocket with 1001, fail pending handshakes with 503 (and upgrades still being authorized as they reach forward). */
  closeAll(): void {
    this.closing = true;
    for (const b of [...this.handshakes]) b.closeBoth(CLOSE.GOING_AWAY, 'proxy shutting down');
    for (const b of [...this.live]) b.closeBoth(CLOSE.GOING_AWAY, 'proxy shutting down');
  }

  stop(): void {
    this.registry.stop();
  }

  /** Flat counters for /metrics (component `websocket`). */
  stats(): Record<string, number> {
    const r = this.registry.stats();
    const c = this.counters;
    return {
      'websocket.connections': this.live.size,
      'websocket.handshakes_pending': this.handshakes.size,
      'websocket.upgrades_total': c.upgrades,
      'websocket.messages_from_client_total': c.messages_from_client,
      'websocket.messages_to_client_total': c.messages_to_client,
      'websocket.bytes_from_client_total': c.bytes_from_client,
      'websocket.bytes_to_client_total': c.bytes_to_client,
      'websocket.upstream_pauses_total': c.upstream_pauses,
      'websocket.closed_by_client_total': c.closed_by_client,
      'websocket.closed_by_upstream_total': c.closed_by_upstream,
      'websocket.closed_by_proxy_total': c.closed_by_proxy,
      'websocket.closed_backpressure_total': c.closed_backpressure,
      // client connections lost without a close frame (1006), and those within ABNORMAL_EARLY_MS of the 101
      'websocket.closed_abnormal_total': c.closed_abnormal,
      'websocket.closed_abnormal_early_total': c.closed_abnormal_early,
      // the registry counts WebSockets and streamed responses together; streams_* are the responses alone
      'websocket.ended_revoked_total': r.ended_revoked,
      'websocket.ended_expired_total': r.ended_expired,
      'websocket.ended_unverifiable_total': r.ended_unverifiable,
      'websocket.ended_policy_changed_total': c.ended_policy_changed,
      'websocket.streams_ended_revoked_total': c.streams_ended_revoked,
      'websocket.streams_ended_expired_total': c.streams_ended_expired,
      'websocket.streams_ended_unverifiable_total': c.streams_ended_unverifiable,
      'websocket.streams_ended_policy_changed_total': c.streams_ended_policy_changed,
    };
  }

  // ---- BridgeHost ----------------------------------------------------------------

  judge(p: Principal): EndReason | null {
    return this.registry.judge(p.facts, p.validUntil);
  }

  track(b: WsBridge): EndReason | null {
    return this.registry.add(b);
  }

  expire(b: WsBridge): void {
    if (!this.registry.endNow(b, 'expired')) b.end('expired'); // not tracked (cannot happen with a principal): end it all the same
  }

  handshakeDone(b: WsBridge): void {
    this.handshakes.delete(b);
    if (b.state === 'upgraded') {
      this.counters.upgrades++;
      this.live.add(b);
      this.opaque.add(b);
    }
  }

  closed(b: WsBridge, side: 'client' | 'upstream' | 'proxy', code: number, why: string): void {
    if (!this.live.delete(b)) return;
    this.registry.remove(b);
    this.opaque.delete(b);
    const p = b.principal;
    if (side === 'proxy') this.counters.closed_by_proxy++;
    else if (side === 'client') {
      this.counters.closed_by_client++;
      if (code === ABNORMAL) {
        this.counters.closed_abnormal++;
        if (b.upgradedAt > 0 && performance.now() - b.upgradedAt < ABNORMAL_EARLY_MS) this.counters.closed_abnormal_early++;
      }
    } else this.counters.closed_by_upstream++;
    this.logger.info({
      route: b.relay.ctx.route.name, closed_by: side, code, reason: why, ms: Math.round(performance.now() - b.opened),
      messages_in: b.messagesIn, messages_out: b.messagesOut,
      ...(p !== null ? { sub: p.claims.sub, token: new Fingerprint(p.fingerprint) } : {}),
    }, 'websocket closed');
  }

  /** Upstream hops are pinged like uWS pings clients: a round every half `idle_timeout_s` (0: never). */
  private liveness(nowMs: number): void {
    const period = this.settings.idle_timeout_s * 500;
    if (period === 0 || this.live.size === 0 || nowMs - this.lastLivenessMs < period) return;
    this.lastLivenessMs = nowMs;
    for (const b of this.live) b.livenessRound();
  }

  private sweepHandshakes(): void {
    if (this.handshakes.size === 0) return;
    const now = performance.now();
    for (const b of [...this.handshakes]) b.sweep(now);
  }
}
