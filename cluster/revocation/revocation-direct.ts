// The direct revocation push (`cluster.revocation.direct`): the origin sends the sealed
// message it publishes on NATS also straight to every peer over TCP — a second delivery of
// the same published message, never a second publisher. Receiving, a frame passes exactly the
// live NATS message's checks (revocation subject, HMAC bound to it, freshness, codec) before
// the actor applies it — and one it cannot read closes the gate, as live; anything else closes
// the connection, is counted and logged once. A connection proves the bus key (a hello MACed
// over the listener's nonce, or an accepted frame) within HANDSHAKE_MS or is closed.
import { hostname } from 'node:os';
import type { Logger } from '../../node/log.js';
import type { MessageBus } from '../protocol/message-bus.js';
import { REVOCATION_KINDS, type RevocationKind } from '../protocol/subjects.js';
import { DirectListener, DirectSender, encodeDirectFrame, parseHostPort, type DirectVerdict } from '../transport/index.js';
import type { RevocationActor } from './revocation-actor.js';
import type { DirectSettings } from './revocation-settings.js';

/** Every refusal reason a direct frame or connection can get (each is a counter). */
export const DIRECT_REFUSALS = ['oversized', 'malformed', 'subject', 'unsigned', 'bad_mac', 'unknown_key', 'stale', 'too_many_connections', 'handshake_timeout'] as const;
type Refusal = (typeof DIRECT_REFUSALS)[number];
/** Inbound connections held at once: peers hold one each. */
const MAX_CONNECTIONS = 64;
/** An inbound connection that has not proven the bus key this long after accept is closed, ms: 2 s. */
const HANDSHAKE_MS = 2_000;
const EMPTY = new Uint8Array(0);
/** How often the peer set is re-read from the membership view (joins are also taken at once), ms. */
const PEER_SYNC_MS = 500;

/** What the push needs; `peers()` is the membership view: member id → advertised `host:port`. */
export interface RevocationDirectOptions {
  readonly settings: DirectSettings;
  readonly bus: MessageBus;
  readonly actor: RevocationActor;
  readonly peers: () => ReadonlyMap<string, string>;
  /** False for a process that serves no requests (a node:cluster primary): it sends, it does not listen. */
  readonly receive: boolean;
  /** Added to a fixed listen port (not to 0): worker i of `serve --workers N` binds port + i (default 0). */
  readonly portOffset?: number;
  readonly logger?: Logger | undefined;
}

/** Listener + sender of one member. */
export class RevocationDirect {
  private listener: DirectListener | null = null;
  private readonly sender = new DirectSender();
  private readonly refused: Record<Refusal, number> = Object.fromEntries(DIRECT_REFUSALS.map((r) => [r, 0])) as Record<Refusal, number>;
  private readonly kinds: ReadonlyMap<string, RevocationKind>;
  private timer: NodeJS.Timeout | null = null;
  private refusalsLogged = 0;
  private address: string | null = null;
  /** Subject the hello is MACed for: `<prefix>.direct.hello`, so it can pass as no other message. */
  private readonly helloSubject: string;
  /** `<prefix>.revocations.`: an authentic frame under it that this build cannot read closes the gate. */
  private readonly revocations: string;

  /** Throws when the bus is not authenticated: an unauthenticated direct port must not exist. */
  constructor(private readonly o: RevocationDirectOptions) {
    if (o.bus.auth === null) throw new Error('cluster.revocation.direct needs cluster.auth.mode: hmac');
    this.kinds = new Map(REVOCATION_KINDS.map((k) => [o.bus.subjects.revocation(k), k]));
    this.helloSubject = `${o.bus.subjects.prefix}.direct.hello`;
    this.revocations = `${o.bus.subjects.prefix}.revocations.`;
    const auth = o.bus.auth;
    this.sender.onChallenge = (nonce) => encodeDirectFrame(this.helloSubject, auth.seal(this.helloSubject, EMPTY, nonce));
    this.sender.onPeerDown = (id, address, error) => o.logger?.warn({ peer: id, address, err: error }, 'direct revocation push: peer unreachable, retrying (NATS still delivers)');
  }

  /** Bind the listener (when receiving) and start pushing. Resolves to the advertised `host:port` (null: not listening); rejects with the bind error. */
  async start(): Promise<string | null> {
    let advertised: string | null = null;
    if (this.o.receive) {
      const hp = parseHostPort(this.o.settings.listen);
      if (hp === null) throw new Error(`cluster.revocation.direct.listen: not host:port (${this.o.settings.listen})`);
      this.listener = new DirectListener({
        host: hp.host, port: hp.port === 0 ? 0 : hp.port + (this.o.portOffset ?? 0), maxConnections: MAX_CONNECTIONS,
        onFrame: (subject, payload) => this.frame(subject, payload),
        onRefused: (reason, remote) => this.refusal(reason, remote),
        handshake: { helloSubject: this.helloSubject, deadlineMs: HANDSHAKE_MS, maxPending: MAX_CONNECTIONS, onHello: (payload, nonce) => this.hello(payload, nonce) },
      });
      const bound = await this.listener.listen();
      const host = this.o.settings.advertise ?? (bound.host === '0.0.0.0' || bound.host === '::' ? hostname() : bound.host);
      advertised = host.includes(':') ? `[${host}]:${bound.port}` : `${host}:${bound.port}`;
      this.o.logger?.info({ listen: `${bound.host}:${bound.port}`, advertise: advertised }, 'direct revocation push listening');
    }
    this.address = advertised;
    this.o.actor.setDirectPush((subject, sealed) => this.sender.send(encodeDirectFrame(subject, sealed)));
    this.syncPeers();
    this.timer = setInterval(() => this.syncPeers(), PEER_SYNC_MS);
    this.timer.unref();
    return advertised;
  }

  /** The `host:port` peers are told (null: not listening); `/readyz` shows it. */
  advertised(): string | null {
    return this.address;
  }

  /** Re-read the peers now (a member joined). */
  syncPeers(): void {
    this.sender.setPeers(this.o.peers());
  }

  /** Flat counters for /metrics. */
  stats(): Record<string, number> {
    const s = this.sender.stats();
    const l = this.listener?.stats();
    const out: Record<string, number> = {
      revocation_direct_frames_sent_total: s.frames_sent, revocation_direct_frames_dropped_total: s.frames_dropped,
      revocation_direct_peers: s.peers, revocation_direct_peers_connected: s.peers_connected, revocation_direct_connect_failures_total: s.connect_failures,
      revocation_direct_frames_accepted_total: l?.frames_accepted ?? 0, revocation_direct_connections: l?.connections ?? 0,
    };
    for (const r of DIRECT_REFUSALS) out[`revocation_direct_refused_${r}_total`] = this.refused[r];
    return out;
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.o.actor.setDirectPush(null);
    this.sender.close();
    await this.listener?.close();
  }

  /**
   * The live NATS message's checks, in the same order; only then does the actor see it. An authentic
   * frame on a revocation subject that this build cannot read closes the gate as its NATS copy does
   * (before, it was only refused: a member that got it direct alone kept serving the tokens it may revoke).
   */
  private frame(subject: string, payload: Uint8Array): DirectVerdict {
    const kind = this.kinds.get(subject);
    if (kind === undefined && !subject.startsWith(this.revocations)) return 'subject';
    const opened = this.o.bus.auth!.open(subject, payload, true);
    if (!opened.ok) return opened.reason;
    const msg = this.o.bus.codec.decode(opened.payload);
    if (msg === null) { this.o.actor.unreadable(subject, opened.signedAt, 'undecodable'); return null; }
    if (msg.type !== 'revocation.added') { this.o.actor.unreadable(subject, opened.signedAt, 'not_a_revocation'); return null; }
    if (kind === undefined || msg.kind !== kind) return 'subject';
    this.o.actor.receiveDirect(msg, subject, opened.signedAt);
    return null;
  }

  /** A hello: the bus MAC over the hello subject, bound to this connection's nonce, fresh. */
  private hello(payload: Uint8Array, nonce: Uint8Array): DirectVerdict {
    const opened = this.o.bus.auth!.open(this.helloSubject, payload, true, nonce);
    return opened.ok ? null : opened.reason;
  }

  private refusal(reason: string, remote: string): void {
    const r = (DIRECT_REFUSALS as readonly string[]).includes(reason) ? (reason as Refusal) : 'malformed';
    this.refused[r]++;
    this.refusalsLogged++;
    if (this.refusalsLogged <= 10 || this.refusalsLogged % 1000 === 0) {
      this.o.logger?.warn({ reason: r, remote, refused: this.refusalsLogged }, 'direct revocation push: frame refused, connection closed');
    }
  }
}
