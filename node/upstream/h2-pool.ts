// The HTTP/2 upstream client of one target (`upstreams.<name>.protocol: h2c | h2`): one session
// multiplexing every call, reconnected when it fails or receives GOAWAY (calls it refused are
// retried once on the new session), closed after keep_alive_ms without calls. Timeouts (response
// head, body idleness, connect) run on one coarse timer per pool. Same contract as H1Pool.
import http2, { type ClientHttp2Session } from 'node:http2';
import { h1Error, type H1Control, type H1Handler, type H1PoolOptions, type H1Request, type UpstreamClient } from './h1-client.js';
import { SlotRegistry } from '../slot-registry.js';
import { H2Call, type CallOwner } from './h2-call.js';
import { performance } from 'node:perf_hooks';

/** Timer tick for the pool's timeouts, ms. */
const TICK_MS = 100;

export class H2Pool implements UpstreamClient, CallOwner {
  private session: ClientHttp2Session | null = null;
  private connectedAt = 0;
  private openedAt = 0;
  /** Running calls; not a Set (node/slot-registry.ts: a Set's rehash chain kept requests alive through scavenges). */
  private readonly calls = new SlotRegistry<H2Call>('slot');
  private timer: NodeJS.Timeout | null = null;
  private idleSince = performance.now();
  private closing = false;
  private closeResolve: (() => void) | null = null;
  private readonly scheme: string;
  private readonly authority: string;
  /** Sessions opened (reconnects after failure or GOAWAY included), for stats. */
  sessionsOpened = 0;

  constructor(private readonly origin: string, private readonly opts: H1PoolOptions) {
    const u = new URL(origin);
    this.scheme = u.protocol === 'https:' ? 'https' : 'http';
    this.authority = u.host;
  }

  request(req: H1Request, handler: H1Handler): H1Control {
    const call = new H2Call(this, req, handler, req.headersTimeoutMs ?? this.opts.headersTimeoutMs, this.scheme, this.authority);
    if (this.closing) {
      setImmediate(() => call.fail(h1Error('H1_CLOSED', 'upstream pool closed', false)));
      return call;
    }
    this.calls.add(call);
    this.arm();
    // opened at once: the HEADERS frame leaves in this event-loop turn's write, not the next one's
    // (under load a turn carries many streams). start() never calls back synchronously: a request
    // node refuses on the spot fails on the next tick, the stream's events come from the socket.
    call.start(this.current());
    return call;
  }

  /** The session new calls go on: the open one, or a fresh one when it failed or is going away. */
  private current(): ClientHttp2Session {
    const s = this.session;
    if (s !== null && !s.closed && !s.destroyed) return s;
    const fresh = http2.connect(this.origin, {
      settings: { enablePush: false },
      ...(this.opts.tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: this.opts.tls.rejectUnauthorized } : {}),
      ...(this.opts.tls?.servername !== undefined ? { servername: this.opts.tls.servername } : {}),
    });
    this.sessionsOpened++;
    this.session = fresh;
    this.openedAt = performance.now();
    this.connectedAt = 0;
    fresh.on('connect', () => { this.connectedAt = performance.now(); });
    fresh.on('error', () => { /* each stream reports it (h2-call.ts onClose) */ });
    // GOAWAY: no new streams here; calls past its last stream id are refused and retried on a fresh session
    fresh.on('goaway', () => { if (this.session === fresh) this.session = null; });
    fresh.on('close', () => { if (this.session === fresh) this.session = null; });
    return fresh;
  }

  ended(call: H2Call): void {
    this.calls.delete(call);
    if (this.calls.size === 0) {
      this.idleSince = performance.now();
      if (this.closing) this.finishClose();
    }
  }

  retry(call: H2Call): boolean {
    if (this.closing) return false;
    call.rearm();
    setImmediate(() => { if (!call.done) call.start(this.current()); });
    return true;
  }

  private arm(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** Timeouts of running calls; the idle session closed after keep_alive_ms; the timer stops when nothing is left. */
  private tick(): void {
    const now = performance.now();
    const s = this.session;
    if (s !== null && this.connectedAt === 0 && now - this.openedAt > this.opts.connectTimeoutMs) {
      // the stream errors carry ETIMEDOUT: a connect-level failure (ejection, retry on another target)
      const err = Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' });
      this.session = null;
      s.destroy(err);
    }
    for (const c of this.calls) {
      const idle = now - c.lastActivity;
      if (!c.responseStarted) {
        // an upload in progress has no head deadline yet (as HTTP/1.1): only an upstream not taking it is bounded
        if (!c.uploading) { if (idle > c.headersTimeoutMs) c.fail(h1Error('H1_HEADERS_TIMEOUT', `no response head within ${c.headersTimeoutMs} ms`, true)); }
        else if (c.uploadStalledSince > 0 && now - c.uploadStalledSince > this.opts.bodyTimeoutMs) c.fail(h1Error('H1_BODY_TIMEOUT', `upstream stopped reading the request body for ${this.opts.bodyTimeoutMs} ms`, true));
      } else if (c.responseStarted && idle > this.opts.bodyTimeoutMs && !c.isPaused) c.fail(h1Error('H1_BODY_TIMEOUT', `no response body within ${this.opts.bodyTimeoutMs} ms`, true));
    }
    if (this.calls.size === 0) {
      const cur = this.session;
      if (cur !== null && now - this.idleSince > this.opts.keepAliveMs) { this.session = null; cur.close(); }
      if (this.session === null && this.timer !== null) { clearInterval(this.timer); this.timer = null; }
    }
  }

  stats(): { connected: number; free: number; pending: number; running: number } {
    const s = this.session;
    return { connected: s !== null && this.connectedAt > 0 && !s.destroyed ? 1 : 0, free: 0, pending: 0, running: this.calls.size };
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.calls.size === 0) { this.finishClose(); return Promise.resolve(); }
    return new Promise((resolve) => { this.closeResolve = resolve; });
  }

  private finishClose(): void {
    this.session?.close();
    this.session = null;
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
    this.closeResolve?.();
    this.closeResolve = null;
  }

  /** See UpstreamClient.retire: an idle session closes now; one with calls after keep_alive_ms as usual (tick()). */
  retire(): void {
    if (this.calls.size > 0) return;
    this.session?.close();
    this.session = null;
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }

  destroy(): void {
    this.closing = true;
    for (const c of [...this.calls]) c.fail(h1Error('H1_CLOSED', 'upstream pool destroyed', c.responseStarted));
    this.session?.destroy();
    this.session = null;
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }
}
