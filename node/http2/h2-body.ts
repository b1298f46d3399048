// The client's request body on the HTTP/2 listener (either protocol by ALPN) as a Readable for
// the upstream client: pulled from the HTTP/2 stream (or HTTP/1.1 request) with backpressure (push() false pauses it,
// _read resumes it) or read whole first (collect: node/http/body-buffer.ts), the server.limits.max_body_bytes
// cap and the request_ms deadline.
import { Readable } from 'node:stream';

/** What the body needs from the relay that owns it. */
export interface H2BodyOwner {
  readonly closed: boolean;
  bodyEnded(): void;
  bodyTooLarge(maxBody: number): void;
}

export class H2Body extends Readable {
  bytesIn = 0;
  private paused = false;
  /** Read whole (collect): every chunk is kept, the client never held back; its length was taken from the budget. */
  private collecting = false;
  /** Budget bytes (node/http/body-buffer.ts) taken for this body read whole; its relay's dispatch waits while > 0. */
  budget = 0;
  /** The client key `budget` is charged to. */
  budgetClient = '';

  constructor(
    private readonly req: Readable,
    private readonly owner: H2BodyOwner,
    /** performance.now() by which the whole body must have arrived (server.timeouts.request_ms). */
    readonly deadline: number,
    /** Length announced by the client; -1 unknown. */
    readonly contentLength: number,
    private readonly maxBody: number,
  ) {
    super({ highWaterMark: 64 * 1024 });
    req.on('data', (chunk: Buffer) => this.onChunk(chunk));
    req.on('end', () => { if (!this.destroyed) { this.push(null); owner.bodyEnded(); } });
  }

  /** The client is held back: what it sent is not taken yet (the upstream is not reading it). A body late while this is true is the upstream's fault. */
  get heldBack(): boolean { return this.paused; }

  /** Keep the rest of the body without holding the client back: the owner dispatches once it ended (bodyEnded). */
  collect(): void {
    this.collecting = true;
    this._read(); // held back while the pipeline decided
  }

  override _read(): void {
    if (this.paused) { this.paused = false; this.req.resume(); }
  }

  private onChunk(chunk: Buffer): void {
    if (this.owner.closed || this.destroyed) return;
    this.bytesIn += chunk.length;
    if (this.bytesIn > this.maxBody) {
      this.req.pause();
      this.owner.bodyTooLarge(this.maxBody);
      return;
    }
    // collecting: the whole body is at most its content-length, taken from the budget (node:http2 enforces that length)
    if (!this.push(chunk) && !this.collecting) { this.paused = true; this.req.pause(); }
  }
}
