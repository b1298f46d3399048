// Decision endpoints on the main listener (issue 15): an edge proxy asks "may this request
// pass?" and gets the pipeline's verdict — routing, policy, caches, revocations, DPoP and
// metrics as in proxy mode — for the ORIGINAL request it reports, never for the call's own
// path. Only trusted edges are believed (server.decision.trusted_edges). The listener calls
// endpoint() before routing and hands matching calls to handle().
import type { HttpResponse } from 'uWebSockets.js';
import { cidrMatcher, type DecisionConfig } from '../config/index.js';
import { pathWithoutTokens, rawPathWithoutTokens } from '../contracts/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import { Fingerprint, type Logger } from '../log.js';
import { forwardedClient, type Pipeline, type Snapshot } from '../pipeline/index.js';
import { DecisionSink, type DecisionHost, type DecisionResult } from './decision-sink.js';
import type { CallParts, Endpoint } from './decision-call.js';
import { DecisionSocket, type SocketEndpoints } from './decision-socket.js';
import { originalContext } from './original-context.js';
import { dialectOf, readOriginal, REPORTING_HEADERS, type Dialect, type DialectSetting } from './original-request.js';


export interface DecisionOptions {
  logger: Logger;
  accessLog: boolean;
  /** Register flat counters (metrics addSource). */
  addSource(source: () => Record<string, number>): void;
  /** node/http/respond writeError, with the snapshot's realm. */
  writeError(res: HttpResponse, err: ProxyError, closeConnection: boolean, head: boolean): number;
  authDecision(reason: string | null): void;
  /** The snapshot in force and its pipeline (the unix socket's calls; they change on reload). */
  current(): { snap: Snapshot; pipeline: Pipeline };
  /** True once the instance is shutting down (answers, on the listener and the unix socket, carry `Connection: close`). */
  draining(): boolean;
}

const DIALECTS: readonly (Dialect | 'none')[] = ['nginx', 'traefik', 'envoy', 'none'];
const RESULTS: readonly DecisionResult[] = ['allowed', 'denied', 'unavailable', 'refused'];

/** Flat counter key of a decision result (component-families.ts maps it to portcullis_decision_requests_total). */
export function decisionKey(dialect: Dialect | 'none', result: DecisionResult): string {
  return `decision.${dialect}_${result}`;
}

export class DecisionEndpoints implements DecisionHost, SocketEndpoints {
  private readonly exact = new Map<string, Endpoint>();
  /** Envoy endpoints: prefixes the original path is appended to. */
  private readonly prefixes: Endpoint[] = [];
  private readonly trusted: (address: string) => boolean;
  /** Calls per dialect × result (DIALECTS × RESULTS order): no key string built per call. */
  private readonly counts = new Float64Array(DIALECTS.length * RESULTS.length);
  /** Decisions being judged (a cache miss waits for the verifier or the authorization server). */
  private inflight = 0;
  private idleResolve: (() => void) | null = null;
  /** server.decision.unix_socket, null when not configured. */
  private readonly socket: DecisionSocket | null;

  /** Null when no endpoint is configured (the listener then has no decision branch at all). */
  static create(config: DecisionConfig, opts: DecisionOptions): DecisionEndpoints | null {
    return config.endpoints.length === 0 ? null : new DecisionEndpoints(config, opts);
  }

  private constructor(config: DecisionConfig, private readonly opts: DecisionOptions) {
    for (const e of config.endpoints) {
      if (e.dialect === 'envoy') this.prefixes.push(e); else this.exact.set(e.path, e);
    }
    this.trusted = cidrMatcher(config.trusted_edges);
    this.socket = DecisionSocket.create(config, this, opts);
    opts.addSource(() => {
      const out: Record<string, number> = {};
      DIALECTS.forEach((d, i) => RESULTS.forEach((r, j) => { out[decisionKey(d, r)] = this.counts[i * RESULTS.length + j]!; }));
      return out;
    });
  }

  /** The endpoint `rawPath` calls, or null (the request is an ordinary proxied one). */
  endpoint(rawPath: string): Endpoint | null {
    const e = this.exact.get(rawPath);
    if (e !== undefined) return e;
    for (const p of this.prefixes) if (rawPath.startsWith(p.path) && rawPath.charCodeAt(p.path.length) === 47 /* / */) return p;
    return null;
  }

  /**
   * Answer one decision call (synchronously or later through its sink). Never throws for bad input.
   * `edge`: null on the TCP listener (the peer address is read and checked against trusted_edges);
   * the socket's name on the unix socket, whose file mode already decided who may call.
   */
  handle(ep: Endpoint, res: HttpResponse, call: CallParts, snap: Snapshot, pipeline: Pipeline, edge: string | null = null): void {
    let remote = edge;
    if (remote === null) {
      // reading the peer address costs µs per call (uWS allocates an ArrayBuffer): the unix socket skips it
      remote = Buffer.from(res.getRemoteAddressAsText()).toString();
      if (!this.trusted(remote)) {
        return this.refuse(res, call, 'none', proxyError('PORTCULLIS_ERR_DECISION_UNTRUSTED_EDGE', 'decision endpoint called from an address outside server.decision.trusted_edges'), remote);
      }
    }
    // a trusted edge is the hop that appended the client to X-Forwarded-For (README "The logged client behind a front proxy")
    const client = snap.config.server.trust_forwarded ? forwardedClient(call.headers, remote, snap.config.server.trusted_hops) : undefined;
    const orig = readOriginal(ep.dialect, ep.path, call);
    if (typeof orig === 'string') {
      return this.refuse(res, call, dialectOf(ep.dialect, call.headers) ?? 'none', proxyError('PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING', orig), remote, client);
    }
    const dialect = orig.dialect;
    // the client's headers as the edge copied them, without the reporting ones (the original Host is added back)
    const headers: string[] = [];
    const h = call.headers;
    for (let i = 0; i < h.length; i += 2) if (!REPORTING_HEADERS.has(h[i]!)) headers.push(h[i]!, h[i + 1]!);
    const ctx = originalContext(orig, headers, remote, snap, h, client);
    if (!('route' in ctx)) return this.refuse(res, call, dialect, ctx, remote, client);
    const sink = new DecisionSink(res, this, snap, ctx, dialect, call.start, call.hasBody, call.head);
    this.inflight++;
    pipeline.run(ctx, sink);
    // a warm token is answered inside run(); only a verdict still pending (cache miss) needs the
    // abort handler, registered before this uWS handler returns as uWS requires — no closure per warm call
    if (!sink.closed) res.onAborted(() => { if (!sink.closed) this.settled(); sink.onAborted(); });
  }

  /** Bind the unix socket when configured (the listener, once its port is bound). */
  listenSocket(): Promise<void> {
    return this.socket === null ? Promise.resolve() : this.socket.listen();
  }

  /** A decision is being judged. */
  get busy(): boolean { return this.inflight > 0; }

  /** Shutdown: stop the unix socket; resolve once no decision is being judged, or after `ms`. */
  drain(ms: number): Promise<void> {
    this.socket?.close();
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
      this.idleResolve = () => { clearTimeout(t); resolve(); };
    });
  }

  /** The drain is over: the unix socket's open connections close (the listener closes its own). */
  closeAll(): void {
    this.socket?.closeAll();
  }

  private settled(): void {
    this.inflight--;
    if (this.inflight === 0 && this.idleResolve !== null) { this.idleResolve(); this.idleResolve = null; }
  }

  // ---- DecisionHost -----------------------------------------------------------

  writeError(res: HttpResponse, err: ProxyError, closeConnection: boolean, head: boolean): number {
    return this.opts.writeError(res, err, closeConnection, head);
  }

  authDecision(reason: string | null): void { this.opts.authDecision(reason); }
  draining(): boolean { return this.opts.draining(); }

  done(call: DecisionSink, status: number, result: DecisionResult): void {
    this.settled();
    this.count(call.dialect, result);
    if (!this.opts.accessLog) return;
    const ctx = call.ctx;
    const fp = call.fingerprint();
    this.opts.logger.info({
      decision: call.dialect, route: ctx.route.name, method: ctx.method, path: pathWithoutTokens(ctx.path), status, result,
      ...(ctx.denyReason !== null ? { deny: ctx.denyReason } : {}),
      ...(ctx.principal !== null ? { sub: ctx.principal.claims.sub } : {}),
      ...(fp !== null ? { token: new Fingerprint(fp) } : {}),
      ms: Math.round((performance.now() - call.start) * 1000) / 1000, client: ctx.client ?? ctx.remoteAddress,
      ...(ctx.client !== undefined ? { peer: ctx.remoteAddress } : {}),
    }, 'decision');
  }

  private count(dialect: Dialect | 'none', result: DecisionResult): void {
    this.counts[DIALECTS.indexOf(dialect) * RESULTS.length + RESULTS.indexOf(result)]!++;
  }

  /** A call refused before the pipeline: the error answer, its count and log line (`client`: the forwarded one, `peer` the edge). */
  refuse(res: HttpResponse, call: CallParts, dialect: Dialect | 'none', err: ProxyError, peer: string, client?: string): void {
    const status = this.opts.writeError(res, err, call.hasBody, call.head);
    this.count(dialect, 'refused');
    if (!this.opts.accessLog) return;
    this.opts.logger.info({
      decision: dialect, route: '(none)', method: call.method, path: cut(rawPathWithoutTokens(call.path)),
      status, result: 'refused', reason: err.code.slice(15).toLowerCase(), ms: Math.round((performance.now() - call.start) * 1000) / 1000,
      client: client ?? peer, ...(client !== undefined ? { peer } : {}),
    }, 'decision');
  }
}

/** A logged path: at most 512 characters (cut after a token in it is named by fingerprint). */
function cut(p: string): string {
  return p.length > 512 ? `${p.slice(0, 512)}…` : p;
}
