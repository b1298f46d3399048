// One proxied WebSocket: the upstream handshake (ws client) while the client's upgrade
// waits, then message relay both ways with bounded buffers, close-code mapping between
// the hops, and the policy close (1008) when the token is revoked or expires.
import type { IncomingMessage } from 'node:http';
import type { WebSocket as ClientSocket } from 'uWebSockets.js';
import type WebSocket from 'ws';
import { proxyError, type ProxyError } from '../errors.js';
import type { Relay } from '../http/relay.js';
import type { Principal } from '../pipeline/context.js';
import type { Target, UpstreamPool } from '../upstream/upstream-pool.js';
import type { EndReason, LiveConnection } from './live-registry.js';
import { CLOSE, NO_STATUS, clampReason, sendableCloseCode } from './ws-protocol.js';
import { handshakeFailure, openUpstream, selectedProtocol } from './ws-upstream-hop.js';

/** What the client's upgrade request left for the handshake (recorded by WsProxy.accept). */
export interface UpgradeRequest {
  readonly context: unknown; // us_socket_context_t, opaque
  readonly key: string;
  /** Offered subprotocols, bearer entry removed. */
  readonly protocols: readonly string[];
}

/** uWS user data of a proxied socket. */
export interface SocketData { bridge: WsBridge }

/** What a bridge needs from its owner (WsProxy): settings, bookkeeping, counters and logs. */
export interface BridgeHost {
  readonly maxMessageBytes: number;
  readonly maxBufferedBytes: number;
  /** The token is judged right before upgrading: null = go ahead. */
  judge(p: Principal): EndReason | null;
  /** Returns the reason when the token must be ended already. */
  track(b: WsBridge): EndReason | null;
  /** The token expired and a message arrived before the registry's coarse tick: end `b` now (1008). */
  expire(b: WsBridge): void;
  handshakeDone(b: WsBridge): void;
  closed(b: WsBridge, side: 'client' | 'upstream' | 'proxy', code: number, why: string): void;
  readonly counters: BridgeCounters;
}

export interface BridgeCounters {
  messages_from_client: number;
  messages_to_client: number;
  bytes_from_client: number;
  bytes_to_client: number;
  upstream_pauses: number;
  closed_backpressure: number;
}

/** Close reason texts (the client sees them; no token, no internals). */
const END_TEXT: Record<EndReason, string> = { revoked: 'token revoked', expired: 'token expired', unverifiable: 'revocation state unavailable' };

type State = 'connecting' | 'upgraded' | 'open' | 'closed';

export class WsBridge implements LiveConnection {
  readonly facts: Principal['facts'];
  readonly exp: number;
  /** `exp` in epoch ms: no message is relayed at or after it (the registry's tick alone is 250 ms coarse). */
  private readonly expMs: number;
  readonly principal: Principal | null;
  /** performance.now() deadline for the upstream handshake. */
  readonly deadline: number;
  readonly opened = performance.now();
  /** performance.now() of the 101 (0 before). */
  upgradedAt = 0;
  /** A reload committed during the handshake and its config refuses this socket: closed (1008) as soon as it opens. */
  refusedByReload = false;
  state: State = 'connecting';
  private upstream: WebSocket | null = null;
  private client: ClientSocket<SocketData> | null = null;
  /** Upstream messages that arrived before the client socket opened (the upstream is paused meanwhile). */
  private early: Array<[Buffer, boolean]> | null = null;
  private upstreamPaused = false;
  /** Upstream liveness (livenessRound): anything heard from it since the last round; a ping of ours unanswered. */
  private heard = true;
  private pinged = false;
  private upstreamError: string | null = null;
  /** The subprotocol the upstream selected ('' none), answered to the client as it is. */
  private protocol = '';
  private target: Target | null = null;
  /** Who started the close: the client's close handler also runs for closes we start with end(). */
  private initiator: 'client' | 'upstream' | 'proxy' = 'client';
  messagesIn = 0;
  messagesOut = 0;

  constructor(
    readonly relay: Relay,
    private readonly host: BridgeHost,
    private readonly req: UpgradeRequest,
    timeoutMs: number,
  ) {
    this.principal = relay.ctx.principal;
    this.facts = this.principal?.facts ?? { tokenHash: '' };
    this.exp = this.principal?.validUntil ?? Number.POSITIVE_INFINITY; // exp + skew: when HTTP refuses it too
    this.expMs = this.exp * 1000;
    this.deadline = performance.now() + timeoutMs;
  }

  // ---- handshake ---------------------------------------------------------------

  /** Open the upstream WebSocket; `headers` is the flat list Listener.send built for the upstream. */
  connect(up: UpstreamPool, path: string, headers: readonly string[], hostIdx: number): void {
    const t = up.pickNow(null);
    this.target = t;
    let ws: WebSocket;
    try {
      ws = openUpstream(t, path, headers, hostIdx, this.req.protocols, this.host.maxMessageBytes);
    } catch (err) {
      // a header value node:http refuses (uWS accepted it): the client's request is at fault
      this.fail(proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'request headers cannot be forwarded'), null, String((err as Error).message));
      return;
    }
    this.upstream = ws;
    ws.on('upgrade', (res: IncomingMessage) => { this.protocol = selectedProtocol(res, this.req.protocols); });
    ws.on('open', () => this.onUpstreamOpen(up));
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      res.resume();
      // the target answered: below 500 restarts its ejection counts, a 5xx counts toward eject.consecutive_5xx (before,
      // neither: a WebSocket upstream answering 503 to every upgrade stayed in rotation with consecutive_5xx on)
      if (this.target !== null) up.responded(this.target, res.statusCode ?? 500);
      this.fail(proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${up.name}" answered ${res.statusCode ?? 0} to the WebSocket upgrade`), 'ws_refused', null);
    });
    ws.on('error', (err: Error & { code?: string }) => this.onUpstreamError(up, err));
    ws.on('close', (code: number, reason: Buffer) => this.onUpstreamClose(code, reason));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.fromUpstream(data, isBinary));
    ws.on('pong', () => { this.heard = true; });
    ws.on('ping', () => { this.heard = true; });
  }

  /** Deadline passed or the client went away while the upstream handshake runs (the shared tick checks). */
  sweep(now: number): boolean {
    if (this.state !== 'connecting') return true;
    if (this.relay.aborted || this.relay.done) {
      this.fail(null, null, 'client left during the upstream handshake');
      return true;
    }
    if (now > this.deadline) {
      const up = this.relay.upstream;
      this.fail(proxyError('PORTCULLIS_ERR_UPSTREAM_TIMEOUT', `upstream${up !== null ? ` "${up.name}"` : ''} did not complete the WebSocket handshake in time`), 'ws_timeout', null);
      return true;
    }
    return false;
  }

  /** Abort the handshake: answer the client (when `err`), drop the upstream. Safe to call twice. */
  fail(err: ProxyError | null, metric: string | null, detail: string | null): void {
    if (this.state !== 'connecting') return;
    this.state = 'closed';
    this.host.handshakeDone(this);
    const ws = this.upstream;
    if (ws !== null && ws.readyState !== ws.CLOSED) ws.terminate();
    const up = this.relay.upstream;
    if (metric !== null && up !== null) this.relay.host.upstreamError(up.name, metric);
    if (err !== null) {
      if (detail !== null) this.relay.errorKind = detail;
      this.relay.sendError(err, true);
    } else if (!this.relay.done) {
      this.relay.finish(499);
    }
  }

  private onUpstreamError(up: UpstreamPool, err: Error & { code?: string }): void {
    if (this.state === 'connecting') {
      const f = handshakeFailure(up.name, err.code ?? '');
      // no answer as an HTTP server — refused, unreachable, a reset before any answer, an invalid handshake — counts
      // against the target as for any request (upstream-failure.ts gatewayFailure); before, a reset or an invalid
      // handshake did not, and a target resetting every upgrade stayed in rotation for good
      if (this.target !== null) up.targetFailed(this.target);
      this.fail(f.error, f.metric, null);
      return;
    }
    this.upstreamError = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'upstream message exceeds max_message_bytes' : 'upstream connection failed';
    // ws has sent its close frame upstream (bad frame, oversized message) and waits up to 30 s for the
    // answer before its 'close': the client is told now (1014), the upstream's close finishes behind it
    const c = this.client;
    if (this.state === 'open' && c !== null) {
      this.initiator = 'upstream';
      c.end(CLOSE.BAD_GATEWAY, this.upstreamError); // → clientClosed: upstream already closing, not closed again
    }
  }

  private onUpstreamOpen(up: UpstreamPool): void {
    const ws = this.upstream!;
    if (this.state !== 'connecting') { ws.terminate(); return; }
    const relay = this.relay;
    if (relay.aborted || relay.done) { this.fail(null, null, null); return; }
    up.responded(this.target!, 101);
    if (this.principal !== null) {
      // revoked or expired while the upstream answered: refuse instead of upgrading
      const why = this.host.judge(this.principal);
      if (why !== null) {
        ws.close(CLOSE.POLICY, END_TEXT[why]);
        this.upstream = null;
        relay.ctx.denyReason = why;
        this.fail(why === 'unverifiable'
          ? proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocation bus lost', { retryAfter: 5 })
          : proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', why === 'revoked' ? 'the token has been revoked' : 'token expired'), null, null);
        return;
      }
    }
    // hold upstream messages until the client socket is open
    this.early = [];
    ws.pause();
    this.upstreamPaused = true;
    this.state = 'upgraded';
    this.host.handshakeDone(this);
    relay.upstreamMs = performance.now() - this.opened;
    const data: SocketData = { bridge: this };
    // Not inside res.cork(): after an async step the pinned uWS build (20.30) may take the
    // just-upgraded socket for the old HTTP response in cork()'s epilogue and close it a few ms
    // after the 101, with no close frame (uNetworking/uWebSockets #1928, fixed upstream by #1929;
    // the author's workaround, #1583, is to upgrade without cork). upgrade() writes the 101 itself.
    relay.res.upgrade(data, this.req.key, this.protocol, '', this.req.context as never);
    this.upgradedAt = performance.now();
    relay.finish(101);
  }

  // ---- open: relay ------------------------------------------------------------

  /** uWS open handler. */
  attach(client: ClientSocket<SocketData>): void {
    if (this.state !== 'upgraded') { client.end(CLOSE.BAD_GATEWAY, 'upstream connection lost'); return; }
    this.client = client;
    this.state = 'open';
    if (this.principal !== null) {
      const why = this.host.track(this);
      if (why !== null) { this.end(why); return; }
    }
    if (this.refusedByReload) { this.relay.ctx.denyReason = 'policy_changed'; this.closeBoth(CLOSE.POLICY, 'access changed by configuration'); return; }
    const early = this.early!;
    this.early = null;
    for (const [d, b] of early) this.fromUpstream(d, b);
    if (this.state === 'open' && this.upstreamPaused && client.getBufferedAmount() <= this.host.maxBufferedBytes) {
      this.upstreamPaused = false;
      this.upstream?.resume();
    }
  }

  /** uWS message handler: `ab` is valid only during this call (send() copies it synchronously, see ws-upstream-hop.ts generateMask). */
  fromClient(ab: ArrayBuffer, isBinary: boolean): void {
    const ws = this.upstream;
    if (this.state !== 'open' || ws === null || ws.readyState !== ws.OPEN) return;
    // the same instant HTTP starts answering 401, to the millisecond: the message is dropped, the socket closed
    if (Date.now() >= this.expMs) { this.host.expire(this); return; }
    // uWS cannot stop reading a WebSocket: bound what we queue towards a slow upstream instead
    if (ws.bufferedAmount > this.host.maxBufferedBytes) {
      this.host.counters.closed_backpressure++;
      this.closeBoth(CLOSE.TRY_AGAIN_LATER, 'upstream is not reading fast enough');
      return;
    }
    this.messagesIn++;
    this.host.counters.messages_from_client++;
    this.host.counters.bytes_from_client += ab.byteLength;
    ws.send(Buffer.from(ab), { binary: isBinary });
  }

  private fromUpstream(data: Buffer, isBinary: boolean): void {
    this.heard = true;
    if (this.state === 'upgraded') { this.early?.push([data, isBinary]); return; }
    const c = this.client;
    if (this.state !== 'open' || c === null) return;
    if (Date.now() >= this.expMs) { this.host.expire(this); return; }
    this.messagesOut++;
    this.host.counters.messages_to_client++;
    this.host.counters.bytes_to_client += data.length;
    // 0 = queued (backpressure), 1 = sent, 2 = dropped above maxBackpressure (never reached while pausing works)
    const r = c.send(data, isBinary) as unknown as number;
    if (r === 2) {
      this.host.counters.closed_backpressure++;
      this.closeBoth(CLOSE.TRY_AGAIN_LATER, 'client is not reading fast enough');
      return;
    }
    if (!this.upstreamPaused && c.getBufferedAmount() > this.host.maxBufferedBytes) {
      this.upstreamPaused = true;
      this.host.counters.upstream_pauses++;
      this.upstream?.pause();
    }
  }

  /**
   * Every half idle period (WsProxy): ping an upstream that said nothing since the last round; one
   * that left the previous ping unanswered is lost (no FIN may ever come): closed, the client gets 1014.
   */
  livenessRound(): void {
    const ws = this.upstream;
    if (this.state !== 'open' || ws === null || ws.readyState !== ws.OPEN) return;
    // paused: its pong waits unread behind the slow client's backlog, so no verdict
    if (this.heard || this.upstreamPaused) { this.heard = false; this.pinged = false; return; }
    if (this.pinged) { this.upstreamError = 'upstream did not answer a ping'; ws.terminate(); return; }
    this.pinged = true;
    ws.ping();
  }

  /** uWS drain handler: resume the upstream once the client's queue is down to half the limit. */
  drained(): void {
    const c = this.client;
    if (this.state !== 'open' || c === null || !this.upstreamPaused) return;
    if (c.getBufferedAmount() <= this.host.maxBufferedBytes / 2) {
      this.upstreamPaused = false;
      this.upstream?.resume();
    }
  }

  /** uWS close handler (also runs for our own end()): pass the close on to the upstream. */
  clientClosed(code: number, reason: ArrayBuffer): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.client = null;
    this.early = null;
    const ws = this.upstream;
    const text = clampReason(Buffer.from(reason).toString('utf8'));
    if (ws !== null && (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING)) {
      if (ws.isPaused) ws.resume(); // the close handshake needs the upstream's close frame
      if (code === NO_STATUS) ws.close();
      else if (sendableCloseCode(code)) ws.close(code, text);
      else ws.close(CLOSE.GOING_AWAY, 'client connection lost');
    }
    this.host.closed(this, this.initiator, code, text);
  }

  private onUpstreamClose(code: number, reason: Buffer): void {
    if (this.state === 'connecting') {
      // ws emits close after error/unexpected-response; a close alone means the handshake never completed
      this.fail(proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', 'upstream closed the connection during the WebSocket handshake'), 'ws_handshake', null);
      return;
    }
    if (this.state === 'upgraded') {
      // closed before the client socket opened: attach() will find it gone
      this.state = 'closed';
      this.host.closed(this, 'upstream', code, 'closed before the client socket opened');
      return;
    }
    if (this.state !== 'open') return;
    const c = this.client!;
    const text = clampReason(reason.toString('utf8'));
    this.upstream = null;
    this.initiator = 'upstream';
    // end() runs our close handler synchronously; upstream is already gone
    if (this.upstreamError !== null) c.end(CLOSE.BAD_GATEWAY, this.upstreamError);
    else if (code === NO_STATUS) c.end();
    else if (sendableCloseCode(code)) c.end(code, text);
    else c.end(CLOSE.BAD_GATEWAY, 'upstream connection lost'); // 1006 abnormal closure, 1015 TLS
  }

  // ---- ending -------------------------------------------------------------------

  /** The registry's verdict: the token was revoked or expired (1008), or revocations cannot be received (1013). */
  end(reason: EndReason): void {
    this.relay.ctx.denyReason = reason;
    this.closeBoth(reason === 'unverifiable' ? CLOSE.TRY_AGAIN_LATER : CLOSE.POLICY, END_TEXT[reason]);
  }

  /** Proxy-initiated close of both hops with one code and reason. */
  closeBoth(code: number, reason: string): void {
    if (this.state === 'connecting') { this.fail(proxyError('PORTCULLIS_ERR_SHUTTING_DOWN', 'instance is shutting down', { retryAfter: 1 }), null, null); return; }
    if (this.state === 'closed') return;
    const c = this.client;
    if (c !== null) {
      this.initiator = 'proxy';
      c.end(code, reason); // → clientClosed(code, reason) → upstream.close(code, reason)
      return;
    }
    this.state = 'closed';
    this.early = null;
    const ws = this.upstream;
    if (ws !== null && ws.readyState === ws.OPEN) ws.close(code, reason);
    this.host.closed(this, 'proxy', code, reason);
  }
}
