// The answer of one decision call: the pipeline's sink that, instead of forwarding, writes
// 200 with the identity headers (and an outbound token) for the edge to copy upstream, or the
// denial with its challenge and JSON body for the edge to pass back. Counts and logs the result.
import { hash } from 'node:crypto';
import type { HttpResponse } from 'uWebSockets.js';
import { proxyError, ERRORS, type ProxyError } from '../errors.js';
import { headerValue, type PipelineSink, type RequestContext, type Snapshot, type UpstreamRequest } from '../pipeline/index.js';
import type { Dialect } from './original-request.js';
import { closeAfterParse, handlerScope, inlineAnswer } from '../handler-scope.js';
import { CLIENT_CERT_HEADERS, GATEWAY_METADATA_PREFIX, IDENTITY_ASSERTION_HEADERS, PROXY_FORWARDING_HEADERS } from '../config/untrusted-headers.js';
import { wsRefusal, type WsRefusal } from './ws-verdict.js';

/** What a decision ended as (metrics label `result`). */
export type DecisionResult = 'allowed' | 'denied' | 'unavailable' | 'refused';

/** The endpoint's side of a call: writing errors (node/http owns that), counting, logging. */
export interface DecisionHost {
  writeError(res: HttpResponse, err: ProxyError, closeConnection: boolean, head: boolean): number;
  /** Auth decision for portcullis_auth_decisions_total (null = allowed). */
  authDecision(reason: string | null): void;
  done(call: DecisionSink, status: number, result: DecisionResult): void;
  /** A stop's drain has begun: answers carry `Connection: close`, so the edge opens its next connection elsewhere. */
  draining(): boolean;
}

/** Result of an error answer: 503 = the authorization side is in trouble, else a denial. */
export function resultOf(status: number): DecisionResult {
  return status === 503 ? 'unavailable' : status === 401 || status === 403 ? 'denied' : 'refused';
}

export class DecisionSink implements PipelineSink {
  private aborted = false;
  private answered = false;

  constructor(
    private readonly res: HttpResponse,
    private readonly host: DecisionHost,
    private readonly snap: Snapshot,
    readonly ctx: RequestContext,
    readonly dialect: Dialect,
    readonly start: number,
    /** The call carried a body we do not read: close the connection after answering. */
    private readonly hasBody: boolean,
    /** The call itself is HEAD (Envoy sends the original method): no body in the answer. */
    private readonly head: boolean,
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
    let status = 0;
    this.res.cork(() => { status = this.host.writeError(this.res, error, this.hasBody || this.host.draining(), this.head); });
    this.host.done(this, status, resultOf(status));
  }

  /** Never called: allow() is defined, so the pipeline answers through it. */
  forward(_req: UpstreamRequest): void {
    this.deny(proxyError('PORTCULLIS_ERR_INTERNAL', 'decision endpoint asked to forward'));
  }

  allow(authz: string | null): void {
    if (this.closed) return;
    const ctx = this.ctx;
    // the edge opens a WebSocket itself: the cross-site rule proxy mode applies there is the verdict's
    const ws = this.wsVerdict();
    if (ws !== null) { ctx.denyReason = ws.reason; return this.deny(ws.error); }
    this.answered = true;
    const out = verdictHeaders(this.snap, ctx, authz);
    if (this.dialect === 'envoy') {
      const remove = envoyRemovals(this.snap, ctx, out, stripsCredentials(this.snap, ctx, authz)).join(',');
      if (remove !== '') out.push('x-envoy-auth-headers-to-remove', remove);
    }
    const extra = ctx.responseHeaders;
    const write = (close: boolean): void => {
      this.res.writeStatus('200 OK');
      for (let i = 0; i < out.length; i += 2) this.res.writeHeader(out[i]!, asBytes(out[i + 1]!));
      if (extra != null) for (let i = 0; i < extra.length; i += 2) this.res.writeHeader(extra[i]!, extra[i + 1]!);
      // a verdict must not outlive a revocation in some cache on the way
      this.res.writeHeader('cache-control', 'no-store');
      if (this.snap.policyHeader !== null) this.res.writeHeader('x-portcullis-policy', this.snap.policyHeader); // cluster.policy.response_header
      this.res.end('', close); // Content-Length: 0 is right for HEAD too
    };
    const close = this.hasBody || this.host.draining();
    if (handlerScope.inside && (close || !inlineAnswer())) {
      // a closing verdict inside uWS's handler waits for its parse loop, so that uWS closes on
      // whatever is pipelined behind it (node/handler-scope.ts: unread body, pipelined flood)
      this.res.onAborted(() => { this.aborted = true; });
      closeAfterParse(() => { if (!this.aborted) this.res.cork(() => write(true)); });
    } else {
      this.res.cork(() => write(close));
    }
    this.host.done(this, 200, 'allowed');
  }

  /** Token fingerprint for the log line: principal's, or of the raw token when it never verified. */
  fingerprint(): string | null {
    return tokenFingerprint(this.ctx);
  }
}

/** A char U+0080–U+00FF: a byte ≥ 0x80 of an identity value (its UTF-8 bytes, one char each: node/pipeline/mutate). */
const NON_ASCII = /[\u0080-\u00ff]/;

/** `v` for uWS, which UTF-8-encodes a string: one holding bytes ≥ 0x80 goes as those bytes (else `José` went out as `JosÃ©`). */
function asBytes(v: string): string | Buffer {
  return NON_ASCII.test(v) ? Buffer.from(v, 'latin1') : v;
}

/** The headers an allowed verdict hands the edge: identity headers (mutate appends them to an empty list, so client copies never enter it) and the outbound token. */
export function verdictHeaders(snap: Snapshot, ctx: RequestContext, authz: string | null): string[] {
  const out: string[] = [];
  if (ctx.route.policy !== null) snap.auth.mutate(ctx, out);
  if (authz !== null) out.push('authorization', authz);
  return out;
}

/** The route strips the client's credentials and the verdict carries no replacement: the edge must remove them. */
export function stripsCredentials(snap: Snapshot, ctx: RequestContext, authz: string | null): boolean {
  return authz === null && ctx.route.policy !== null && snap.auth.stripsAuthorization(ctx);
}

/** Token fingerprint for a decision's log line: the principal's, or of the raw token when it never verified. */
export function tokenFingerprint(c: RequestContext): string | null {
  if (c.principal !== null) return c.principal.fingerprint;
  return c.token !== null ? hash('sha256', c.token, 'hex').slice(0, 16) : null;
}

/**
 * Envoy only overwrites the headers a verdict names: client-sent identity headers the verdict
 * does not carry (and the credentials of a route that strips them) must be removed by name
 * (HTTP: `x-envoy-auth-headers-to-remove`; gRPC: `ok_response.headers_to_remove`). Underscore
 * spellings (`x_auth_subject`) too: Envoy passes them by default and CGI, WSGI and Rack
 * upstreams read them as the dashed name; a verdict never sets one, so they are always named.
 * A route that strips credentials also names its own token header (`token_sources.header`).
 * So are other proxies' identity assertions and client-certificate headers (`X-Forwarded-User`,
 * `Client-Cert`…), as proxy mode strips them, unless `server.forwarded.keep_headers` keeps them
 * or the verdict sets one (a route mapping a claim to `X-Forwarded-User`: its value replaces the client's).
 * A verdict carrying Authorization (internal or exchanged token) names the client's `DPoP` proof.
 */
export function envoyRemovals(snap: Snapshot, ctx: RequestContext, verdict: readonly string[], stripCredentials: boolean): string[] {
  const names: string[] = stripCredentials ? ['authorization', 'dpop'] : [];
  // a DPoP proof belongs to the Authorization it came with: a verdict replacing that (internal or
  // exchanged token) takes the proof away too, as proxy mode does (node/pipeline/forward.ts)
  if (!stripCredentials && headerValue(verdict, 'authorization') !== undefined && headerValue(ctx.headers, 'dpop') !== undefined) names.push('dpop');
  // a stripping route's own token header goes too, internal token or not (proxy mode: mutate drops it)
  const tokenHeader = strippedTokenHeader(snap, ctx);
  if (tokenHeader !== null && !names.includes(tokenHeader)) names.push(tokenHeader);
  const h = ctx.headers;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    const dashed = k.indexOf('_') === -1 ? k : k.replace(/_/g, '-');
    if ((!snap.auth.isIdentityHeader(dashed) && !assertedStripped(snap, dashed, k !== dashed)) || names.includes(k)) continue;
    let set = false;
    for (let j = 0; j < verdict.length; j += 2) if (verdict[j] === k) { set = true; break; }
    if (!set) names.push(k);
  }
  return names;
}

const ASSERTED: ReadonlySet<string> = new Set([...IDENTITY_ASSERTION_HEADERS, ...CLIENT_CERT_HEADERS]);
/** Forwarding fields the edge writes itself (Envoy's x-forwarded-client-cert, -for): only their grpc-gateway spelling is a client's. */
const FORWARDING: ReadonlySet<string> = new Set(PROXY_FORWARDING_HEADERS);

/**
 * `dashed` is another proxy's identity or client-certificate header that this config strips: not in
 * keep_headers, or sent `underscored` or under grpc-gateway's prefix — keep_headers trusts the name a
 * front proxy sets, and none sets `x_ssl_client_verify` or `grpc-metadata-x-ssl-client-verify`: a
 * client's copy, which CGI, WSGI and Rack (or grpc-gateway, as metadata) hand on as the kept one.
 * grpc-gateway's spelling of a forwarding field the edge writes (x-forwarded-client-cert…) is always a client's.
 */
function assertedStripped(snap: Snapshot, dashed: string, underscored: boolean): boolean {
  const gateway = dashed.startsWith(GATEWAY_METADATA_PREFIX);
  const name = gateway ? dashed.slice(GATEWAY_METADATA_PREFIX.length) : dashed;
  if (gateway && FORWARDING.has(name)) return true;
  return ASSERTED.has(name) && (underscored || gateway || !snap.config.server.forwarded.keep_headers.includes(name));
}

/** The route's `token_sources.header` (lower-case) when the route strips credentials, else null. */
function strippedTokenHeader(snap: Snapshot, ctx: RequestContext): string | null {
  if (ctx.route.policy === null || !snap.auth.stripsAuthorization(ctx)) return null;
  const auth = ctx.route.config.auth;
  return auth !== undefined && auth !== 'none' ? auth.token_sources?.header?.toLowerCase() ?? null : null;
}

/** The status an error answer gets (for refusals answered before a sink exists). */
export function statusOf(err: ProxyError): number {
  return ERRORS[err.code].status;
}
