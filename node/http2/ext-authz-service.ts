// Envoy's ext_authz gRPC service (`envoy.service.auth.v3.Authorization/Check`) on the HTTP/2
// listener (server.decision.grpc): reads the one framed CheckRequest, puts the original request
// it reports through the same limits, normalisation, routing and pipeline as proxy mode, and
// answers a CheckResponse. Only trusted edges are believed (server.decision.trusted_edges).
import { isIP } from 'node:net';
import type { ServerHttp2Stream } from 'node:http2';
import { cidrMatcher, type DecisionConfig } from '../config/index.js';
import { pathWithoutTokens, rawPathWithoutTokens } from '../contracts/index.js';
import { decodeCheckRequest, encodeCheckResponse, grpcFrame, originalContext, originalMethodError, ProtoError, REPORTING_HEADERS, type CheckRequest, type CheckResponse, type DecisionResult, type OriginalRequest } from '../decision/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import { Fingerprint, type Logger } from '../log.js';
import type { Pipeline, Snapshot } from '../pipeline/index.js';
import { CheckSink, deniedResponse, type CheckHost } from './ext-authz-sink.js';
import { SlotRegistry } from '../slot-registry.js';
import { GRPC, grpcMessage, isGrpc } from './grpc-status.js';
import type { RequestHead } from './h2-request.js';
import type { H2StreamResponse } from './h2-stream-response.js';

/** The gRPC method path Envoy (and Istio's CUSTOM action) calls. */
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

export interface ExtAuthzOptions {
  logger: Logger;
  accessLog: boolean;
  addSource(source: () => Record<string, number>): void;
  /** Auth decision for portcullis_auth_decisions_total (null = allowed). */
  authDecision(reason: string | null): void;
}

const RESULTS: readonly DecisionResult[] = ['allowed', 'denied', 'unavailable', 'refused'];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** Visible ASCII, SP and HTAB (the listeners' visibleAscii relies on the HTTP parser refusing CTLs; a message has none). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Room for the CheckRequest's own fields around the reported headers and target. */
const MESSAGE_OVERHEAD = 16 * 1024;

/** A Check whose message is still arriving (swept against server.timeouts.request_ms). */
interface Reading {
  readonly stream: ServerHttp2Stream;
  readonly deadline: number;
  /** Index in ExtAuthzService.reading; -1 once the message is in (or the Check ended). */
  slot: number;
}

export class ExtAuthzService implements CheckHost {
  private readonly trusted: (address: string) => boolean;
  private readonly counts: Record<string, number> = {};
  /** Not a Set: one add and delete per Check (node/slot-registry.ts: a Set's rehash chain kept requests alive through scavenges). */
  private readonly reading = new SlotRegistry<Reading>('slot');
  private sweeper: NodeJS.Timeout | null = null;
  private inflight = 0;
  private idleResolve: (() => void) | null = null;

  /** Null unless server.decision.grpc is on (the listener then routes the path like any other). */
  static create(config: DecisionConfig, opts: ExtAuthzOptions): ExtAuthzService | null {
    return config.grpc ? new ExtAuthzService(config, opts) : null;
  }

  private constructor(config: DecisionConfig, private readonly opts: ExtAuthzOptions) {
    this.trusted = cidrMatcher(config.trusted_edges);
    for (const r of RESULTS) this.counts[`decision.envoy_grpc_${r}`] = 0;
    opts.addSource(() => ({ ...this.counts }));
  }

  /** Answer one Check call (later, through its sink). Never throws for bad input. */
  handle(req: RequestHead, res: H2StreamResponse, snap: Snapshot, pipeline: Pipeline, start: number): void {
    const stream = res.stream;
    const edge = req.remoteAddress;
    if (!this.trusted(edge)) return this.fail(stream, GRPC.PERMISSION_DENIED, 'ext_authz called from an address outside server.decision.trusted_edges', edge, start);
    if (req.method !== 'POST' || !isGrpc(req.contentType)) return this.fail(stream, GRPC.INVALID_ARGUMENT, 'a gRPC call (POST, application/grpc) is expected', edge, start);
    const limits = snap.config.server.limits;
    const cap = limits.max_header_bytes + limits.max_url_bytes + MESSAGE_OVERHEAD;
    const chunks: Buffer[] = [];
    let size = 0;
    const reading: Reading = { stream, deadline: start + snap.config.server.timeouts.request_ms, slot: -1 };
    this.reading.add(reading);
    this.startSweeper();
    stream.on('close', () => this.reading.delete(reading));
    stream.on('data', (b: Buffer) => {
      if (reading.slot < 0) return;
      size += b.length;
      if (size > cap + 5) {
        this.reading.delete(reading);
        this.fail(stream, GRPC.RESOURCE_EXHAUSTED, `CheckRequest exceeds ${cap} bytes (do not send the request body: with_request_body off)`, edge, start);
        // the answer is complete: RST_STREAM NO_ERROR tells the edge to stop sending (RFC 9113 §8.1)
        stream.close();
        return;
      }
      chunks.push(b);
    });
    stream.on('end', () => {
      if (!this.reading.delete(reading)) return;
      const msg = unframe(Buffer.concat(chunks, size));
      if (typeof msg === 'string') return this.fail(stream, msg === 'compressed' ? GRPC.UNIMPLEMENTED : GRPC.INVALID_ARGUMENT, msg === 'compressed' ? 'compressed messages are not accepted' : msg, edge, start);
      let check: CheckRequest;
      try {
        check = decodeCheckRequest(msg);
      } catch (err) {
        if (!(err instanceof ProtoError)) throw err;
        return this.fail(stream, GRPC.INVALID_ARGUMENT, `malformed CheckRequest: ${err.message}`, edge, start);
      }
      this.judge(res, check, edge, snap, pipeline, start);
    });
  }

  /** The original request through the listener's checks and the pipeline. */
  private judge(res: H2StreamResponse, check: CheckRequest, edge: string, snap: Snapshot, pipeline: Pipeline, start: number): void {
    const orig = readCheck(check);
    const headers: string[] = [];
    let err: ProxyError | null = typeof orig === 'string' ? proxyError('PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING', orig) : readHeaders(check.headers, headers, snap.config.server.limits.max_header_bytes);
    if (err === null && typeof orig !== 'string') {
      // the pipeline sees the client Envoy reports (X-Forwarded-For, logs); the edge when it reports none
      const client = isIP(check.sourceAddress) !== 0 ? check.sourceAddress : edge;
      const ctx = originalContext(orig, headers, client, snap, check.headers);
      if ('route' in ctx) {
        const sink = new CheckSink(this, snap, ctx, start, res);
        res.stream.on('close', () => { if (!sink.closed) { sink.onAborted(); this.settled(); } });
        this.inflight++;
        pipeline.run(ctx, sink);
        return;
      }
      err = ctx;
    }
    const resp = deniedResponse(err!, snap.realm);
    const status = resp.kind === 'denied' ? resp.httpStatus : 0;
    this.write(res, resp);
    // Envoy's path carries the query, which is never logged (it may hold ?access_token=)
    const q = check.path.indexOf('?');
    const path = q === -1 ? check.path : check.path.slice(0, q);
    this.log(status, 'refused', start, { method: check.method, path: cut(rawPathWithoutTokens(path)), client: edge, reason: err!.code.slice(15).toLowerCase() });
  }

  /** Resolve once no Check is being judged, or after `ms` (shutdown drain). */
  idle(ms: number): Promise<void> {
    if (this.sweeper !== null) { clearInterval(this.sweeper); this.sweeper = null; }
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
      this.idleResolve = () => { clearTimeout(t); resolve(); };
    });
  }

  // ---- CheckHost ---------------------------------------------------------------

  authDecision(reason: string | null): void { this.opts.authDecision(reason); }

  answer(sink: CheckSink, resp: CheckResponse, status: number, result: DecisionResult): void {
    this.settled();
    this.write(sink.res, resp);
    const ctx = sink.ctx;
    const fp = sink.fingerprint();
    this.log(status, result, sink.start, {
      route: ctx.route.name, method: ctx.method, path: pathWithoutTokens(ctx.path), client: ctx.remoteAddress,
      ...(ctx.denyReason !== null ? { deny: ctx.denyReason } : {}),
      ...(ctx.principal !== null ? { sub: ctx.principal.claims.sub } : {}),
      ...(fp !== null ? { token: new Fingerprint(fp) } : {}),
    });
  }

  // ---- internals -----------------------------------------------------------------

  private settled(): void {
    this.inflight--;
    if (this.inflight === 0 && this.idleResolve !== null) { this.idleResolve(); this.idleResolve = null; }
  }

  /** The Check succeeded as an RPC: one CheckResponse, then grpc-status 0 in the trailers. */
  private write(res: H2StreamResponse, resp: CheckResponse): void {
    if (res.stream.destroyed || res.stream.closed || res.headersSent || res.stream.headersSent) return;
    res.writeHead(200, { 'content-type': 'application/grpc' });
    // H2StreamResponse owns the stream's wantTrailers: trailers go through it
    res.addTrailers({ 'grpc-status': '0' });
    res.end(grpcFrame(encodeCheckResponse(resp)));
  }

  /** The Check failed as an RPC (untrusted peer, malformed message): trailers-only. Envoy then denies (status_on_error). */
  private fail(stream: ServerHttp2Stream, code: number, message: string, edge: string, start: number): void {
    if (!stream.destroyed && !stream.closed && !stream.headersSent) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': grpcMessage(message) }, { endStream: true });
    }
    this.log(200, 'refused', start, { route: '(none)', client: edge, reason: message, grpc_status: code });
  }

  private log(status: number, result: DecisionResult, start: number, fields: Record<string, unknown>): void {
    this.counts[`decision.envoy_grpc_${result}`]!++;
    if (!this.opts.accessLog) return;
    this.opts.logger.info({ decision: 'envoy_grpc', route: '(none)', ...fields, status, result, ms: Math.round((performance.now() - start) * 1000) / 1000 }, 'decision');
  }

  private startSweeper(): void {
    if (this.sweeper !== null) return;
    // one coarse timer for every Check still reading its message (a slow or silent edge)
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const r of this.reading) {
        if (r.deadline >= now) continue;
        this.reading.delete(r);
        if (!r.stream.destroyed && !r.stream.headersSent) r.stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(GRPC.DEADLINE_EXCEEDED), 'grpc-message': 'CheckRequest not received in time' }, { endStream: true });
        r.stream.close(); // the edge's side is still open: end the stream (RST_STREAM NO_ERROR)
        this.counts['decision.envoy_grpc_refused']!++;
      }
    }, 250);
    this.sweeper.unref();
  }
}

/** The one message of a unary call, or why it cannot be read ('compressed' for a set compression flag). */
function unframe(body: Buffer): Buffer | string {
  if (body.length < 5) return 'no gRPC message (5-byte length prefix missing)';
  if (body[0] !== 0) return body[0] === 1 ? 'compressed' : 'invalid gRPC message flag';
  const len = body.readUInt32BE(1);
  if (len !== body.length - 5) return 'gRPC message length does not match the data sent (a unary call carries exactly one message)';
  return body.subarray(5);
}

/** The original request of a Check, as the HTTP dialects report it; or what is wrong with it. */
function readCheck(c: CheckRequest): OriginalRequest | string {
  const bad = originalMethodError(c.method);
  if (bad !== null) return `attributes.request.http.method: ${bad}`;
  const target = c.path;
  if (target[0] !== '/') return 'attributes.request.http.path is not an absolute path (origin-form)';
  // `//host/path`: a network-path reference, an upstream URL parser reads a host there (original-request.ts)
  if (target[1] === '/') return 'attributes.request.http.path starts with // (an upstream URL parser reads a host there)';
  // a raw `#` stays in the path (the normaliser refuses it, as at the HTTP decision endpoints): an
  // edge that reports it forwards it, and an upstream reading it as a path character resolves
  // `/public/x#/../../admin/x` — cut off here, it was judged as `/public/x`
  const q = target.indexOf('?');
  const scheme = c.scheme === '' ? 'http' : c.scheme.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return 'attributes.request.http.scheme is neither http nor https';
  return { dialect: 'envoy', method: c.method, rawPath: q === -1 ? target : target.slice(0, q), query: q === -1 ? '' : target.slice(q + 1), host: c.host, proto: scheme };
}

/**
 * The client's headers from the Check's headers map into `out` (without pseudo-headers, Host and
 * the reporting headers), with the listener's checks: names, visible-ASCII values, no name twice,
 * max_header_bytes. Null when fine, else the refusal proxy mode answers.
 */
function readHeaders(h: readonly string[], out: string[], maxBytes: number): ProxyError | null {
  let bytes = 0;
  const seen = new Set<string>();
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    const v = h[i + 1]!;
    bytes += k.length + v.length + 4;
    if (k[0] === ':') continue; // Envoy reports :authority, :path, :method, :scheme in the map too
    if (!HEADER_NAME.test(k)) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'a reported header name is not a lower-case token');
    if (!HEADER_VALUE.test(v)) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', `header ${k} has a byte outside visible ASCII, SP and HTAB`);
    if (seen.has(k)) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', `header ${k} is reported twice`);
    seen.add(k);
    if (!REPORTING_HEADERS.has(k)) out.push(k, v);
  }
  if (bytes > maxBytes) return proxyError('PORTCULLIS_ERR_HEADERS_TOO_LARGE', `request headers exceed ${maxBytes} bytes`);
  return null;
}

/** A logged path: at most 512 characters (cut after a token in it is named by fingerprint). */
function cut(p: string): string {
  return p.length > 512 ? `${p.slice(0, 512)}…` : p;
}
