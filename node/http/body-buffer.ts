// Request bodies read whole before an upstream connection is taken (server.limits.buffer_request_body_bytes):
// which bodies qualify, and the process-wide budget of bytes they hold together (…_total_bytes), shared by
// both listeners. A slow sender then holds client-side memory under this budget, never an upstream connection.

/** Bytes held now by bodies being read whole, in this process (both listeners). */
let held = 0;

/**
 * What a relay decided for its body when the pipeline let it through: `stream` (no body still arriving, one
 * of unknown length — chunked, HTTP/2 without content-length — or over the limit), `buffer` (read whole first;
 * its length taken from the budget, given back with releaseBody), `overflow` (within the limit but the budget
 * was spent: streams as an unbuffered body does, counted).
 */
export type BodyPlan = 'stream' | 'buffer' | 'overflow';

/**
 * The plan for a body of `contentLength` (-1 unknown) bytes still arriving when the request is allowed.
 * A `buffer` plan has taken `contentLength` bytes of the budget: the caller gives them back once (releaseBody).
 */
export function planBody(contentLength: number, limits: { readonly buffer_request_body_bytes: number; readonly buffer_request_body_total_bytes: number }): BodyPlan {
  if (contentLength <= 0 || contentLength > limits.buffer_request_body_bytes) return 'stream';
  if (held + contentLength > limits.buffer_request_body_total_bytes) return 'overflow';
  held += contentLength;
  return 'buffer';
}

/** Give back what a `buffer` plan took. */
export function releaseBody(bytes: number): void {
  held -= bytes;
}

/** What both listeners' request bodies offer for being read whole (RequestBody, H2Body). */
export interface BufferableBody {
  /** Its announced length, -1 unknown. */
  readonly contentLength: number;
  /** Budget bytes it holds while read whole; 0 when it streams or has given them back. */
  budget: number;
  /** Keep the rest without holding the client back; the owner hears bodyEnded once it is whole. */
  collect(): void;
}

/**
 * When the pipeline let a request with a body still arriving through: read it whole first (true: the
 * relay dispatches at bodyEnded) or stream it (false). `host` counts a `buffer` or `overflow` plan (its listener's metric).
 */
export function readWholeFirst(body: BufferableBody, limits: Parameters<typeof planBody>[1], host: { bodyPlanned(plan: 'buffer' | 'overflow'): void }): boolean {
  const plan = planBody(body.contentLength, limits);
  if (plan === 'stream') return false;
  host.bodyPlanned(plan);
  if (plan === 'overflow') return false;
  body.budget = body.contentLength;
  body.collect();
  return true;
}

/** Give back the budget `body` (null: none) holds, once: when it is whole or its request ends. */
export function giveBackBody(body: BufferableBody | null): void {
  if (body === null || body.budget === 0) return;
  releaseBody(body.budget);
  body.budget = 0;
}

/** Bytes held now by bodies being read whole (portcullis_request_body_buffer_bytes, reported by the uWS listener's metrics source). */
export function bufferedBodyBytes(): number {
  return held;
}
