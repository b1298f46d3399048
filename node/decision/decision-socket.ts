// The decision endpoints on a unix-domain socket (server.decision.unix_socket): an edge on the
// same host (nginx `server unix:/…`) calls them without loopback TCP, and no peer address is
// read per call — the socket file's mode and owner decide who may call, not trusted_edges.
// Only the decision endpoints answer here (anything else is 404): the socket is not a second
// way into the proxied routes. The request is read with the main listener's limits and byte rules.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import type { DecisionConfig } from '../config/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Pipeline, Snapshot } from '../pipeline/index.js';
import type { CallParts, Endpoint } from './decision-call.js';
import type { Dialect } from './original-request.js';
import { HeaderCollector, visibleAscii } from '../routing/request-bytes.js';
import { handlerScope } from '../handler-scope.js';

/** What the socket needs of the decision endpoints (DecisionEndpoints implements it). */
export interface SocketEndpoints {
  endpoint(rawPath: string): Endpoint | null;
  handle(ep: Endpoint, res: HttpResponse, call: CallParts, snap: Snapshot, pipeline: Pipeline, edge: string | null): void;
  refuse(res: HttpResponse, call: CallParts, dialect: Dialect | 'none', err: ProxyError, client: string): void;
  writeError(res: HttpResponse, err: ProxyError, closeConnection: boolean, head: boolean): number;
}

/** What the socket needs of DecisionOptions. */
export interface DecisionSocketOptions {
  current(): { snap: Snapshot; pipeline: Pipeline };
  logger: Logger;
}

const headersIn = new HeaderCollector();

/**
 * The socket path of this process: `<path>.<N>` for worker N when several workers run. `workers`: the
 * count running (the primary's PORTCULLIS_WORKER_COUNT), not server.workers — `serve --workers 2`
 * overrides it, and both workers then took one path (the second replaced the first's file).
 */
export function socketPath(path: string, workers: number, workerIndex: string | undefined): string {
  return workers > 1 && workerIndex !== undefined ? `${path}.${workerIndex}` : path;
}

export class DecisionSocket {
  private readonly app: TemplatedApp = uWS.App();
  private socket: us_listen_socket | null = null;
  /** What calls on this socket are logged as (`client`). */
  private readonly label: string;
  /** closeAll() ran: the process is about to exit. */
  private drained = false;

  constructor(private readonly endpoints: SocketEndpoints, readonly path: string, private readonly mode: string, private readonly opts: DecisionSocketOptions) {
    this.label = `unix:${path}`;
    this.app.any('/*', (res, req) => {
      handlerScope.inside = true; // closing answers wait for uWS's parse loop (node/handler-scope.ts)
      try {
        this.handle(res, req);
      } catch (err) {
        opts.logger.error({ err }, 'decision socket handler failed');
        try { res.cork(() => this.endpoints.writeError(res, proxyError('PORTCULLIS_ERR_INTERNAL', 'internal error'), true, false)); } catch { /* answered or aborted */ }
      } finally { handlerScope.inside = false; }
    });
  }

  static create(config: DecisionConfig, endpoints: SocketEndpoints, opts: DecisionSocketOptions): DecisionSocket | null {
    const u = config.unix_socket;
    if (u === undefined) return null;
    const running = Number(process.env.PORTCULLIS_WORKER_COUNT ?? 1) || 1;
    return new DecisionSocket(endpoints, socketPath(u.path, running, process.env.PORTCULLIS_WORKER_INDEX), u.mode, opts);
  }

  /** Bind (replacing a stale socket file, never another kind of file) and set the file mode. */
  listen(): Promise<void> {
    let st;
    try { st = lstatSync(this.path); } catch { st = null; }
    if (st !== null) {
      if (!st.isSocket()) return Promise.reject(new Error(`server.decision.unix_socket: ${this.path} exists and is not a socket`));
      unlinkSync(this.path); // left by a previous run (uWS cannot bind over it)
    }
    return new Promise((resolve, reject) => {
      this.app.listen_unix((s) => {
        if (s === false) { reject(new Error(`server.decision.unix_socket: cannot listen on ${this.path}`)); return; }
        this.socket = s;
        try { chmodSync(this.path, parseInt(this.mode, 8)); } catch (err) { reject(err as Error); return; }
        resolve();
      }, this.path);
    });
  }

  /**
   * Stop accepting and remove the socket file; calls in flight finish (the endpoints' drain()), and
   * calls on connections opened before are still served, with `Connection: close`, until closeAll().
   */
  close(): void {
    if (this.socket === null) return;
    uWS.us_listen_socket_close(this.socket);
    this.socket = null;
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }

  /**
   * The drain is over: a call read from now on is not served, and the connections still open (an
   * edge's idle keep-alive ones) close on the next turn, once answers written in this one have left.
   */
  closeAll(): void {
    this.drained = true;
    setImmediate(() => (this.app as unknown as { close?: () => void }).close?.());
  }

  private handle(res: HttpResponse, req: HttpRequest): void {
    const start = performance.now();
    const { snap, pipeline } = this.opts.current();
    const limits = snap.config.server.limits;
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const head = method === 'HEAD';
    const path = req.getUrl();
    const query = req.getQuery() ?? '';
    const headers: string[] = [];
    headersIn.start(headers);
    req.forEach(headersIn.collect);
    let hasBody = false;
    let badLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      if (k === 'content-length') { const v = headers[i + 1]!; if (!/^\d{1,15}$/.test(v)) badLength = true; else if (v !== '0') hasBody = true; } else if (k === 'transfer-encoding') hasBody = true;
    }
    const call: CallParts = { method, path, query, headers, hasBody, head, start };
    const refuse = (code: Parameters<typeof proxyError>[0], message: string, extra?: Parameters<typeof proxyError>[2]): void => {
      this.endpoints.refuse(res, { ...call, hasBody: true }, 'none', proxyError(code, message, extra), this.label);
    };
    // During a stop's drain a call on a connection opened before is judged like one on the TCP listener
    // (the answer carries `Connection: close`): a 503 here reached nginx's auth_request as a 500 for the user
    if (this.drained) { res.close(); return; }
    if (headersIn.bytes > limits.max_header_bytes) return refuse('PORTCULLIS_ERR_HEADERS_TOO_LARGE', `request headers exceed ${limits.max_header_bytes} bytes`);
    if (path.length + query.length > limits.max_url_bytes) return refuse('PORTCULLIS_ERR_URL_TOO_LONG', `request target exceeds ${limits.max_url_bytes} bytes`);
    if (headersIn.bad !== null) return refuse('PORTCULLIS_ERR_REQUEST_MALFORMED', `header ${headersIn.bad} has a byte outside visible ASCII, SP and HTAB`);
    if (query !== '' && !visibleAscii(query)) return refuse('PORTCULLIS_ERR_REQUEST_MALFORMED', 'query has a byte outside visible ASCII (percent-encode it)');
    if (badLength) return refuse('PORTCULLIS_ERR_REQUEST_MALFORMED', 'invalid Content-Length');
    const ep = this.endpoints.endpoint(path);
    if (ep === null) return refuse('PORTCULLIS_ERR_ROUTE_NOT_FOUND', `${path} is not a decision endpoint (the unix socket serves only server.decision.endpoints)`);
    this.endpoints.handle(ep, res, call, snap, pipeline, this.label);
  }
}
