// The receiving end of the direct revocation push: a TCP listener that parses frames
// (direct-frame.ts) and hands each to a verdict callback. Any refusal — a frame the callback
// refuses, garbage, an oversized frame — closes that connection; connections are bounded.
import { createServer, type Server, type Socket } from 'node:net';
import { DirectFrameReader, type DirectFrameError } from './direct-frame.js';

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
  /** Told once per closed-for-cause connection: the reason and the peer address (for a log line). */
  readonly onRefused?: (reason: DirectFrameError | string, remote: string) => void;
}

/** Counters of the listener. */
export interface DirectListenerStats {
  connections: number;
  connections_refused: number;
  frames_accepted: number;
  frames_refused: number;
}

/** A bound listener; `address()` is what peers are told. */
export class DirectListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly counters: DirectListenerStats = { connections: 0, connections_refused: 0, frames_accepted: 0, frames_refused: 0 };
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
    return { ...this.counters, connections: this.sockets.size };
  }

  /** Stop accepting and close every connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(s: Socket): void {
    const remote = `${s.remoteAddress ?? '?'}:${s.remotePort ?? 0}`;
    if (this.sockets.size >= (this.o.maxConnections ?? 64)) {
      this.counters.connections_refused++;
      s.destroy();
      this.o.onRefused?.('too_many_connections', remote);
      return;
    }
    this.sockets.add(s);
    s.setNoDelay(true);
    s.setTimeout(this.o.idleTimeoutMs ?? 600_000, () => s.destroy());
    const reader = new DirectFrameReader();
    s.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (typeof frames === 'string') { this.refuse(s, frames, remote); return; }
      for (const f of frames) {
        const verdict = this.o.onFrame(f.subject, f.payload);
        if (verdict !== null) { this.refuse(s, verdict, remote); return; }
        this.counters.frames_accepted++;
      }
    });
    s.on('error', () => {});
    s.on('close', () => { this.sockets.delete(s); });
  }

  private refuse(s: Socket, reason: string, remote: string): void {
    this.counters.frames_refused++;
    s.destroy();
    this.sockets.delete(s);
    try { this.o.onRefused?.(reason, remote); } catch { /* a listener must not break the server */ }
  }
}
