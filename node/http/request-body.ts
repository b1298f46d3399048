// The client's request body as a Readable for the upstream client: fed by uWS onData, with
// backpressure both ways (push() false pauses the client socket, _read resumes it), or read whole
// first (collect: node/http/body-buffer.ts), the body size limit, and the re-arming of uWS's own
// body timer for slow uploads. Owned by one Relay.
import { Readable } from 'node:stream';
import type { HttpResponse } from 'uWebSockets.js';

/**
 * How often a body still arriving re-arms uWS's own request-body timer (see keepAlive), ms.
 * The pinned build's timer is 10 s counted in 4 s ticks, so it never fires sooner than 8 s after
 * it was armed: re-arming every 4 s (checked by the listener's 250 ms sweep) leaves ≥ 3.75 s of slack.
 */
export const UWS_BODY_REARM_MS = 4_000;

/** What the body needs from the relay that owns it. */
export interface BodyOwner {
  readonly res: HttpResponse;
  /** The relay answered or the client left: chunks are ignored, the client stays as it is. */
  readonly closed: boolean;
  /** The last byte arrived, or the limit was crossed (then bodyTooLarge follows). */
  bodyEnded(): void;
  bodyTooLarge(maxBody: number): void;
}

export class RequestBody extends Readable {
  bytesIn = 0;
  /** performance.now() when uWS last armed its own body timer: the request start, each resume(). */
  private uwsTimerAt: number;
  private clientPaused = false;
  /** Read whole (collect): the body's bytes, copied in once as they arrive; null while it streams. */
  private whole: Buffer | null = null;
  private filled = 0;
  /** Budget bytes (body-buffer.ts) taken for this body read whole; its relay's dispatch waits while > 0. */
  budget = 0;
  /** The client key `budget` is charged to. */
  budgetClient = '';

  /** Must be created synchronously in the uWS handler (onData is registered here). */
  constructor(
    private readonly owner: BodyOwner,
    /** performance.now() by which the whole body must have arrived (server.timeouts.request_ms). */
    readonly deadline: number,
    /** Length announced by the client; -1 unknown (chunked). */
    readonly contentLength: number,
    private readonly maxBody: number,
    /** performance.now() of the request start: uWS arms its timer when the handler returns. */
    armedAt: number,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.uwsTimerAt = armedAt;
    owner.res.onData((ab, isLast) => this.onChunk(ab, isLast));
  }

  /**
   * The proxy holds the client back: what it already sent is not taken yet (the upstream, or the
   * upstream connection, is not reading it). A body late while this is true is late because of the
   * upstream, not the client.
   */
  get heldBack(): boolean {
    return this.clientPaused;
  }

  /**
   * Read the rest of the body into one buffer of its Content-Length, the client never held back; the
   * Readable gets it in one piece, then its end, before the owner hears bodyEnded. Call once, with a
   * known length and the body still arriving.
   */
  collect(): void {
    const whole = Buffer.allocUnsafe(this.contentLength);
    // bytes that came while the pipeline decided went into this Readable: moved over (only those)
    while (this.readableLength > 0) {
      const c = this.read() as Buffer;
      c.copy(whole, this.filled);
      this.filled += c.length;
    }
    this.whole = whole;
    this.release(); // held back while the pipeline decided
  }

  override _read(): void {
    if (this.clientPaused && !this.owner.closed) {
      this.clientPaused = false;
      this.owner.res.resume(); // also re-arms uWS's body timer (pause() had disabled it)
      this.uwsTimerAt = performance.now();
    }
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    cb(err);
  }

  private onChunk(ab: ArrayBuffer, isLast: boolean): void {
    if (this.owner.closed) return;
    this.bytesIn += ab.byteLength;
    if (this.bytesIn > this.maxBody) {
      this.owner.bodyEnded();
      this.owner.bodyTooLarge(this.maxBody);
      return;
    }
    if (this.whole !== null) {
      this.collectChunk(ab, isLast);
      return;
    }
    // uWS neuters the ArrayBuffer on return: copy.
    if (ab.byteLength > 0 && !this.destroyed) {
      if (!this.push(Buffer.from(Buffer.from(ab)))) {
        this.clientPaused = true;
        this.owner.res.pause();
      }
    }
    if (isLast) {
      this.owner.bodyEnded();
      if (!this.destroyed) this.push(null);
      // The last chunk found the buffer full (nothing consumed it yet: a connection to the upstream
      // still opening, as after a reload that replaced the pool): _read is never called after the end,
      // so the client is resumed here. Left paused, uWS read no next request on this keep-alive
      // connection and reset it 8–12 s later (the client saw ECONNRESET on its next request).
      this.release();
    }
  }

  private collectChunk(ab: ArrayBuffer, isLast: boolean): void {
    const whole = this.whole!;
    // uWS neuters the ArrayBuffer on return: the one copy, into place (uWS delivers no byte past Content-Length)
    this.filled += Buffer.from(ab).copy(whole, this.filled);
    if (!isLast) return;
    if (!this.destroyed) {
      this.push(this.filled === whole.length ? whole : whole.subarray(0, this.filled));
      this.push(null);
    }
    this.owner.bodyEnded();
  }

  /**
   * The response is about to end, the connection kept: a client paused for backpressure is resumed.
   * Before this body ended (an upstream that answered without reading it all), so that uWS reads the
   * rest and drops it (the owner is closed by then): left paused, the upload stalled and uWS reset
   * the connection 8–12 s later. After it ended (paused on its last read, the upstream never taking
   * that read: a refusal before reading the body), so that uWS reads the connection's next request:
   * left paused — the pause is the socket's, not the request's — the next request was never read and
   * its client got no answer at all. Call before the write that may end the response: uWS refuses
   * any call on it afterwards.
   */
  release(): void {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    this.owner.res.resume();
  }

  /**
   * Keep uWS from cutting a slow request body before request_ms: the pinned build closes a
   * connection whose body arrives slower than 16 KiB/s 8–12 s after its headers, with no answer
   * and whatever request_ms says. pause() + resume() re-arm its 10 s timer (there is no other
   * handle on it), so the listener's sweeper calls this for every body still arriving and
   * request_ms (→ 408) stays what ends a slow upload. Not while the client is paused for
   * backpressure (uWS's timer is off then). The owner checks it is not answering yet. True when re-armed.
   */
  keepAlive(now: number): boolean {
    if (now - this.uwsTimerAt < UWS_BODY_REARM_MS || this.clientPaused) return false;
    this.uwsTimerAt = now;
    this.owner.res.pause();
    this.owner.res.resume();
    return true;
  }
}
