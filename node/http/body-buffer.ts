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

/** Bytes held now by bodies being read whole (portcullis_request_body_buffer_bytes). */
export function bufferedBodyBytes(): number {
  return held;
}
