// The revocation actor: sole writer of the RevocationStore. Takes revocations from the
// admin API/CLI and the bus, publishes new ones (JetStream with ack under NATS, the
// primary hub under node:cluster), replays the stream on start and catches up after
// every reconnect before reporting itself caught up. Async work reports back as messages.
import type { Logger } from '../../node/log.js';
import type { MessageBus } from '../protocol/message-bus.js';
import type { RevocationAdded, RevocationRecord, RevocationSnapshot } from '../protocol/messages.js';
import { REVOCATION_KINDS } from '../protocol/subjects.js';
import type { NatsTransport } from '../transport/nats-transport.js';
import { RevocationStream, type RevocationStreamOptions } from '../transport/revocation-stream.js';
import { DelayHistogram } from './delay-histogram.js';
import { buildRevocation } from './revocation-request.js';
import { RevocationOutbox } from './revocation-outbox.js';
import type { RevocationStore } from './revocation-store.js';
import { StreamFollower } from './stream-follower.js';

/** How revocations travel: nowhere (single process), through the node:cluster hub, or NATS + JetStream. */
export type RevocationMode = 'local' | 'ipc-hub' | 'ipc-worker' | 'nats';

/** What the actor needs; `nats` only in NATS mode. */
export interface RevocationActorOptions {
  readonly store: RevocationStore;
  readonly bus: MessageBus;
  readonly mode: RevocationMode;
  readonly memberId: string;
  /** Maximum token lifetime, seconds (entries without a known exp live this long). */
  readonly maxLifetimeS: number;
  readonly logger?: Logger | undefined;
  /** Required in `nats` mode. */
  readonly nats?: { readonly transport: NatsTransport; readonly stream: Omit<RevocationStreamOptions, 'subjects' | 'logger'> } | undefined;
  /** How long start waits for the bus before serving degraded on local state, ms (default 2000). */
  readonly startTimeoutMs?: number;
  /** How long a replay may stall before the member serves degraded anyway, ms (default 10000). */
  readonly catchUpTimeoutMs?: number;
  /** JetStream publish ack timeout, ms (default 2000). */
  readonly publishTimeoutMs?: number;
}

/** Result of `add`: the stored record and whether the stream durably has it (null: no stream in this mode). */
export type AddOutcome =
  | { readonly ok: true; readonly record: RevocationRecord; readonly persisted: boolean | null; readonly streamSeq: number | null }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Where the member stands with respect to the cluster's revocations. */
type Phase = 'starting' | 'catching_up' | 'live' | 'offline';

/** The actor's mailbox messages (handled synchronously by `receive`). */
type ActorMessage =
  | { readonly type: 'revocation.received'; readonly msg: RevocationAdded; readonly via: 'live' | 'replay' }
  | { readonly type: 'bus.connected' }
  | { readonly type: 'bus.disconnected' }
  | { readonly type: 'replay.complete' }
  | { readonly type: 'stream.unreachable'; readonly sinceMs: number }
  | { readonly type: 'stream.reachable' }
  | { readonly type: 'sync.page'; readonly snapshot: RevocationSnapshot }
  | { readonly type: 'sync.failed'; readonly error: string }
  | { readonly type: 'start.expired' }
  | { readonly type: 'catchup.expired'; readonly gen: number }
  | { readonly type: 'watchdog.tick' };

const SYNC_PAGE = 1_000;
const WATCHDOG_TICK_MS = 250;

/** Wall-clock epoch ms with sub-ms precision (comparable across processes on one host). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Owns the store; see the file header for the flows. */
export class RevocationActor {
  private phase: Phase = 'starting';
  private catchUpTimedOut = false;
  private gen = 0;
  private stream: RevocationStream | null = null;
  private readonly follower: StreamFollower | null = null;
  private readonly outbox: RevocationOutbox | null = null;
  private disconnectedAt = Date.now();
  /** Epoch ms since which the stream has not answered over a live connection (null: it answers). */
  private streamLostSince: number | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private watchdog: NodeJS.Timeout | null = null;
  private readonly unsubs: Array<() => void> = [];
  private syncFailures = 0;
  private closed = false;
  private readyResolve!: () => void;
  private readonly readyPromise = new Promise<void>((r) => { this.readyResolve = r; });
  private readonly delay = new DelayHistogram();
  private readonly counters: Record<string, number> = {
    revocations_published_total: 0, revocations_replayed_total: 0, revocations_expired_on_arrival_total: 0, revocations_catch_ups_total: 0,
  };

  constructor(private readonly opts: RevocationActorOptions) {
    for (const k of REVOCATION_KINDS) { this.counters[`revocations_received_${k}`] = 0; this.counters[`revocations_applied_${k}`] = 0; }
    if (opts.mode === 'nats') {
      if (opts.nats === undefined) throw new Error('nats mode needs the NATS transport');
      const stream = (): RevocationStream | null => this.streamOf();
      this.follower = new StreamFollower(stream, opts.bus.codec, {
        record: (msg) => { if (msg !== null) this.receive({ type: 'revocation.received', msg, via: 'replay' }); },
        complete: () => this.receive({ type: 'replay.complete' }),
        unreachable: (sinceMs) => this.receive({ type: 'stream.unreachable', sinceMs }),
        reachable: () => this.receive({ type: 'stream.reachable' }),
      }, opts.logger);
      this.outbox = new RevocationOutbox(opts.bus, () => (opts.bus.transport.isConnected() ? stream() : null), opts.publishTimeoutMs ?? 2_000, opts.logger);
    }
  }

  /** Subscribe and begin replay (NATS), sync (IPC worker) or go live at once (hub, local). */
  start(): void {
    const { bus } = this.opts;
    this.opts.store.startSweeper();
    this.unsubs.push(bus.subscribe(bus.subjects.revocationsAll, (m) => {
      if (m.type === 'revocation.added') this.receive({ type: 'revocation.received', msg: m, via: 'live' });
    }));
    switch (this.opts.mode) {
      case 'local':
        this.goLive();
        return;
      case 'ipc-hub':
        this.unsubs.push(bus.subscribe(bus.subjects.revocationSync, (m, incoming) => {
          if (m.type !== 'revocation.sync' || !incoming.isRequest) return;
          const after = m.afterCreatedAt === null || m.afterId === null ? null : { createdAt: m.afterCreatedAt, id: m.afterId };
          const page = this.opts.store.page(after, SYNC_PAGE);
          bus.respond(incoming, { type: 'revocation.snapshot', v: 1, entries: page.entries, more: page.more });
        }));
        this.goLive();
        return;
      case 'ipc-worker':
        this.phase = 'catching_up';
        this.unsubs.push(bus.transport.onStatus((s) => { if (s === 'disconnected') this.receive({ type: 'bus.disconnected' }); }));
        this.later(this.opts.startTimeoutMs ?? 2_000, { type: 'start.expired' });
        this.requestSync(null);
        return;
      case 'nats': {
        const t = this.opts.nats!.transport;
        this.later(this.opts.startTimeoutMs ?? 2_000, { type: 'start.expired' });
        this.unsubs.push(t.onStatus((s) => this.receive({ type: s === 'connected' ? 'bus.connected' : 'bus.disconnected' })));
        this.watchdog = setInterval(() => this.receive({ type: 'watchdog.tick' }), WATCHDOG_TICK_MS);
        this.watchdog.unref();
        if (t.isConnected()) this.receive({ type: 'bus.connected' });
        return;
      }
      default: { const never: never = this.opts.mode; throw new Error(`unknown mode ${String(never)}`); }
    }
  }

  /** Resolves once the store is replayed, or the bus stayed unreachable past the start timeout (degraded). */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** False while a replay or catch-up is running: requests must wait (the lead gates on it). */
  caughtUp(): boolean {
    return this.phase === 'live' || this.phase === 'offline' || (this.phase === 'catching_up' && this.catchUpTimedOut);
  }

  /** True when serving on local state only: bus down, stream unreachable, or a replay that could not finish. */
  degraded(): boolean {
    if (this.opts.mode === 'local' || this.opts.mode === 'ipc-hub') return false;
    return this.phase !== 'live' || this.streamLostSince !== null;
  }

  busConnected(): boolean {
    return this.opts.bus.transport.isConnected();
  }

  /**
   * Milliseconds the cluster's revocations have been out of reach (0 while connected and the
   * stream answers): the bus is down, or connected to a server cut off from the stream's
   * quorum (counted from the stream's last answer). For `cluster.fail_closed_after_ms`.
   */
  disconnectedForMs(): number {
    if (!this.busConnected()) return Date.now() - this.disconnectedAt;
    return this.streamLostSince === null ? 0 : Date.now() - this.streamLostSince;
  }

  /**
   * Validate and apply a revocation here at once, then publish it. Under NATS waits
   * for the JetStream ack (bounded by the publish timeout); on failure the revocation
   * still goes out on core NATS and an outbox retries until the stream has it.
   */
  async add(input: unknown): Promise<AddOutcome> {
    const built = buildRevocation(input, { nowMs: Date.now(), maxLifetimeS: this.opts.maxLifetimeS, origin: this.opts.memberId });
    if (!built.ok) return built;
    const r = built.record;
    if (this.opts.store.apply(r) === 'applied') this.countApplied(r);
    const msg: RevocationAdded = { type: 'revocation.added', v: 1, ...r, publishedAt: wallNow() };
    this.counters.revocations_published_total!++;
    if (this.outbox === null) {
      this.opts.bus.publish(this.opts.bus.subjects.revocation(r.kind), msg);
      return { ok: true, record: r, persisted: null, streamSeq: null };
    }
    const o = await this.outbox.publish(msg);
    return { ok: true, record: r, persisted: o.persisted, streamSeq: o.seq };
  }

  /** Flat counters and gauges for /metrics. */
  stats(): Record<string, number> {
    return {
      ...this.counters,
      ...this.opts.store.stats(),
      ...this.delay.stats('revocation_propagation_ms'),
      bus_connected: this.busConnected() ? 1 : 0,
      bus_disconnected_ms: this.disconnectedForMs(),
      revocations_caught_up: this.caughtUp() ? 1 : 0,
      revocations_degraded: this.degraded() ? 1 : 0,
      revocation_replay_lag: this.phase === 'catching_up' ? (this.follower?.lag() ?? 0) : 0,
      revocation_stream_seq: this.follower?.lastSeq ?? 0,
      revocation_consumer_restarts_total: this.follower?.restarts ?? 0,
      revocations_persisted_total: this.outbox?.persisted ?? 0,
      revocations_publish_failed_total: this.outbox?.failed ?? 0,
      revocations_unpersisted: this.outbox?.size ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.gen++;
    for (const u of this.unsubs.splice(0)) u();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.follower?.stop();
    this.outbox?.close();
    this.opts.store.stop();
  }

  /** The mailbox: every state change happens here, synchronously. */
  private receive(m: ActorMessage): void {
    if (this.closed) return;
    switch (m.type) {
      case 'revocation.received':
        this.applyRemote(m.msg, m.via);
        return;
      case 'bus.connected':
        this.gen++;
        this.phase = 'catching_up';
        this.catchUpTimedOut = false;
        this.counters.revocations_catch_ups_total!++;
        this.later(this.opts.catchUpTimeoutMs ?? 10_000, { type: 'catchup.expired', gen: this.gen });
        this.follower?.follow();
        this.outbox?.flush();
        return;
      case 'stream.unreachable':
        this.streamLostSince ??= m.sinceMs;
        return;
      case 'stream.reachable':
        // The follower has started a catch-up. The member stays stale (streamLostSince kept)
        // until it completes: past fail_closed_after_ms it keeps answering 503 until then; a
        // short outage (or no fail_closed_after_ms) keeps serving, as it did during the outage.
        this.counters.revocations_catch_ups_total!++;
        return;
      case 'bus.disconnected':
        this.gen++;
        // a stream already unreachable before the connection dropped: stale since then, not since now
        this.disconnectedAt = this.streamLostSince ?? Date.now();
        this.streamLostSince = null;
        this.follower?.stop();
        if (this.phase !== 'starting') this.phase = 'offline';
        return;
      case 'replay.complete':
        this.streamLostSince = null; // the stream answered and everything up to its last sequence is here
        if (this.phase === 'catching_up') this.goLive();
        return;
      case 'watchdog.tick':
        if (this.phase === 'catching_up' || this.phase === 'live') this.follower?.tick();
        return;
      case 'sync.page': {
        for (const r of m.snapshot.entries) this.applyRemote({ type: 'revocation.added', v: 1, ...r, publishedAt: 0 }, 'replay');
        const last = m.snapshot.entries[m.snapshot.entries.length - 1];
        if (m.snapshot.more && last !== undefined) this.requestSync({ createdAt: last.createdAt, id: last.id });
        else { this.syncFailures = 0; this.goLive(); }
        return;
      }
      case 'sync.failed': {
        this.syncFailures++;
        if (this.syncFailures === 1) this.opts.logger?.warn({ err: m.error }, 'revocation sync with the primary failed; retrying');
        const t = setTimeout(() => { this.timers.delete(t); this.requestSync(null); }, Math.min(2_000, 50 * 2 ** Math.min(this.syncFailures, 6)));
        this.timers.add(t);
        return;
      }
      case 'start.expired':
        if (this.phase === 'starting') {
          this.phase = 'offline';
          this.opts.logger?.warn('cluster bus unreachable at start: serving on local state (degraded)');
          this.readyResolve();
        } else if (this.phase === 'catching_up' && this.opts.mode === 'ipc-worker') {
          this.catchUpTimedOut = true;
          this.opts.logger?.warn('revocation sync with the primary did not finish: serving degraded, still retrying');
          this.readyResolve();
        }
        return;
      case 'catchup.expired':
        if (m.gen !== this.gen || this.phase !== 'catching_up') return;
        this.catchUpTimedOut = true;
        this.opts.logger?.error({ lag: this.follower?.lag() ?? 0 }, 'revocation replay did not finish in time: serving degraded, still retrying');
        this.readyResolve();
        return;
      default: { const never: never = m; return never; }
    }
  }

  private applyRemote(msg: RevocationAdded, via: 'live' | 'replay'): void {
    const { publishedAt, type: _t, v: _v, ...record } = msg;
    this.counters[`revocations_received_${record.kind}`]!++;
    const res = this.opts.store.apply(record);
    if (res === 'expired') { this.counters.revocations_expired_on_arrival_total!++; return; }
    if (res !== 'applied') return;
    this.countApplied(record);
    if (via === 'replay' && this.phase !== 'live') this.counters.revocations_replayed_total!++;
    else if (record.origin !== this.opts.memberId && publishedAt > 0) this.delay.record(wallNow() - publishedAt);
  }

  private countApplied(r: RevocationRecord): void {
    this.counters[`revocations_applied_${r.kind}`]!++;
  }

  private goLive(): void {
    const was = this.phase;
    this.phase = 'live';
    this.catchUpTimedOut = false;
    if (was === 'catching_up' && this.follower !== null) this.opts.logger?.info({ seq: this.follower.lastSeq, entries: this.opts.store.size }, 'revocations caught up');
    this.readyResolve();
  }

  private later(ms: number, m: ActorMessage): void {
    const t = setTimeout(() => { this.timers.delete(t); this.receive(m); }, ms);
    t.unref();
    this.timers.add(t);
  }

  private streamOf(): RevocationStream | null {
    if (this.stream !== null) return this.stream;
    const nc = this.opts.nats!.transport.connection();
    if (nc === null) return null;
    this.stream = new RevocationStream(nc, { ...this.opts.nats!.stream, subjects: this.opts.bus.subjects, logger: this.opts.logger });
    return this.stream;
  }

  private requestSync(after: { createdAt: number; id: string } | null): void {
    const { bus } = this.opts;
    bus.request(bus.subjects.revocationSync, {
      type: 'revocation.sync', v: 1, member: this.opts.memberId, afterCreatedAt: after?.createdAt ?? null, afterId: after?.id ?? null,
    }, 2_000).then(
      (reply) => this.receive(reply.type === 'revocation.snapshot' ? { type: 'sync.page', snapshot: reply } : { type: 'sync.failed', error: `unexpected ${reply.type}` }),
      (err: Error) => this.receive({ type: 'sync.failed', error: err.message }),
    );
  }
}
