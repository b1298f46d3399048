// Per-session flood caps on top of node:http2's own limits: streams the client reset (rapid
// reset, CVE-2023-44487), PING frames and SETTINGS frames, each counted in a fixed 10 s window.
// Crossing a cap sends GOAWAY ENHANCE_YOUR_CALM and destroys the session; other sessions go on.
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';

/** Length of the counting window, ms. */
export const FLOOD_WINDOW_MS = 10_000;

/** Why the proxy closed a session (metrics label `reason`). */
export type SessionCloseReason = 'rapid_reset' | 'ping_flood' | 'settings_flood' | 'protocol_error' | 'idle' | 'preface_timeout';

export interface FloodCaps {
  readonly resets: number;
  readonly pings: number;
  readonly settings: number;
}

/** Streams the proxy itself reset: not the client's resets. */
const resetByUs = new WeakSet<ServerHttp2Stream>();

/** The guard watching a stream: its 'close' listener is one shared function, not a closure per stream. */
const GUARD = Symbol('portcullis.sessionGuard');
type WatchedStream = ServerHttp2Stream & { [GUARD]: SessionGuard };

function onWatchedClose(this: WatchedStream): void {
  // NO_ERROR is a normal end only when the stream's answer was under way (not `aborted`): a
  // client's RST_STREAM NO_ERROR before it is a reset like any other, and dodged the cap before
  if ((this.rstCode === constants.NGHTTP2_NO_ERROR && !this.aborted) || resetByUs.has(this)) return;
  this[GUARD].clientReset();
}

/** `end` of a stream being reset by resetStream: ends nothing. */
function noEnd(this: ServerHttp2Stream): ServerHttp2Stream {
  return this;
}

/**
 * Reset `stream` from the proxy's side with RST_STREAM `code` (not counted against the client),
 * what it already sent left incomplete. node's stream.close(code) first ends a writable side
 * still open, and flushes that before the RST_STREAM: on a response without trailers the client
 * got END_STREAM and took a cut body as whole. The stream's own `end` is made a no-op for that.
 */
export function resetStream(stream: ServerHttp2Stream, code: number = constants.NGHTTP2_CANCEL): void {
  resetByUs.add(stream);
  if (stream.destroyed || stream.closed) return;
  if (!stream.writableEnded) (stream as { end: unknown }).end = noEnd;
  stream.close(code);
}

export class SessionGuard {
  private windowStart = performance.now();
  private resets = 0;
  private pings = 0;
  private settings = 0;
  closedFor: SessionCloseReason | null = null;

  constructor(
    private readonly session: ServerHttp2Session,
    private readonly caps: FloodCaps,
    private readonly onClose: (reason: SessionCloseReason) => void,
  ) {
    session.on('ping', () => { this.roll(); if (++this.pings > caps.pings) this.close('ping_flood'); });
    session.on('remoteSettings', () => { this.roll(); if (++this.settings > caps.settings) this.close('settings_flood'); });
  }

  /** Watch one stream of the session: a close with an error code the proxy did not send is a client reset. */
  watch(stream: ServerHttp2Stream): void {
    (stream as WatchedStream)[GUARD] = this;
    stream.on('close', onWatchedClose); // 'close' is emitted once: no once() wrapper needed
  }

  /** @internal a watched stream was reset by the client */
  clientReset(): void {
    this.roll();
    if (++this.resets > this.caps.resets) this.close('rapid_reset');
  }

  /** Close the session for `reason`: GOAWAY with ENHANCE_YOUR_CALM (protocol_error: PROTOCOL_ERROR; idle, preface_timeout: NO_ERROR), then destroy. */
  close(reason: SessionCloseReason): void {
    if (this.closedFor !== null || this.session.destroyed) return;
    this.closedFor = reason;
    this.onClose(reason);
    const code = reason === 'protocol_error' ? constants.NGHTTP2_PROTOCOL_ERROR
      : reason === 'idle' || reason === 'preface_timeout' ? constants.NGHTTP2_NO_ERROR : constants.NGHTTP2_ENHANCE_YOUR_CALM;
    try { this.session.goaway(code); } catch { /* session already going away */ }
    // destroy after the GOAWAY is flushed: the client learns why instead of seeing a reset connection
    setImmediate(() => { if (!this.session.destroyed) this.session.destroy(undefined, code); });
  }

  private roll(): void {
    const now = performance.now();
    if (now - this.windowStart < FLOOD_WINDOW_MS) return;
    this.windowStart = now;
    this.resets = 0;
    this.pings = 0;
    this.settings = 0;
  }
}
