// The revocation actor: sole writer of the RevocationStore. Takes revocations from the
// admin API/CLI and the bus, publishes new ones (JetStream with ack under NATS, the
// primary hub under node:cluster), replays the stream on start and catches up after
// every reconnect before reporting itself caught up; a `--workers` worker also waits for
// its primary's sync (worker-channel.ts). A member that has never replayed
// (nor loaded a young enough snapshot) is not caught up: it has no revocation state.
// Bus records pass the admin API's time rules. Async work reports back as messages
// (their types and the options: revocation-actor-contract.ts); where the member stands: catch-up-state.ts.
import { revocationAdded, type RevocationAdded, type RevocationRecord } from '../protocol/messages.js';
import { REVOCATION_KINDS } from '../protocol/subjects.js';
import { RevocationStream } from './revocation-stream.js';
import { RevocationArrivals } from './revocation-arrivals.js';
import { RevocationIngest } from './revocation-ingest.js';
import { buildRevocation } from './revocation-request.js';
import { wallNow } from './revocation-time.js';
import { CatchUpState } from './catch-up-state.js';
import { OUTBOX_ZEROS, RevocationOutbox } from './revocation-outbox.js';
import { SnapshotKeeper } from './snapshot-keeper.js';
import { FOLLOWER_ZEROS, StreamFollower } from './stream-follower.js';
import type { ActorMessage, AddOutcome, ArrivalPath, RevocationActorOptions, RevocationSource } from './revocation-actor-contract.js';
// The contract's public types stay importable from here (index.ts, existing importers).
export type { AddOutcome, ArrivalPath, RevocationActorOptions, RevocationMode, RevocationSource } from './revocation-actor-contract.js';
const WATCHDOG_TICK_MS = 250;
/** Owns the store; see the file header for the flows. */
export class RevocationActor {
  private gen = 0;
  private stream: RevocationStream | null = null;
  private readonly follower: StreamFollower | null = null;
  private readonly outbox: RevocationOutbox | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private watchdog: NodeJS.Timeout | null = null;
  private readonly unsubs: Array<() => void> = [];
  private closed = false;
  private readyResolve!: () => void;
  private readonly readyPromise = new Promise<void>((r) => { this.readyResolve = r; });
  private readonly arrivals = new RevocationArrivals();
  private readonly counters: Record<string, number> = {
    revocations_published_total: 0, revocations_replayed_total: 0, revocations_expired_on_arrival_total: 0, revocations_catch_ups_total: 0,
  };
  private readonly state: CatchUpState;
  private readonly ingest: RevocationIngest;
  private readonly snapshot: SnapshotKeeper | null = null;
  /** Told of every revocation from another member applied here (the audit trail), by whichever path came first; the first replay (history from before this start) is not reported. */
  onApplied: ((r: RevocationRecord) => void) | null = null;
  /** Called before a live or direct copy is applied: the receiver thread's earlier copies go first (their visible time is the true one). */
  drainFirst: (() => void) | null = null;

  constructor(private readonly opts: RevocationActorOptions) {
    this.state = new CatchUpState(opts.mode, opts.fromPrimary === true, () => this.busConnected());
    for (const k of REVOCATION_KINDS) { this.counters[`revocations_received_${k}`] = 0; this.counters[`revocations_applied_${k}`] = 0; }
    this.ingest = new RevocationIngest({ store: opts.store, bus: opts.bus, maxLifetimeS: opts.maxLifetimeS, logger: opts.logger, onGate: () => this.snapshot?.changed() });
    // a worker's state is the primary's; it would only write what it got from there
    if (opts.snapshot != null && opts.mode !== 'ipc-worker') {
      this.snapshot = new SnapshotKeeper(opts.snapshot, (r) => this.ingest.apply(r), opts.store, { caughtUpAt: () => this.caughtUpAt(), live: () => this.state.phase === 'live', pending: () => this.outbox?.pendingIds() ?? [], gates: () => this.ingest.gates(), restoreGates: (g) => this.ingest.restore(g) }, opts.logger, opts.bus.auth, opts.snapshotWriter !== false);
    }
    if (opts.mode === 'nats') {
      if (opts.nats === undefined) throw new Error('nats mode needs the NATS transport');
      const stream = (): RevocationStream | null => this.streamOf();
      this.follower = new StreamFollower(stream, (subject, data) => this.ingest.openStored(subject, data), {
        record: (msg, _seq, subject, signedAt) => { if (msg !== null) this.receive({ type: 'revocation.received', msg, via: 'replay', subject, signedAt }); },
        complete: () => this.receive({ type: 'replay.complete' }),
        unreachable: (sinceMs) => this.receive({ type: 'stream.unreachable', sinceMs }),
        reachable: () => this.receive({ type: 'stream.reachable' }),
        holds: (id) => opts.store.has(id),
        lost: (ids, tag) => ids.filter((id) => { const r = opts.store.get(id); if (r !== undefined) this.outbox?.restore(revocationAdded(r, wallNow()), tag); return r === undefined; }),
      }, opts.logger, () => opts.store.lingerS());
      this.outbox = new RevocationOutbox(opts.bus, () => (opts.bus.transport.isConnected() ? stream() : null), opts.publishTimeoutMs ?? 2_000, opts.logger);
    }
  }

  /** Load the snapshot (if any), subscribe and begin replay (NATS), wait for the primary's sync (IPC worker) or go live at once (hub, local). */
  start(): void {
    const { bus } = this.opts;
    this.opts.store.startSweeper();
    const asOf = this.snapshot?.load((r) => this.follower?.expect(r.id, r.expiresAt)) ?? null;
    if (asOf !== null) this.state.snapshotLoaded(asOf);
    // accepted here before a restart but never stored by the stream: the outbox retries them until it has them
    for (const r of this.snapshot?.takeUnpublished() ?? []) void this.outbox?.publish(revocationAdded(r, wallNow()));
    // an IPC worker takes them from the primary's channel only (worker-channel.ts), not also relayed by the hub
    if (this.opts.mode !== 'ipc-worker') {
      this.unsubs.push(bus.subscribe(bus.subjects.revocationsAll, (m, incoming) => {
        if (m.type === 'revocation.added') { this.drainFirst?.(); this.receive({ type: 'revocation.received', msg: m, via: 'live', subject: incoming.subject, signedAt: incoming.signedAt }); } else this.ingest.unreadable(incoming.subject, incoming.signedAt, 'not_a_revocation');
      }));
    }
    switch (this.opts.mode) {
      case 'local':
      case 'ipc-hub':
        this.goLive();
        return;
      case 'ipc-worker':
        this.state.phase = 'catching_up';
        this.unsubs.push(bus.transport.onStatus((s) => { if (s === 'disconnected') this.receive({ type: 'bus.disconnected' }); }));
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

  /**
   * Resolves once requests may be judged: the store is replayed, or — with a young enough
   * snapshot loaded — the bus stayed unreachable past the start timeout (degraded). A member
   * without any revocation state stays unresolved until its first replay.
   */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** False while a replay or catch-up is running, and always before the first replay (unless a snapshot was loaded): requests must wait (503). */
  caughtUp(): boolean { return this.state.caughtUp(); }

  /** Where the state comes from (`none` before the first replay). */
  revocationSource(): RevocationSource { return this.state.source; }

  /** Age of the loaded snapshot's state while the member serves from it, ms; null otherwise. */
  snapshotAgeMs(): number | null { return this.state.snapshotAgeMs(); }

  /** The last moment the member was known caught up (now while live), epoch ms; null: never. */
  caughtUpAt(): number | null { return this.state.caughtUpAt(); }

  /** How long since the member was last known caught up, ms (0 while live): what `cluster.fail_closed_after_ms` bounds. */
  behindMs(): number { return this.state.behindMs(); }

  /** True until every revocation refused for lack of room, or this build could not read, has expired: the member cannot tell whether a token is revoked. */
  overflowed(): boolean {
    return this.ingest.incomplete();
  }

  /** True when serving on local state only: bus down, stream unreachable, or a replay that could not finish. */
  degraded(): boolean { return this.state.degraded(); }

  busConnected(): boolean { return this.opts.bus.transport.isConnected(); }

  /** Milliseconds the cluster's revocations have been out of reach (0 while connected and the stream answers); see CatchUpState. */
  disconnectedForMs(): number { return this.state.disconnectedForMs(); }

  /**
   * Validate and apply a revocation here at once, then publish it. Under NATS waits
   * for the JetStream ack (bounded by the publish timeout); on failure the revocation
   * still goes out on core NATS and an outbox retries until the stream has it.
   * `knownIssuers`: the configured issuers an `issuer` must be one of (the admin API's check); `fromEvent`: an identity-provider event's claim value (BuildContext.valueFromEvent).
   */
  async add(input: unknown, id?: string, knownIssuers?: readonly string[], fromEvent = false): Promise<AddOutcome> {
    const built = buildRevocation(input, { nowMs: Date.now(), maxLifetimeS: this.opts.maxLifetimeS, origin: this.opts.memberId, knownIssuers, skewS: this.opts.store.lingerS() / 2, valueFromEvent: fromEvent, ...(id === undefined ? {} : { id }) });
    if (!built.ok) return built;
    const r = built.record;
    const full = this.ingest.refusal(r);
    if (full !== null) return { ok: false, full: true, errors: [full] };
    if (this.ingest.apply(r) === 'applied') { this.countApplied(r); this.snapshot?.changed(); }
    const msg: RevocationAdded = revocationAdded(r, wallNow());
    this.counters.revocations_published_total!++;
    if (this.outbox === null) {
      this.opts.bus.publish(this.opts.bus.subjects.revocation(r.kind), msg);
      return { ok: true, record: r, persisted: null, streamSeq: null };
    }
    const o = await this.outbox.publish(msg);
    return { ok: true, record: r, persisted: o.persisted, streamSeq: o.seq };
  }

  /** A revocation pushed by its origin (revocation-direct.ts, envelope checked as a live message's); the second copy is a duplicate. */
  receiveDirect(msg: RevocationAdded, subject: string, signedAt: number): void {
    this.drainFirst?.();
    this.receive({ type: 'revocation.received', msg, via: 'direct', subject, signedAt });
  }

  /** An authentic message on a revocation subject pushed direct that this build cannot read: the gate closes, as for its NATS copy. */
  unreadable(subject: string, signedAt: number, why: 'undecodable' | 'not_a_revocation'): void { this.ingest.unreadable(subject, signedAt, why); }

  /** Revocations handed over by this instance's primary (worker-channel.ts; admin rules judged now): live, or a page of a sync (a replay until live). */
  receivePrimary(records: readonly RevocationRecord[], page: boolean): void {
    this.drainFirst?.();
    const replay = page && this.state.phase !== 'live';
    for (const r of records) this.receive({ type: 'revocation.received', msg: revocationAdded(r, replay ? 0 : r.createdAt), via: replay ? 'replay' : 'primary', subject: this.opts.bus.subjects.revocation(r.kind), signedAt: replay ? null : wallNow() });
  }

  /** The primary's sync is complete (`true`: requests may be judged once the rest allows), or this worker missed revocations (`false`: 503 until the next one). */
  primarySynced(complete: boolean): void {
    this.receive({ type: 'primary.sync', complete });
  }

  /** A revocation the receiver thread verified (revocation-receiver.ts), written to the ring at `visibleAt` (epoch ms); the NATS copy here is a duplicate. */
  receiveThread(msg: RevocationAdded, subject: string, signedAt: number | null, visibleAt: number): void {
    this.receive({ type: 'revocation.received', msg, via: 'thread', subject, signedAt, visibleAt });
  }

  /** Also hand each revocation published here, sealed as it goes to NATS, to `push` (null: stop). NATS mode only. */
  setDirectPush(push: ((subject: string, sealed: Uint8Array) => void) | null): void {
    if (this.outbox !== null) this.outbox.onFirstSeal = push;
  }

  /**
   * The revocation stream's last sequence as its leader answers now — 0 when it stores no message (every revocation aged
   * out: its last sequence stays, but no consumer will deliver it); null without a stream or when it does not answer.
   */
  streamLastSeq(): Promise<number | null> {
    const s = this.follower === null ? null : this.streamOf();
    return s === null ? Promise.resolve(null) : s.position().then((p) => (p.messages === 0 ? 0 : p.lastSeq), () => null);
  }

  /** Stream sequence of the last revocation the consumer delivered (0 without a stream). */
  appliedSeq(): number { return this.follower?.lastSeq ?? 0; }

  /** Flat counters and gauges for /metrics. */
  stats(): Record<string, number> {
    return {
      ...this.counters,
      ...this.opts.store.stats(),
      ...this.arrivals.stats(),
      bus_connected: this.busConnected() ? 1 : 0,
      bus_disconnected_ms: this.disconnectedForMs(),
      revocations_caught_up: this.caughtUp() ? 1 : 0,
      revocations_degraded: this.degraded() ? 1 : 0,
      revocation_replay_lag: this.state.phase === 'catching_up' ? (this.follower?.lag() ?? 0) : 0,
      // a member without a stream (IPC, local) reports their zeros: the metric families always exist
      ...(this.follower?.stats() ?? FOLLOWER_ZEROS),
      ...(this.outbox?.stats() ?? OUTBOX_ZEROS),
      revocations_behind_ms: Number.isFinite(this.behindMs()) ? this.behindMs() : -1,
      ...this.ingest.stats(),
      ...this.snapshot?.stats(),
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
    await this.snapshot?.close();
  }

  /** The mailbox: every state change happens here, synchronously. */
  private receive(m: ActorMessage): void {
    if (this.closed) return;
    switch (m.type) {
      case 'revocation.received':
        this.applyRemote(m.msg, m.via, m.subject, m.signedAt, m.visibleAt);
        return;
      case 'bus.connected':
        this.gen++;
        this.state.connected();
        this.counters.revocations_catch_ups_total!++;
        this.later(this.opts.catchUpTimeoutMs ?? 10_000, { type: 'catchup.expired', gen: this.gen });
        this.follower?.follow();
        this.outbox?.flush();
        return;
      case 'stream.unreachable':
        this.state.streamUnreachable(m.sinceMs);
        return;
      case 'stream.reachable':
        // The follower has started a catch-up. The member stays stale (streamLostSince kept)
        // until it completes: past fail_closed_after_ms it keeps answering 503 until then; a
        // short outage (or no fail_closed_after_ms) keeps serving, as it did during the outage.
        this.counters.revocations_catch_ups_total!++;
        return;
      case 'bus.disconnected':
        this.gen++;
        this.state.disconnected();
        this.follower?.stop();
        return;
      case 'replay.complete':
        this.state.streamLostSince = null; // the stream answered and everything up to its last sequence is here
        if (this.state.phase === 'catching_up') { this.ingest.replayed(); this.goLive(); }
        return;
      case 'watchdog.tick':
        if (this.state.phase === 'catching_up' || this.state.phase === 'live') this.follower?.tick();
        return;
      case 'primary.sync':
        this.state.awaitingPrimary = !m.complete;
        if (m.complete && this.opts.mode === 'ipc-worker' && this.state.phase === 'catching_up') this.goLive();
        else this.maybeReady();
        return;
      case 'start.expired':
        if (this.state.phase === 'starting') {
          this.state.phase = 'offline';
          if (this.state.source === 'snapshot') this.opts.logger?.warn({ snapshot_age_s: Math.round((this.snapshotAgeMs() ?? 0) / 1000) }, 'cluster bus unreachable at start: serving from the revocation snapshot (degraded)');
          else this.opts.logger?.error('cluster bus unreachable at start and no revocation state: auth routes answer 503 until the first replay');
        }
        this.maybeReady();
        return;
      case 'catchup.expired':
        if (m.gen !== this.gen || this.state.phase !== 'catching_up') return;
        this.state.catchUpTimedOut = true;
        if (this.state.source === 'none') this.opts.logger?.error({ lag: this.follower?.lag() ?? 0 }, 'first revocation replay did not finish in time: auth routes answer 503 until it does, still retrying');
        else this.opts.logger?.error({ lag: this.follower?.lag() ?? 0, behind_ms: this.behindMs() }, 'revocation replay did not finish in time: serving degraded, still retrying');
        this.maybeReady();
        return;
      default: { const never: never = m; return never; }
    }
  }

  /**
   * Apply a record from the bus, the stream or the primary: the admin API's time rules first,
   * judged at its signing time (`signedAt`, null without authentication: now).
   */
  private applyRemote(msg: RevocationAdded, via: ArrivalPath, subject: string, signedAt: number | null, visibleAt?: number): void {
    const { publishedAt, type: _t, v: _v, ...raw } = msg;
    // received_<kind> counts the main thread's NATS messages (live and replay), as before the direct push and the thread
    if (via === 'live' || via === 'replay') this.counters[`revocations_received_${raw.kind}`]!++;
    if (via !== 'replay' && raw.origin !== this.opts.memberId) this.arrivals.arrived(via);
    const { result, record } = this.ingest.fromBus(raw, subject, signedAt, via);
    if (result === 'expired') { this.counters.revocations_expired_on_arrival_total!++; return; }
    if (result !== 'applied') return;
    // first arrival: the delays below and the counters are recorded once, by the path that won
    if (via !== 'replay') this.arrivals.first(via);
    else if (this.state.phase === 'live' && record.origin !== this.opts.memberId) this.arrivals.first('stream');
    this.countApplied(record);
    this.snapshot?.changed();
    if (via === 'replay' && this.state.phase !== 'live') this.counters.revocations_replayed_total!++;
    else if (record.origin !== this.opts.memberId) this.arrivals.record(publishedAt, visibleAt);
    // the stream's consumer can beat the live paths on a loaded member, and a catch-up after a reconnect brings what the link missed: both are applied here first
    if ((via !== 'replay' || (this.state.source !== 'none' && this.state.source !== 'snapshot')) && record.origin !== this.opts.memberId && this.onApplied !== null) {
      try { this.onApplied(record); } catch (err) { this.opts.logger?.error({ err: String(err) }, 'revocation audit hook failed'); }
    }
  }

  private maybeReady(): void { if (this.caughtUp()) this.readyResolve(); }

  private countApplied(r: RevocationRecord): void { this.counters[`revocations_applied_${r.kind}`]!++; }

  private goLive(): void {
    const was = this.state.live();
    if (was === 'catching_up' && this.follower !== null) this.opts.logger?.info({ seq: this.follower.lastSeq, entries: this.opts.store.size }, 'revocations caught up');
    this.snapshot?.caughtUp();
    this.maybeReady();
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
}
