// The pipeline's sink for one Envoy ext_authz gRPC Check: the verdict as a CheckResponse instead
// of a forwarded request. Allowed → OK with the identity headers (and internal token) to set,
// client-sent identity headers to remove, and the principal as dynamic_metadata; denied → the
// proxy-mode answer (status, challenge, JSON body) as denied_response, with a gRPC code.
import { clientOf } from '../contracts/index.js';
import { envoyRemovals, stripsCredentials, tokenFingerprint, verdictHeaders, wsRefusal, type CheckResponse, type DecisionResult, type StructValue, type WsRefusal } from '../decision/index.js';
import { ERRORS, proxyError, type ProxyError } from '../errors.js';
import { challenge, errorBody } from '../http/respond.js';
import type { PipelineSink, RequestContext, Snapshot, UpstreamRequest } from '../pipeline/index.js';
import { GRPC } from './grpc-status.js';
import type { H2StreamResponse } from './h2-stream-response.js';

/** The Check's side of the transport: writing the answer, counting, logging. */
export interface CheckHost {
  authDecision(reason: string | null): void;
  /** Write `resp` (gRPC OK with a CheckResponse); `status` is the HTTP status the edge answers with. */
  answer(sink: CheckSink, resp: CheckResponse, status: number, result: DecisionResult): void;
}

/** The CheckResponse status code for a denial the edge answers with HTTP `status`. */
export function checkCodeOf(status: number): number {
  switch (status) {
    case 401: return GRPC.UNAUTHENTICATED;
    case 403: return GRPC.PERMISSION_DENIED;
    case 404: return GRPC.NOT_FOUND;
    case 429: case 502: case 503: return GRPC.UNAVAILABLE;
    default: return status >= 500 ? GRPC.INTERNAL : GRPC.INVALID_ARGUMENT;
  }
}

/** denied_response of `err` as proxy mode would have answered it (challenge, Retry-After, DPoP-Nonce, JSON body). */
export function deniedResponse(err: ProxyError, realm: string): CheckResponse {
  const status = ERRORS[err.code].status;
  const headers: string[] = [];
  const ch = challenge(err, realm);
  if (ch !== null) headers.push('www-authenticate', ch);
  if (err.retryAfter !== undefined) headers.push('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  if (err.allow !== undefined) headers.push('allow', err.allow);
  if (err.dpop?.nonce !== undefined) headers.push('dpop-nonce', err.dpop.nonce);
  headers.push('content-type', 'application/json', 'cache-control', 'no-store');
  return { kind: 'denied', code: checkCodeOf(status), message: err.message, httpStatus: status, headers, body: errorBody(err) };
}

export class CheckSink implements PipelineSink {
  private aborted = false;
  private answered = false;

  constructor(
    private readonly host: CheckHost,
    private readonly snap: Snapshot,
    readonly ctx: RequestContext,
    readonly start: number,
    /** The Check call's response (the host writes the answer on it). */
    readonly res: H2StreamResponse,
  ) {}

  get closed(): boolean { return this.aborted || this.answered; }

  onAborted(): void { this.aborted = true; }

  /** An allowed token on a handshake the verdict refuses counts as that refusal (its deny reason), not as allowed. */
  decision(reason: string | null): void { this.host.authDecision(reason ?? this.wsVerdict()?.reason ?? null); }

  /** The WebSocket refusal of this call (ws-verdict.ts), judged once: undefined until asked. */
  private ws: WsRefusal | null | undefined;
  private wsVerdict(): WsRefusal | null { return this.ws === undefined ? (this.ws = wsRefusal(this.ctx)) : this.ws; }

  deny(error: ProxyError): void {
    if (this.closed) return;
    this.answered = true;
    const resp = deniedResponse(error, this.snap.realm);
    const status = resp.kind === 'denied' ? resp.httpStatus : 200;
    this.host.answer(this, resp, status, status === 503 ? 'unavailable' : status === 401 || status === 403 ? 'denied' : 'refused');
  }

  /** Never called: allow() is defined, so the pipeline answers through it. */
  forward(_req: UpstreamRequest): void {
    this.deny(proxyError('PORTCULLIS_ERR_INTERNAL', 'ext_authz Check asked to forward'));
  }

  allow(authz: string | null): void {
    if (this.closed) return;
    const ctx = this.ctx;
    // the edge opens a WebSocket itself: the cross-site rule proxy mode applies there is the verdict's
    const ws = this.wsVerdict();
    if (ws !== null) { ctx.denyReason = ws.reason; return this.deny(ws.error); }
    this.answered = true;
    const out = verdictHeaders(this.snap, ctx, authz);
    const remove = envoyRemovals(this.snap, ctx, out, stripsCredentials(this.snap, ctx, authz));
    // DPoP-Nonce when due goes to the client's response (response_headers_to_add), not upstream
    this.host.answer(this, { kind: 'ok', headers: out, remove, responseHeaders: ctx.responseHeaders ?? [], metadata: this.metadata() }, 200, 'allowed');
  }

  /** dynamic_metadata: the principal (sub, client_id, scopes, issuer, route) for Envoy's filters and access log. */
  private metadata(): { [k: string]: StructValue } {
    const ctx = this.ctx;
    const m: { [k: string]: StructValue } = { route: ctx.route.name };
    const p = ctx.principal;
    if (p === null) return m;
    m.issuer = p.issuer;
    const sub = p.claims.sub;
    if (typeof sub === 'string') m.sub = sub;
    const cid = clientOf(p.claims);
    if (cid !== undefined) m.client_id = cid;
    m.scopes = p.scopes;
    return m;
  }

  /** Token fingerprint for the log line: principal's, or of the raw token when it never verified. */
  fingerprint(): string | null {
    return tokenFingerprint(this.ctx);
  }
}
