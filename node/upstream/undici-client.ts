// The same UpstreamClient surface as H1Pool over an undici Pool, for `bench upstream-client` only:
// it measures the hand-written client against undici on the same proxy path. Chosen with the
// internal environment variable PORTCULLIS_UPSTREAM_CLIENT=undici (upstream-pool.ts); not a user setting.
import type { Dispatcher, Pool } from 'undici';
import { undici } from '../lazy-packages.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { H1Control, H1Error, H1Handler, H1PoolOptions, H1Request, UpstreamClient } from './h1-client.js';

/** Connection-level failures: nothing was sent, the target is at fault (as H1Pool reports them). */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

function h1Error(err: Error): H1Error {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  let mapped: string;
  let sent = true;
  if (CONNECT_CODES.has(code)) { mapped = code; sent = false; }
  else if (code === 'UND_ERR_CONNECT_TIMEOUT') { mapped = 'ETIMEDOUT'; sent = false; }
  else if (code === 'UND_ERR_HEADERS_TIMEOUT') mapped = 'H1_HEADERS_TIMEOUT';
  else if (code === 'UND_ERR_BODY_TIMEOUT') mapped = 'H1_BODY_TIMEOUT';
  else if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') mapped = 'H1_PROTOCOL';
  else if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_REQUEST_BODY') mapped = 'H1_REQUEST_BODY';
  else if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') mapped = 'H1_CLOSED';
  else if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') { mapped = 'H1_REQUEST_HEAD'; sent = false; }
  else mapped = 'H1_RESET';
  const e = new Error(err.message, { cause: err }) as H1Error;
  e.code = mapped;
  e.requestSent = sent;
  return e;
}

const ABORTED = new Error('aborted by the proxy');

/** undici has no end-of-read callback: the tick after a head stands in for H1Pool's onReadEnd. */
function readEnd(tx: UndiciTransaction): void {
  tx.readEnd();
}

/** One request: an undici dispatch handler forwarding to an H1Handler, and the H1Control handed back. */
class UndiciTransaction implements H1Control, Dispatcher.DispatchHandler {
  aborted = false;
  private done = false;
  private ctl: Dispatcher.DispatchController | null = null;
  private pauseEarly = false;

  constructor(private readonly handler: H1Handler, private readonly head: boolean) {}

  pause(): void { if (this.ctl !== null) this.ctl.pause(); else this.pauseEarly = true; }
  resume(): void { if (this.ctl !== null) this.ctl.resume(); else this.pauseEarly = false; }
  abort(): void {
    if (this.aborted) return;
    this.aborted = true; // also drops an error decided but not yet delivered (deliverError)
    if (this.done) return;
    this.done = true;
    this.ctl?.abort(ABORTED);
  }

  onRequestStart(ctl: Dispatcher.DispatchController): void {
    this.ctl = ctl;
    if (this.aborted) ctl.abort(ABORTED);
    else if (this.pauseEarly) ctl.pause();
  }

  onResponseStart(_ctl: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (status < 200 || this.done) return; // 1xx are not relayed
    const flat: string[] = [];
    for (const k in headers) {
      const v = headers[k];
      if (Array.isArray(v)) for (const x of v) flat.push(k, x);
      else if (v !== undefined) flat.push(k, v);
    }
    const cl = headers['content-length'];
    const len = this.head || status === 204 || status === 304 ? 0 : typeof cl === 'string' && /^\d+$/.test(cl) ? Number(cl) : -1;
    this.handler.onResponseStart(status, statusMessage ?? '', flat, len);
    // one tick per response with a body: H1Pool needs none (a cost the bench result mentions)
    if (len !== 0 && this.handler.onReadEnd !== undefined) process.nextTick(readEnd, this);
  }

  /** @internal */
  readEnd(): void {
    if (!this.done) this.handler.onReadEnd?.();
  }

  onResponseData(_ctl: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.done) this.handler.onResponseData(chunk);
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.done = true;
    this.handler.onResponseEnd();
  }

  onResponseError(_ctl: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    this.done = true;
    // undici may fail inside dispatch(): as H1Pool, never re-enter the caller of request()
    process.nextTick(deliverError, this, h1Error(err));
  }

  /** @internal */
  deliver(err: H1Error): void {
    if (!this.aborted) this.handler.onError(err);
  }
}

function deliverError(tx: UndiciTransaction, err: H1Error): void {
  tx.deliver(err);
}

/** undici Pool behind the UpstreamClient surface, with H1Pool's options and error codes. */
export class UndiciClient implements UpstreamClient {
  private readonly pool: Pool;
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;

  constructor(origin: string, opts: H1PoolOptions) {
    this.headersTimeoutMs = opts.headersTimeoutMs;
    this.bodyTimeoutMs = opts.bodyTimeoutMs;
    this.pool = new (undici().Pool)(origin, {
      connections: opts.connections,
      keepAliveTimeout: opts.keepAliveMs,
      keepAliveMaxTimeout: Math.max(opts.keepAliveMs, 1000),
      connect: { timeout: opts.connectTimeoutMs, ...(opts.tls !== undefined ? { rejectUnauthorized: opts.tls.rejectUnauthorized ?? true, ...(opts.tls.servername !== undefined ? { servername: opts.tls.servername } : {}) } : {}) },
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      pipelining: 1,
    });
  }

  request(req: H1Request, handler: H1Handler): H1Control {
    const tx = new UndiciTransaction(handler, req.method === 'HEAD');
    const headers = req.body !== null && req.contentLength >= 0 ? [...req.headers, 'content-length', String(req.contentLength)] : req.headers;
    this.pool.dispatch({
      path: req.path,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: req.body,
      headersTimeout: req.headersTimeoutMs ?? this.headersTimeoutMs,
      bodyTimeout: this.bodyTimeoutMs,
      // retries are the proxy's decision, never undici's
      idempotent: false,
      blocking: false,
    }, tx);
    return tx;
  }

  stats(): { connected: number; free: number; pending: number; running: number } {
    const s = this.pool.stats;
    return { connected: s.connected, free: s.free, pending: s.pending, running: s.running };
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): void {
    void this.pool.destroy().catch(() => {});
  }
}
