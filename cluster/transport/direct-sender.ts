// The sending end of the direct revocation push: one persistent TCP connection per peer,
// connected as soon as the peer is known, reconnected with capped backoff. A frame goes to
// every peer at once and never waits: a peer that is down or slow gets it queued within a
// small bound, or dropped and counted (the NATS copy still reaches it). A receiver's
// challenge is answered with the hello `onChallenge` makes (its proof of the key).
import { connect, type Socket } from 'node:net';
import { DIRECT_CHALLENGE_SUBJECT, DIRECT_NONCE_BYTES, DirectFrameReader } from './direct-frame.js';

/** Bytes a connected peer may have unwritten before further frames to it are dropped: 64 KiB. */
export const DIRECT_MAX_BUFFERED_BYTES = 64 * 1024;
/** Frames held for a peer that is (re)connecting; older ones are dropped first. */
export const DIRECT_MAX_QUEUED_FRAMES = 64;
/** A held frame older than this when the peer connects is dropped, not sent (the receiver would refuse it as stale; NATS has delivered it): 5 s. */
export const DIRECT_MAX_QUEUED_AGE_MS = 5_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000; // 5 s

/** Counters of the sender (summed over peers). */
export interface DirectSenderStats {
  peers: number;
  peers_connected: number;
  frames_sent: number;
  frames_dropped: number;
  connects: number;
  connect_failures: number;
}

interface Peer {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  socket: Socket | null;
  connected: boolean;
  queue: Array<{ readonly frame: Buffer; readonly at: number }>;
  backoffMs: number;
  timer: NodeJS.Timeout | null;
  failures: number;
  /** Gone from the membership view while its connection stood: kept until that connection closes. */
  unlisted: boolean;
}

/** Parse `host:port` (IPv6 as `[::1]:port`); null when it is not one. */
export function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 0 || port > 65_535) return null;
  return { host: m[1] ?? m[2]!, port };
}

/** Peers by member id and their connections. */
export class DirectSender {
  private readonly peers = new Map<string, Peer>();
  private readonly counters = { frames_sent: 0, frames_dropped: 0, connects: 0, connect_failures: 0 };
  private closed = false;

  /**
   * Makes the hello frame answering a receiver's challenge nonce (DIRECT_NONCE_BYTES long); null:
   * challenges are not answered (a receiver with a handshake then closes the idle connection).
   */
  onChallenge: ((nonce: Uint8Array) => Buffer) | null = null;

  /** Called once per peer when a connection attempt fails for the first time in a row (for a log line). */
  onPeerDown: ((id: string, address: string, error: string) => void) | null = null;

  /**
   * Make the peer set `peers` (member id → `host:port`): new ones are connected, moved ones closed,
   * gone ones closed unless connected. Unheard is not gone: when this member loses its bus, every
   * peer's heartbeats stop at once while the direct connections still stand, and the push is then
   * the only way its revocations reach them. Such a peer is dropped when its connection closes.
   */
  setPeers(peers: ReadonlyMap<string, string>): void {
    if (this.closed) return;
    for (const [id, p] of this.peers) {
      const addr = peers.get(id);
      if (addr === undefined && p.connected) p.unlisted = true;
      else if (addr === undefined || addr !== `${p.host}:${p.port}`) this.drop(id);
      else p.unlisted = false;
    }
    for (const [id, addr] of peers) {
      if (this.peers.has(id)) continue;
      const hp = parseHostPort(addr);
      if (hp === null) continue;
      const peer: Peer = { id, host: hp.host, port: hp.port, socket: null, connected: false, queue: [], backoffMs: BACKOFF_MIN_MS, timer: null, failures: 0, unlisted: false };
      this.peers.set(id, peer);
      this.connect(peer);
    }
  }

  /** Write `frame` to every peer now (queued while one connects; dropped and counted past the bounds). Never throws, never waits. */
  send(frame: Buffer): void {
    for (const p of this.peers.values()) {
      if (p.connected && p.socket !== null) {
        if (p.socket.writableLength > DIRECT_MAX_BUFFERED_BYTES) { this.counters.frames_dropped++; continue; }
        p.socket.write(frame);
        this.counters.frames_sent++;
      } else {
        if (p.queue.length >= DIRECT_MAX_QUEUED_FRAMES) { p.queue.shift(); this.counters.frames_dropped++; }
        p.queue.push({ frame, at: Date.now() });
      }
    }
  }

  stats(): DirectSenderStats {
    let connected = 0;
    for (const p of this.peers.values()) if (p.connected) connected++;
    return { peers: this.peers.size, peers_connected: connected, ...this.counters };
  }

  /** Close every connection; later calls do nothing. */
  close(): void {
    this.closed = true;
    for (const id of [...this.peers.keys()]) this.drop(id);
  }

  private connect(p: Peer): void {
    if (this.closed || this.peers.get(p.id) !== p) return;
    const s = connect({ host: p.host, port: p.port, noDelay: true });
    p.socket = s;
    s.setKeepAlive(true, 10_000);
    s.on('connect', () => {
      p.connected = true;
      p.backoffMs = BACKOFF_MIN_MS;
      p.failures = 0;
      this.counters.connects++;
      const q = p.queue;
      p.queue = [];
      const oldest = Date.now() - DIRECT_MAX_QUEUED_AGE_MS;
      for (const q1 of q) {
        if (q1.at < oldest) { this.counters.frames_dropped++; continue; }
        s.write(q1.frame);
        this.counters.frames_sent++;
      }
    });
    // the receiver sends one challenge at most (a receiver of an earlier release: nothing); the
    // hello answers it, anything else is read and dropped so the socket stays drained
    let reader: DirectFrameReader | null = new DirectFrameReader();
    s.on('data', (chunk: Buffer) => {
      if (reader === null) return;
      const frames = reader.push(chunk);
      if (typeof frames === 'string') { reader = null; return; }
      const c = frames[0];
      if (c === undefined) return;
      reader = null;
      if (c.subject !== DIRECT_CHALLENGE_SUBJECT || c.payload.byteLength !== DIRECT_NONCE_BYTES || this.onChallenge === null) return;
      try { s.write(this.onChallenge(c.payload)); } catch { /* no hello: the receiver closes, we reconnect */ }
    });
    s.on('error', (err) => {
      if (!p.connected) {
        this.counters.connect_failures++;
        if (p.failures++ === 0) { try { this.onPeerDown?.(p.id, `${p.host}:${p.port}`, err.message); } catch { /* a hook must not break sending */ } }
      }
    });
    s.on('close', () => {
      if (p.socket !== s) return;
      p.socket = null;
      p.connected = false;
      if (this.closed || this.peers.get(p.id) !== p) return;
      if (p.unlisted) { this.drop(p.id); return; }
      const wait = p.backoffMs;
      p.backoffMs = Math.min(BACKOFF_MAX_MS, p.backoffMs * 2);
      p.timer = setTimeout(() => { p.timer = null; this.connect(p); }, wait);
      p.timer.unref();
    });
  }

  private drop(id: string): void {
    const p = this.peers.get(id);
    if (p === undefined) return;
    this.peers.delete(id);
    if (p.timer !== null) clearTimeout(p.timer);
    this.counters.frames_dropped += p.queue.length;
    p.queue = [];
    p.socket?.destroy();
    p.socket = null;
    p.connected = false;
  }
}
