// NATS transport: connects in the background (retrying with capped backoff until the
// first connection, then nats.js reconnects forever with the same backoff), keeps
// subscriptions across reconnects and reports connected/disconnected.
import type { ConnectionOptions, NatsConnection, Subscription } from 'nats';
import { nats } from './nats-module.js';
import { MEMBER_LIVENESS } from './nats-options.js';
import { LocalDispatcher } from './local-dispatcher.js';
import { ReplyInbox, type ReplyValidator } from './reply-inbox.js';
import { busError, type IncomingHandler, type Transport, type TransportLogger, type TransportStatus } from './transport.js';

/** How to reach NATS and how hard to retry. */
export interface NatsTransportOptions {
  /** From natsConnectionOptions(); reconnect settings here are overridden. */
  readonly connection: ConnectionOptions;
  readonly logger?: TransportLogger | undefined;
  /** Shortest and longest wait between connection attempts, ms (defaults 100 and 2000). */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
}

interface Wanted {
  readonly subject: string;
  readonly handler: IncomingHandler;
  sub: Subscription | null;
}

/**
 * The NATS transport. `start()` returns at once; `connection()` is null until the
 * first connection. A publish before that is dropped and counted (the revocation actor
 * keeps its own outbox); after it, nats.js buffers while reconnecting.
 */
export class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  private nc: NatsConnection | null = null;
  private connected = false;
  /** Bumped at every disconnect: a flush begun on an earlier link does not report connected. */
  private link = 0;
  private closed = false;
  private readonly wanted = new Set<Wanted>();
  private readonly status = new LocalDispatcher();
  private readonly connectionListeners = new Set<(nc: NatsConnection) => void>();
  private disconnectedAt = Date.now();
  private retryTimer: NodeJS.Timeout | null = null;
  /** Why the last connection attempt failed (for `whenConnected`'s error); null once connected. */
  private lastFailure: string | null = null;
  private counters = { bus_published: 0, bus_received: 0, bus_dropped_disconnected: 0, bus_reconnects: 0, bus_connect_failures: 0, bus_handler_errors: 0 };
  private readonly minMs: number;
  private readonly maxMs: number;
  /** 1 while the connected server does not ask for the credentials this process was given (see checkServerAuth). */
  private serverAuthMissing = 0;
  /** Requests with a validator: they settle on the first reply it accepts (reply-inbox.ts). */
  private readonly replies: ReplyInbox;

  constructor(private readonly opts: NatsTransportOptions) {
    this.minMs = opts.reconnectMinMs ?? 100;
    this.maxMs = opts.reconnectMaxMs ?? 2_000;
    this.replies = new ReplyInbox(opts.connection.inboxPrefix);
  }

  /** Begin connecting (idempotent). Never rejects: failures are retried until `close()`. */
  start(): void {
    if (this.nc !== null || this.retryTimer !== null || this.closed) return;
    void this.attempt();
  }

  /**
   * Resolves once connected; rejects with BUS_DISCONNECTED naming the last failure when that
   * takes longer than `timeoutMs` (one-shot publishers: the revoke CLI). `start()` first.
   */
  whenConnected(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(busError('BUS_DISCONNECTED', `cannot reach NATS within ${timeoutMs} ms${this.lastFailure === null ? '' : `: ${this.lastFailure}`}`));
      }, timeoutMs);
      const off = this.onStatus((s) => {
        if (s !== 'connected') return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /** The live connection (null before the first connect): the JetStream helper uses it. */
  connection(): NatsConnection | null {
    return this.nc;
  }

  /** Called once with the connection after the first successful connect (at once if already connected). */
  onConnection(listener: (nc: NatsConnection) => void): () => void {
    this.connectionListeners.add(listener);
    if (this.nc !== null) listener(this.nc);
    return () => { this.connectionListeners.delete(listener); };
  }

  publish(subject: string, data: Uint8Array, msgId?: string): void {
    if (this.closed) return;
    if (this.nc === null) { this.counters.bus_dropped_disconnected++; return; }
    this.counters.bus_published++;
    try {
      if (msgId === undefined) this.nc.publish(subject, data);
      else {
        const h = nats().headers();
        h.set('Nats-Msg-Id', msgId);
        this.nc.publish(subject, data, { headers: h });
      }
    } catch {
      this.counters.bus_dropped_disconnected++;
    }
  }

  subscribe(subject: string, handler: IncomingHandler): () => void {
    const w: Wanted = { subject, handler, sub: null };
    this.wanted.add(w);
    if (this.nc !== null) this.attach(this.nc, w);
    return () => {
      this.wanted.delete(w);
      w.sub?.unsubscribe();
      w.sub = null;
    };
  }

  /**
   * With `accept` (sealed messages): the first reply it takes; every other reply on the inbox —
   * junk, a forged status, an answer replayed from another request — is ignored and counted.
   * Without: the first reply, whatever it is (cluster.auth.mode none).
   */
  async request(subject: string, data: Uint8Array, timeoutMs: number, accept?: ReplyValidator): Promise<Uint8Array> {
    if (this.closed) throw busError('BUS_CLOSED', 'transport closed');
    if (this.nc === null || !this.connected) throw busError('BUS_DISCONNECTED', 'not connected to NATS');
    if (accept !== undefined) return this.replies.request(this.nc, subject, data, timeoutMs, accept);
    try {
      const m = await this.nc.request(subject, data, { timeout: timeoutMs });
      return m.data;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '503') throw busError('BUS_NO_RESPONDERS', `no responders on ${subject}`);
      if (code === 'TIMEOUT') throw busError('BUS_TIMEOUT', `no answer on ${subject} within ${timeoutMs} ms`);
      throw busError('BUS_DISCONNECTED', `request on ${subject} failed: ${(err as Error).message}`);
    }
  }

  /**
   * A PING on the live connection: true once its PONG was read on the same link (no disconnect meanwhile):
   * every message the server sent before it has been handed to its subscription first. False when not
   * connected or the link dropped; pending while the server does not answer.
   */
  roundTrip(): Promise<boolean> {
    return this.nc === null || !this.connected ? Promise.resolve(false) : this.subscribed(this.nc);
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Milliseconds since the connection was lost (0 while connected; counts from construction before the first connect). */
  disconnectedForMs(): number {
    return this.connected ? 0 : Date.now() - this.disconnectedAt;
  }

  onStatus(listener: (s: TransportStatus) => void): () => void {
    return this.status.onStatus(listener);
  }

  stats(): Record<string, number> {
    return { ...this.counters, ...this.replies.stats(), bus_connected: this.connected ? 1 : 0, bus_server_auth_missing: this.serverAuthMissing };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const nc = this.nc;
    this.nc = null;
    this.setConnected(false);
    this.status.clear();
    this.replies.close();
    if (nc !== null && !nc.isClosed()) {
      // drain() flushes pending publishes; a dead connection cannot drain, so bound it.
      await Promise.race([nc.drain().catch(() => nc.close()), new Promise((r) => setTimeout(r, 1_000).unref())]);
      if (!nc.isClosed()) await nc.close().catch(() => {});
    }
  }

  private backoff(): number {
    const elapsed = Date.now() - this.disconnectedAt;
    return Math.min(this.maxMs, Math.max(this.minMs, elapsed / 2)) + Math.floor(Math.random() * this.minMs);
  }

  private async attempt(): Promise<void> {
    this.retryTimer = null;
    if (this.closed) return;
    let nc: NatsConnection;
    try {
      nc = await nats().connect({
        ...this.opts.connection,
        // Our own first-connect loop instead of waitOnFirstConnect: it can be stopped by close().
        waitOnFirstConnect: false,
        maxReconnectAttempts: -1,
        reconnectDelayHandler: () => this.backoff(),
        ...MEMBER_LIVENESS,
      });
    } catch (err) {
      this.counters.bus_connect_failures++;
      this.lastFailure = (err as Error).message;
      if (this.counters.bus_connect_failures === 1) this.opts.logger?.warn({ err: (err as Error).message }, 'NATS unreachable; serving on local state and retrying');
      if (!this.closed) this.retryTimer = setTimeout(() => void this.attempt(), this.backoff());
      return;
    }
    if (this.closed) { await nc.close().catch(() => {}); return; }
    this.nc = nc;
    this.lastFailure = null;
    for (const w of this.wanted) this.attach(nc, w);
    this.replies.attach(nc);
    this.opts.logger?.info({ server: nc.getServer() }, 'connected to NATS');
    this.checkServerAuth(nc);
    void this.watch(nc);
    // 'connected' once the server holds our subscriptions, not when the socket is up: a revocation
    // published the moment a member reports connected must reach it
    const subscribed = await this.subscribed(nc);
    if (this.closed) return;
    // not subscribed: the link dropped meanwhile; the Reconnect event reports connected
    if (subscribed) this.setConnected(true);
    for (const l of this.connectionListeners) {
      try { l(nc); } catch (err) { this.opts.logger?.error({ err }, 'NATS connection listener failed'); }
    }
  }

  /** A PING after the SUBs: true once its PONG came on this link (no disconnect meanwhile), false otherwise. */
  private async subscribed(nc: NatsConnection): Promise<boolean> {
    const link = this.link;
    try {
      await nc.flush();
    } catch {
      return false;
    }
    return !this.closed && link === this.link;
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closed) return;
      if (s.type === nats().Events.Disconnect) {
        this.opts.logger?.warn({ server: String(s.data) }, 'NATS connection lost; reconnecting');
        this.link++;
        this.setConnected(false);
      } else if (s.type === nats().Events.Reconnect) {
        this.counters.bus_reconnects++;
        this.checkServerAuth(nc);
        // nats.js re-sent the subscriptions before this event; reconnected once the server has them
        void this.subscribed(nc).then((ok) => {
          if (!ok) return;
          this.opts.logger?.info({ server: String(s.data) }, 'NATS reconnected');
          this.setConnected(true);
        });
      }
    }
    // The iterator ends when the connection is closed for good.
    if (!this.closed) this.setConnected(false);
  }

  /**
   * Credentials configured but the server's INFO says it does not require authentication: a
   * server started without its accounts (a missing or half-written include), so every local
   * process may publish and read on the bus. Bus messages stay sealed (cluster.auth), but the
   * deployment is not what the config says: warn on every such (re)connection, gauge 1.
   */
  private checkServerAuth(nc: NatsConnection): void {
    const c = this.opts.connection;
    const credentials = c.user !== undefined || c.token !== undefined || c.authenticator !== undefined;
    const missing = credentials && nc.info?.auth_required !== true ? 1 : 0;
    if (missing === 1) this.opts.logger?.warn({ server: nc.getServer() }, 'NATS server does not require authentication although cluster.nats credentials are configured: check its accounts/authorization config');
    this.serverAuthMissing = missing;
  }

  private attach(nc: NatsConnection, w: Wanted): void {
    w.sub = nc.subscribe(w.subject, {
      callback: (err, msg) => {
        if (err !== null) return;
        this.counters.bus_received++;
        const isRequest = typeof msg.reply === 'string' && msg.reply !== '';
        try {
          w.handler({ subject: msg.subject, data: msg.data, isRequest, respond: (d) => { if (isRequest) msg.respond(d); } });
        } catch {
          this.counters.bus_handler_errors++;
        }
      },
    });
  }

  private setConnected(c: boolean): void {
    if (c === this.connected) return;
    this.connected = c;
    if (!c) this.disconnectedAt = Date.now();
    this.status.emitStatus(c ? 'connected' : 'disconnected');
  }
}
