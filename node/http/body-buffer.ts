// Request bodies read whole before an upstream connection is taken (server.limits.buffer_request_body_bytes):
// which bodies qualify, and the process-wide budget of bytes they hold together (…_total_bytes), shared by
// both listeners, and each client address's share of it. A slow sender then holds client-side memory under this
// budget, never an upstream connection.
import { clientKey, requestClient, type RequestContext } from '../pipeline/index.js';

/** Bytes held now by bodies being read whole, in this process (both listeners). */
let held = 0;
/**
 * Bytes held per client key (node/pipeline/client-key.ts: an address, an IPv6 /64): a key is here only while it
 * holds some, so the table never holds more keys than bodies being read whole.
 */
const heldBy = new Map<string, number>();

/** The part of buffer_request_body_total_bytes one client may hold: an eighth, never less than one body of buffer_request_body_bytes. */
export const CLIENT_SHARE_DIVISOR = 8;

/**
 * What a relay decided for its body when the pipeline let it through: `stream` (no body still arriving, one
 * of unknown length — chunked, HTTP/2 without content-length — or over the limit), `buffer` (read whole first;
 * its length taken from the budget, given back with releaseBody), `overflow` (within the limit but the budget
 * was spent: streams as an unbuffered body does, counted), `share` (an overflow because its client already
 * holds its share of the budget: clientShare).
 */
export type BodyPlan = 'stream' | 'buffer' | 'overflow' | 'share';

type BodyLimits = { readonly buffer_request_body_bytes: number; readonly buffer_request_body_total_bytes: number };

/**
 * Bytes of bodies still arriving one client key may hold: max(buffer_request_body_bytes, total / 8). Before, one
 * client with 11 HTTP/2 connections (100 streams each announcing 60 KiB, sending nothing) held the whole budget
 * and every other client's bodies streamed; now it holds an eighth and its further bodies stream.
 */
export function clientShare(limits: BodyLimits): number {
  return Math.max(limits.buffer_request_body_bytes, Math.floor(limits.buffer_request_body_total_bytes / CLIENT_SHARE_DIVISOR));
}

/** Whether a body of `contentLength` still arriving could be read whole at all (no client looked up otherwise). */
export function bufferable(contentLength: number, limits: BodyLimits): boolean {
  return contentLength > 0 && contentLength <= limits.buffer_request_body_bytes;
}

/**
 * The plan for a body of `contentLength` (-1 unknown) bytes still arriving when the request is allowed, for
 * the client charged under `client` (clientKey). A `buffer` plan has taken `contentLength` bytes of the budget
 * and of the client's share: the caller gives them back once (releaseBody, same client).
 */
export function planBody(contentLength: number, limits: BodyLimits, client = ''): BodyPlan {
  if (!bufferable(contentLength, limits)) return 'stream';
  if (held + contentLength > limits.buffer_request_body_total_bytes) return 'overflow';
  const mine = heldBy.get(client) ?? 0;
  if (mine + contentLength > clientShare(limits)) return 'share';
  held += contentLength;
  heldBy.set(client, mine + contentLength);
  return 'buffer';
}

/** Give back what a `buffer` plan took for `client`. */
export function releaseBody(bytes: number, client = ''): void {
  held -= bytes;
  const left = (heldBy.get(client) ?? 0) - bytes;
  if (left <= 0) heldBy.delete(client); else heldBy.set(client, left);
}

/** Client keys holding budget now (a leak check for tests: 0 once every such request has ended). */
export function bufferingClients(): number {
  return heldBy.size;
}

/** What both listeners' request bodies offer for being read whole (RequestBody, H2Body). */
export interface BufferableBody {
  /** Its announced length, -1 unknown. */
  readonly contentLength: number;
  /** Budget bytes it holds while read whole; 0 when it streams or has given them back. */
  budget: number;
  /** The client key those bytes are charged to (body-buffer.ts planBody). */
  budgetClient: string;
  /** Keep the rest without holding the client back; the owner hears bodyEnded once it is whole. */
  collect(): void;
}

/**
 * When the pipeline let a request with a body still arriving through: read it whole first (true: the
 * relay dispatches at bodyEnded) or stream it (false). `host` counts a `buffer`, `overflow` or `share` plan (its
 * listener's metric). The client (`ctx`'s address as the access log names it, `trustedHops` as there) is read
 * only for a body that could be read whole: a request without one costs nothing here.
 */
export function readWholeFirst(body: BufferableBody, limits: BodyLimits, host: { bodyPlanned(plan: 'buffer' | 'overflow' | 'share'): void }, ctx: RequestContext, trustedHops: number): boolean {
  if (!bufferable(body.contentLength, limits)) return false;
  const client = clientKey(requestClient(ctx, trustedHops));
  const plan = planBody(body.contentLength, limits, client);
  if (plan === 'stream') return false;
  host.bodyPlanned(plan);
  if (plan !== 'buffer') return false;
  body.budget = body.contentLength;
  body.budgetClient = client;
  body.collect();
  return true;
}

/** Give back the budget `body` (null: none) holds, once: when it is whole or its request ends. */
export function giveBackBody(body: BufferableBody | null): void {
  if (body === null || body.budget === 0) return;
  releaseBody(body.budget, body.budgetClient);
  body.budget = 0;
}

/** Bytes held now by bodies being read whole (portcullis_request_body_buffer_bytes, reported by the uWS listener's metrics source). */
export function bufferedBodyBytes(): number {
  return held;
}
