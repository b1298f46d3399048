// Streamed HTTP responses watched beside the proxied WebSockets: the listeners' in-flight relays,
// ended when their token is revoked or expires (a request still waiting for its head: on
// revocation), and judged again by a reloaded config — cut mid-stream, or refused as they start.
import { proxyError, type ProxyError } from '../errors.js';
import type { Relay } from '../http/relay.js';
import { Fingerprint, type Logger } from '../log.js';
import type { EndReason, LiveJudge, LiveRegistry } from './live-registry.js';

/** A streamed response the registry may end: what Relay offers (see Relay.endStream). */
export interface StreamingRelay {
  readonly ctx: Relay['ctx'];
  readonly status: number;
  readonly done: boolean;
  readonly aborted: boolean;
  /** `err`: the answer when nothing was written yet (a held head); the HTTP/2 listener writes every head at once. */
  endStream(reason: string, err: ProxyError): boolean;
  /** Answer `err` to a request still waiting for its response head and cancel its upstream request; false when a response started. */
  endPending(reason: string, err: ProxyError): boolean;
}

/** The counters a StreamWatch adds to (the WebSocket side's, component `websocket`). */
export interface StreamCounters {
  streams_ended_revoked: number; streams_ended_expired: number; streams_ended_unverifiable: number; streams_ended_policy_changed: number;
  /** Shared with the WebSockets a reload closed. */
  ended_policy_changed: number;
}

/** Refusals of a token that must not be connected any more (same answers as on the HTTP path). */
export const ENDED: Readonly<Record<EndReason, ProxyError>> = Object.freeze({
  revoked: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'the token has been revoked')),
  expired: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token expired')),
  unverifiable: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocation bus lost', { retryAfter: 5 })),
});
export const POLICY_CHANGED = Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_FORBIDDEN', 'access changed by configuration'));

/** The streamed responses of the listeners' in-flight relays (WsProxy.watchStreams). */
export class StreamWatch {
  /** The listeners' in-flight relays: their streamed responses are judged again at a reload. */
  private readonly streams: Array<Iterable<StreamingRelay>> = [];

  constructor(private readonly registry: LiveRegistry, private readonly counters: StreamCounters, private readonly logger: Logger) {}

  /**
   * End streamed responses of `active` (the listener's in-flight relays) on revocation and expiry;
   * on a revocation also requests still waiting for their response head (a long poll, an upload
   * still arriving): answered 401 and their upstream request cancelled, so no answer the upstream
   * gives later and no more of the body passes. Expiry leaves those alone (authorized while valid).
   */
  watch(active: Iterable<StreamingRelay>): void {
    this.streams.push(active);
    this.registry.addScanner((judge: LiveJudge, reason: EndReason) => {
      for (const relay of active) {
        const p = relay.ctx.principal;
        if (p === null || relay.done || relay.aborted) continue;
        if (relay.status === 0) {
          // counted by the registry in live_ended_total{reason="revoked"}; access log deny: pending_revoked
          if (reason !== 'revoked' || judge(p.facts, p.validUntil) === null || !relay.endPending('pending_revoked', ENDED.revoked)) continue;
          this.logger.info({ route: relay.ctx.route.name, sub: p.claims.sub, token: new Fingerprint(p.fingerprint), reason }, 'request waiting for its response ended');
          continue;
        }
        const why = judge(p.facts, p.validUntil);
        if (why !== null && relay.endStream(`stream_${why}`, ENDED[why])) {
          this.counters[`streams_ended_${why}`]++;
          this.logger.info({ route: relay.ctx.route.name, sub: p.claims.sub, token: new Fingerprint(p.fingerprint), reason: why }, 'streamed response ended');
        }
      }
    });
  }

  /**
   * After a reload: cut every streamed response whose request `allowed` (the new config's verdict)
   * now refuses. A request still waiting for its response head finishes on the snapshot it started
   * with. Returns how many were cut.
   */
  reauthorize(allowed: (ctx: Relay['ctx'], websocket: boolean) => boolean): number {
    let cut = 0;
    for (const active of this.streams) {
      for (const relay of [...active]) {
        if (relay.status === 0 || relay.done || relay.aborted) continue;
        let ok: boolean;
        try { ok = allowed(relay.ctx, false); } catch { ok = false; } // unsure → cut
        if (ok || !relay.endStream('stream_policy_changed', POLICY_CHANGED)) continue;
        cut++;
        this.counters.ended_policy_changed++;
        this.counters.streams_ended_policy_changed++;
      }
    }
    if (cut > 0) this.logger.info({ ended: cut }, 'streamed responses ended: the reloaded config no longer allows them');
    return cut;
  }

  /**
   * A response whose upstream head arrives under a config a reload swapped in after its request was
   * authorized (reauthorize() leaves requests waiting for their head alone): judged by `allowed` (the
   * current config) before any byte reaches the client. Refused (or unsure): 403 "access changed by
   * configuration", its upstream request cancelled, counted as a stream the reload ended; true.
   */
  refusedAtStart(relay: StreamingRelay, allowed: (ctx: Relay['ctx'], websocket: boolean) => boolean): boolean {
    let ok: boolean;
    try { ok = allowed(relay.ctx, false); } catch { ok = false; } // unsure → refused
    if (ok || !relay.endPending('policy_changed', POLICY_CHANGED)) return false;
    this.counters.ended_policy_changed++;
    this.counters.streams_ended_policy_changed++;
    this.logger.info({ route: relay.ctx.route.name }, 'response refused as it started: the reloaded config no longer allows it');
    return true;
  }
}
