// The receiving end of the direct revocation push: a TCP listener that parses frames
// (direct-frame.ts) and hands each to a verdict callback. Any refusal — a frame the callback
// refuses, garbage, an oversized frame — closes that connection; connections are bounded, and
// with a handshake a connection holds a slot past a short deadline only once it proved the key.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { DIRECT_CHALLENGE_SUBJECT, DIRECT_NONCE_BYTES, DirectFrameReader, encodeDirectFrame, type DirectFrameError } from './direct-frame.js';

/** What the callback says of a frame: null = accepted, else a short reason (closes the connection). */
export type DirectVerdict = string | null;

/** Options; the callback sees every frame, in order per connection. */
export interface DirectListenerOptions {
  /** Address to bind. */
  readonly host: string;
  /** Port to bind; 0 = any free port. */
  readonly port: number;
  /** Most connections held at once (default 64); one more is closed at once and counted. */
  readonly maxConnections?: number;
  /** Idle connections are kept (peers hold them open); a connection silent this long is closed, ms (default 10 min). */
  readonly idleTimeoutMs?: number;
  readonly onFrame: (subject: string, payload: Uint8Array) => DirectVerdict;
  /** Make every connection prove a key before it holds a slot for long; absent: every connection is trusted at once. */
  readonly handshake?: DirectHandshake;
  /** Told once per closed-for-cause connection: the reason and the peer address (for a log line). */
  readonly onRefused?: (reason: DirectFrameError | string, remote: string) => void;
}

/**
 * The proof a connection owes. On accept the listener writes a challenge frame
 * (DIRECT_CHALLENGE_SUBJECT, a fresh nonce); the connection is proven by a hello frame
 * (`helloSubject`) that `onHello` accepts for that nonce, or by any frame `onFrame` accepts (a
 * sender that knows no hello). Unproven connections have their own bound and a deadline that
 * bytes do not extend; they never take a proven connection's slot.
 */
export interface DirectHandshake {
  readonly helloSubject: string;
  /** Check a hello against the nonce this connection was sent: null = proven, else the refusal reason. */
  readonly onHello: (payload: Uint8Array, nonce: Uint8Array) => DirectVerdict;
  /** An unproven connection is closed this long after it was accepted (`handshake_timeout`), ms (default 2 000). */
  readonly deadlineMs?: number;
  /** Unproven connections held at once (default 64); one more closes the oldest of them (`too_many_connections`). */
  readonly maxPending?: number;
}

/** Counters of the listener. */
export interface DirectListenerStats {
  /** Held now, proven or not. */
  connections: number;
  /** Held now and not proven yet. */
  connections_pending: number;
  connections_refused: number;
  frames_accepted: number;
  frames_refused: number;
}

/** A bound listener; `address()` is what peers are told. */
export class DirectListener {
  private readonly server: Server;
  /** Proven connections (every connection without a handshake). */
  private readonly sockets = new Set<Socket>();
  /** Unproven connections in accept order, with their deadline timer. */
  private readonly pending = new Map<Socket, NodeJS.Timeout>();
  private readonly counters: DirectListenerStats = { connections: 0, connections_pending: 0, connections_refused: 0, frames_accepted: 0, frames_refused: 0 };
  private bound: { host: string; port: number } | null = null;

  constructor(private readonly o: DirectListenerOptions) {
    this.server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.accept(s));
  }

  /** Bind; rejects with the listen error (address in use, not available). `exclusive`: every node:cluster worker gets a port of its own. */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.o.host, port: this.o.port, exclusive: true }, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        if (a === null || typeof a === 'string') { reject(new Error('direct listener has no TCP address')); return; }
        this.bound = { host: a.address, port: a.port };
        resolve(this.bound);
      });
    });
  }

  /** The bound address; null before `listen` resolved. */
  address(): { host: string; port: number } | null {
    return this.bound;
  }

  stats(): DirectListenerStats {
    return { ...this.counters, connections: this.sockets.size + this.pending.size, connections_pending: this.pending.size };
  }

  /** Stop accepting and close every connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    for (const [s, t] of this.pending) { clearTimeout(t); s.destroy(); }
    this.pending.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(s: Socket): void {
    const remote = `${s.remoteAddress ?? '?'}:${s.remotePort ?? 0}`;
    const hs = this.o.handshake;
    if (hs === undefined && this.sockets.size >= (this.o.maxConnections ?? 64)) { this.tooMany(s, remote); return; }
    let nonce: Buffer | null = null;
    if (hs !== undefined) {
      // an unproven connection never waits for a slot: the oldest unproven one makes room
      const oldest = this.pending.size >= (hs.maxPending ?? 64) ? this.pending.keys().next().value : undefined;
      if (oldest !== undefined) {
        this.forget(oldest);
        this.tooMany(oldest, `${oldest.remoteAddress ?? '?'}:${oldest.remotePort ?? 0}`);
      }
      nonce = randomBytes(DIRECT_NONCE_BYTES);
      const timer = setTimeout(() => this.refuse(s, 'handshake_timeout', remote), hs.deadlineMs ?? 2_000);
      timer.unref();
      this.pending.set(s, timer);
      s.write(encodeDirectFrame(DIRECT_CHALLENGE_SUBJECT, nonce));
    } else {
      this.sockets.add(s);
    }
    s.setNoDelay(true);
    s.setTimeout(this.o.idleTimeoutMs ?? 600_000, () => s.destroy());
    const reader = new DirectFrameReader();
    let proven = hs === undefined;
    s.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (typeof frames === 'string') { this.refuse(s, frames, remote); return; }
      for (const f of frames) {
        if (hs !== undefined && f.subject === hs.helloSubject) {
          const verdict = hs.onHello(f.payload, nonce!);
          if (verdict !== null) { this.refuse(s, verdict, remote); return; }
        } else {
          const verdict = this.o.onFrame(f.subject, f.payload);
          if (verdict !== null) { this.refuse(s, verdict, remote); return; }
          this.counters.frames_accepted++;
        }
        if (!proven) {
          if (!this.prove(s, remote)) return;
          proven = true;
        }
      }
    });
    s.on('error', () => {});
    s.on('close', () => { this.forget(s); });
  }

  /** Move a connection that proved the key to a proven slot; false (closed, counted) when every one is taken. */
  private prove(s: Socket, remote: string): boolean {
    if (!this.pending.has(s)) return false;
    this.forget(s);
    if (this.sockets.size >= (this.o.maxConnections ?? 64)) { this.tooMany(s, remote); return false; }
    this.sockets.add(s);
    return true;
  }

  private forget(s: Socket): void {
    this.sockets.delete(s);
    const t = this.pending.get(s);
    if (t !== undefined) { clearTimeout(t); this.pending.delete(s); }
  }

  private tooMany(s: Socket, remote: string): void {
    this.counters.connections_refused++;
    s.destroy();
    try { this.o.onRefused?.('too_many_connections', remote); } catch { /* a listener must not break the server */ }
  }

  private refuse(s: Socket, reason: string, remote: string): void {
    this.counters.frames_refused++;
    s.destroy();
    this.forget(s);
    try { this.o.onRefused?.(reason, remote); } catch { /* a listener must not break the server */ }
  }
}
