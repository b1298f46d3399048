// Ending an HTTP/2-listener relay early (h2-relay.ts), from outside its request: a streamed response whose
// token was revoked or expired or a reload no longer allows (endStream: a gRPC call gets its status in the
// trailers), a request still waiting for its head (endPending), and the trailers that end a gRPC call.
import type { ProxyError } from '../errors.js';
import type { Outcome } from '../http/relay.js';
import type { RequestContext } from '../pipeline/index.js';
import type { H1Control } from '../upstream/h1-client.js';
import type { H2Body } from './h2-body.js';
import type { AnyResponse } from './h2-respond.js';
import { GRPC, grpcMessage } from './grpc-status.js';

/** What ending needs of an HTTP/2-listener relay (h2-relay.ts H2Relay). */
export interface H2EndingRelay {
  readonly closed: boolean;
  readonly res: AnyResponse;
  readonly ctx: RequestContext;
  readonly grpc: boolean;
  status: number;
  outcome: Outcome;
  errorKind: string | null;
  readonly body: H2Body | null;
  readonly headersWritten: boolean;
  readonly controller: H1Control | null;
  cut(reason: string): void;
  sendError(err: ProxyError): void;
  finish(status: number): void;
}

/** End a gRPC call whose response head went out: `grpc-status` and its message in the trailers, the response truncated. */
export function endWithGrpcStatus(r: H2EndingRelay, res: AnyResponse, status: number, message: string): void {
  r.outcome = 'truncated';
  res.addTrailers({ 'grpc-status': String(status), 'grpc-message': message });
  res.end();
  r.finish(r.status);
}

/**
 * End a streamed response because its token was revoked or expired, or a reload no longer
 * allows it: the stream is reset (a gRPC call gets its status in the trailers).
 * False when no response is streaming.
 */
export function endStream(r: H2EndingRelay, reason: string): boolean {
  if (r.closed || !r.headersWritten) return false;
  r.ctx.denyReason = reason;
  r.errorKind = reason;
  r.controller?.abort();
  if (r.grpc && 'stream' in r.res && r.res.stream !== undefined) {
    // a gRPC call ends with a status its client understands: UNAUTHENTICATED (token revoked or
    // expired) or PERMISSION_DENIED (a reload no longer allows the call) in the trailers
    const changed = reason === 'stream_policy_changed';
    endWithGrpcStatus(r, r.res, changed ? GRPC.PERMISSION_DENIED : GRPC.UNAUTHENTICATED,
      changed ? 'access changed by configuration' : grpcMessage(`token ${reason.replace(/^stream_/, '')}`));
    return true;
  }
  r.cut(reason);
  return true;
}

/** Token revoked before the response head (long poll, body still arriving): cancel upstream, answer `err` (gRPC: trailers-only); false once a response started. */
export function endPending(r: H2EndingRelay, reason: string, err: ProxyError): boolean {
  if (r.closed || r.headersWritten || r.status !== 0) return false;
  r.ctx.denyReason = reason;
  r.errorKind = reason;
  r.controller?.abort();
  r.body?.destroy();
  r.sendError(err);
  return true;
}
