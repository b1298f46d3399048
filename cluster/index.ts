// Public surface of cluster/: ClusterNode wires one member — transport (NATS, node:cluster
// IPC or in-process), protocol (authenticated over NATS), membership, revocations and the
// shared introspection cache — and exposes the store the hot path reads, the admin routes,
// readiness and metrics.
import type { ConnectionOptions } from 'nats';
import type { AdminHandler } from '../node/admin/admin-server.js';
import { heapBoundedCacheBytes } from '../node/cache-heap-bound.js';
import type { Config } from '../node/config/index.js';
import { inheritedWallOffsetMs } from '../node/contracts/index.js';
import type { Logger } from '../node/log.js';
import { IntrospectionSync, type IntrospectionSyncOptions } from './cache-sync/index.js';
import { MAX_VIEW_MEMBERS, Membership, configuredMemberId, newMemberId } from './membership/index.js';
import { busAuthFrom, Codec, MessageBus, subjects, type BusAuth } from './protocol/index.js';
import { BusCatchUp, clusterSettings, configuredIssuers, lingerFor, PrimaryChannel, PrimaryLease, RevocationActor, revocationAdminRoutes, RevocationDirect, RevocationReceiver, RevocationStore, STREAM_AGE_MARGIN_S, takeFromPrimary, type ClusterSettings, type RetentionShort, type RevocationMode, type SkewSource } from './revocation/index.js';
import { IpcHubTransport, IpcWorkerTransport, LocalTransport, natsConnectionOptions, NatsTransport, type Transport } from './transport/index.js';

export * from './protocol/index.js';
export * from './transport/index.js';
export * from './membership/index.js';
export * from './revocation/index.js';
export * from './cache-sync/index.js';

/** single = one process; worker = a node:cluster worker; primary = the node:cluster supervisor (IPC hub). */
export type ClusterRole = 'single' | 'worker' | 'primary';

export interface ClusterStartOptions {
  /** The validated config; its `cluster` section, and its issuers' clock skews (the revocations' linger). */
  readonly config: { readonly cluster?: unknown } & SkewSource;
  /** The running config, read at every revocation apply and sweep (default `config`): a reload raising an issuer's `clock_skew_s` keeps entries longer. */
  readonly current?: () => SkewSource;
  readonly logger: Logger;
  readonly role: ClusterRole;
  /** Fixed member id (default: `cluster.member_id` — `<id>-w<index>` in worker `index` — or hostname-pid-random). */
  readonly memberId?: string;
  /** Extra nats.js options (tests: `ignoreClusterUpdates`). */
  readonly natsOptions?: Partial<ConnectionOptions>;
  /** Heartbeat period, ms (default `cluster.heartbeat_ms`). */
  readonly heartbeatMs?: number;
  /** Shared introspection cache tuning (lease and owner-request timeouts). */
  readonly introspection?: Pick<IntrospectionSyncOptions, 'leaseMs' | 'requestTimeoutMs' | 'suspectMs' | 'maxLeases' | 'maxResults' | 'maxResultBytes'>;
}

/** Why requests must wait (see `gate`). */
export type GateResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'catching_up' | 'bus_lost' | 'revocations_incomplete' };

/** Whether a held request may be judged (`current`): not when the primary stayed silent or the bus catch-up did not finish in time. */
export type CurrentVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: 'primary_silent' | 'bus_catching_up' };
/** The catch-up's counters where there is none (no NATS, a primary): the metric families always exist. */
const BUS_CATCH_UP_ZEROS = Object.freeze({ revocations_bus_stalls_total: 0, revocations_bus_catch_up_waits_total: 0, revocations_bus_catch_up_expired_total: 0 });
const CURRENT: CurrentVerdict = Object.freeze({ ok: true });
const PRIMARY_SILENT: CurrentVerdict = Object.freeze({ ok: false, reason: 'primary_silent' });
const BUS_CATCHING_UP: CurrentVerdict = Object.freeze({ ok: false, reason: 'bus_catching_up' });

/** One member of the cluster. */
export class ClusterNode {
  /** The revocation set: read synchronously on every request (`isRevoked`). */
  readonly revocations: RevocationStore;
  readonly revocationActor: RevocationActor;
  readonly membership: Membership;
  /** Typed bus for other actors (introspection cache sync, policy). */
  readonly bus: MessageBus;
  /**
   * The cluster-wide introspection cache: per issuer, pass `coordinator(name)` and
   * `publisher(name)` as the IntrospectionClient's `coordinate`/`onResult`, then `attach(name, client)`.
   */
  readonly introspection: IntrospectionSync;
  /** The direct revocation push, when `cluster.revocation.direct` is set (NATS with hmac only). */
  private direct: RevocationDirect | null = null;
  /** `serve --workers N`: the primary's channel to its workers, or a worker's unsubscribe from it. */
  private toWorkers: PrimaryChannel | null = null;
  private fromPrimary: (() => void) | null = null;
  /** A worker's lease on that channel: its requests wait while the newest message read is stale. */
  private primaryLease: PrimaryLease | null = null;
  /** NATS, a request-serving process: after a stall of its own loop, requests wait until it has caught up with the bus. */
  private busCatchUp: BusCatchUp | null = null;
  /** The receiver thread (`cluster.revocation.receiver: thread`, NATS, request-serving processes): poll it before every revocation check. */
  revocationReceiver: RevocationReceiver | null = null;
  private closed = false;
  /** Reported ready once: the join wait for the member view holds only a member not serving yet. */
  private wasReady = false;
  /** The stream keeps revocations for less than this member needs (its update refused), null when not. */
  private streamRetention: RetentionShort | null = null;
  /** The revocation stream's replicas at the last check; 0 before the first (or without NATS). */
  private streamReplicas = 0;
  /** Per reason: the first of each kind is logged (then every 1000th), so a newer build's `unknown_version` is not hidden behind junk. */
  private readonly dropsLogged = new Map<string, number>();
  private readonly rejectsLogged = new Map<string, number>();

  private constructor(
    readonly memberId: string,
    readonly role: ClusterRole,
    readonly mode: RevocationMode,
    readonly settings: ClusterSettings,
    private readonly transport: Transport,
    codec: Codec,
    private readonly logger: Logger,
    heartbeatMs: number,
    introspection: ClusterStartOptions['introspection'],
    auth: BusAuth | null,
    current: () => SkewSource,
  ) {
    this.bus = new MessageBus(transport, codec, subjects(settings.prefix), auth);
    codec.onDrop = (reason, type) => {
      const n = (this.dropsLogged.get(reason) ?? 0) + 1;
      this.dropsLogged.set(reason, n);
      if (n === 1 || n % 1000 === 0) logger.warn({ reason, type, dropped: n }, 'bus message dropped');
    };
    this.bus.onReject = (reason, subject, type) => {
      const n = (this.rejectsLogged.get(reason) ?? 0) + 1;
      this.rejectsLogged.set(reason, n);
      if (n === 1 || n % 1000 === 0) logger.warn({ reason, subject, type, rejected: n }, 'bus message refused');
    };
    this.revocations = new RevocationStore(Date.now, { maxEntries: settings.maxRevocations, maxBytes: settings.maxRevocationBytes, sweepIntervalMs: settings.sweepIntervalS * 1000, lingerS: () => lingerFor(current()), mono: () => performance.now(), knownOffsetMs: inheritedWallOffsetMs() });
    this.revocationActor = new RevocationActor({
      store: this.revocations,
      bus: this.bus,
      mode,
      memberId,
      maxLifetimeS: settings.maxLifetimeS,
      logger,
      nats: transport instanceof NatsTransport
        ? { transport, stream: { maxAgeMs: (settings.maxLifetimeS + STREAM_AGE_MARGIN_S) * 1000, replicas: settings.replicas, onRetention: (r) => { this.streamRetention = r; }, onReplicas: (n) => { this.streamReplicas = n; } } }
        : undefined,
      startTimeoutMs: settings.startTimeoutMs,
      catchUpTimeoutMs: settings.catchUpTimeoutMs,
      snapshot: settings.snapshot,
      // the primary writes the file (it alone holds the outbox's ids); a worker that wrote too could drop them
      snapshotWriter: role !== 'worker',
      fromPrimary: role === 'worker',
    });
    this.membership = new Membership({ bus: this.bus, id: memberId, role, intervalMs: heartbeatMs });
    this.introspection = new IntrospectionSync({ ...introspection, bus: this.bus, membership: this.membership, memberId, logger });
  }

  /**
   * Wire and start a member. Resolves at once (it does not wait for the bus; use
   * `ready()`); rejects only on a config problem such as an unset password or bus key variable.
   */
  static async start(opts: ClusterStartOptions): Promise<ClusterNode> {
    const settings = clusterSettings(opts.config.cluster);
    const memberId = opts.memberId ?? (settings.memberId === null ? newMemberId() : configuredMemberId(settings.memberId, opts.role));
    const logger = opts.logger.child({ member: memberId });
    let transport: Transport;
    let mode: RevocationMode;
    let auth: BusAuth | null = null;
    if (settings.nats !== null) {
      const connection = { ...natsConnectionOptions(settings.nats, `portcullis ${memberId}`), ...opts.natsOptions };
      // Only NATS needs it: node:cluster IPC stays inside one process tree.
      auth = busAuthFrom(settings.auth);
      if (auth === null) logger.warn('cluster.auth.mode: none — bus messages are not authenticated: anyone who can publish on NATS can grant access (forged cache fills) and revoke at will');
      const t = new NatsTransport({ connection, logger });
      t.start();
      transport = t;
      mode = 'nats';
    } else if (opts.role === 'worker') {
      transport = new IpcWorkerTransport();
      mode = 'ipc-worker';
    } else if (opts.role === 'primary') {
      transport = new IpcHubTransport();
      mode = 'ipc-hub';
    } else {
      transport = new LocalTransport();
      mode = 'local';
    }
    // the owner's kept results hold introspection claims too: bounded by the same byte budget as each local cache
    const cacheBytes = (opts.config as { verifier?: { cache_bytes?: unknown } }).verifier?.cache_bytes;
    const introspection = typeof cacheBytes === 'number' ? { maxResultBytes: heapBoundedCacheBytes(cacheBytes), ...opts.introspection } : opts.introspection;
    const node = new ClusterNode(memberId, opts.role, mode, settings, transport, new Codec(), logger, opts.heartbeatMs ?? settings.heartbeatMs, introspection, auth, opts.current ?? (() => opts.config));
    node.revocationActor.start();
    // `serve --workers N`: the primary hands its workers every revocation it holds (without NATS) or makes (on NATS: enforced with the bus away too)
    if (opts.role === 'primary') node.toWorkers = new PrimaryChannel(node.revocations, mode === 'nats' ? (r) => r.origin === memberId : () => true);
    if (opts.role === 'worker') { node.primaryLease = new PrimaryLease(); node.fromPrimary = takeFromPrimary(node.revocationActor, node.primaryLease); }
    // a process that judges requests on what its own NATS connection brought (a `--workers` primary judges none, and
    // what it hands its workers on NATS — the revocations it makes itself — cannot have queued unread in its stall)
    if (mode === 'nats' && opts.role !== 'primary') node.busCatchUp = node.catchUpOn(transport as NatsTransport);
    // a primary serves no requests: nothing there would read the ring
    if (settings.receiver === 'thread' && settings.nats !== null && opts.role !== 'primary') node.startReceiver(settings.nats);
    // Before the first heartbeat: a peer that hears of us can reach our owner subject at once.
    // A primary serves no requests and owns no keys.
    if (opts.role !== 'primary') node.introspection.start();
    if (settings.direct !== null && mode === 'nats') await node.startDirect(opts.role !== 'primary');
    let conflicts = 0;
    node.membership.onIdConflict((other) => {
      if (++conflicts !== 1 && conflicts % 60 !== 0) return;
      logger.error({ other_host: other.host, other_pid: other.pid, heartbeats: conflicts }, 'another process heartbeats under this member id: give each instance its own cluster.member_id (or leave it unset) — each takes the other\'s DPoP records and cache evictions for its own echo');
    });
    node.membership.onViewFull((refused) => {
      if (refused !== 1 && refused % 1000 !== 0) return;
      logger.warn({ max_members: MAX_VIEW_MEMBERS, refused }, 'member view full: heartbeats of new member ids refused (invented ids from a bus key holder, or a cluster of more processes than the view holds)');
    });
    node.membership.start();
    logger.info({ mode, role: opts.role, prefix: settings.prefix, bus_auth: node.busAuthMode(), bus_key_id: auth?.keyIds().current }, 'cluster member started');
    return node;
  }

  private catchUpOn(t: NatsTransport): BusCatchUp {
    const actor = this.revocationActor;
    // the receiver thread's copies arrive on its own connection; this one subscribes to every revocation too
    return new BusCatchUp({ connected: () => t.isConnected(), roundTrip: () => t.roundTrip(), streamLastSeq: () => actor.streamLastSeq(), appliedSeq: () => actor.appliedSeq() }, undefined, undefined, this.settings.auth.maxAgeMs);
  }

  private startReceiver(nats: NonNullable<ClusterSettings['nats']>): void {
    const actor = this.revocationActor;
    this.revocationReceiver = new RevocationReceiver({
      nats, auth: this.settings.auth, prefix: this.settings.prefix, name: `portcullis ${this.memberId} revocation-receiver`, maxLifetimeS: this.settings.maxLifetimeS,
      codec: new Codec(), subjects: this.bus.subjects, logger: this.logger.child({ component: 'revocation-receiver' }),
      deliver: (msg, subject, signedAt, visibleAt) => actor.receiveThread(msg, subject, signedAt, visibleAt),
    });
    actor.drainFirst = () => this.revocationReceiver?.poll();
    this.revocationReceiver.start();
  }

  /** Bind the direct push listener and tell peers in the heartbeat; a bind error closes the member and rejects. */
  private async startDirect(receive: boolean): Promise<void> {
    const m = this.membership;
    const peers = (): ReadonlyMap<string, string> => new Map(m.all().filter((x) => x.direct !== null).map((x) => [x.id, x.direct!]));
    // a fixed port: each `--workers` process binds its own, port + worker index (as decision sockets do)
    const portOffset = this.role === 'worker' ? Number(process.env.PORTCULLIS_WORKER_INDEX ?? 0) || 0 : 0;
    const direct = new RevocationDirect({ settings: this.settings.direct!, bus: this.bus, actor: this.revocationActor, peers, receive, portOffset, logger: this.logger });
    this.direct = direct;
    try {
      const advertised = await direct.start();
      if (advertised !== null) m.setDirectAddress(advertised);
      m.onChange(() => direct.syncPeers());
    } catch (err) {
      await this.close();
      throw new Error(`cluster.revocation.direct.listen ${this.settings.direct!.listen}: ${(err as Error).message}`);
    }
  }

  /** Resolves when revocations are replayed, or (with a young enough snapshot) when the bus stayed unreachable past `cluster.start_timeout_ms` (degraded). */
  ready(): Promise<void> {
    return this.revocationActor.ready();
  }

  /** False while a replay or catch-up runs. */
  caughtUp(): boolean {
    return this.revocationActor.caughtUp();
  }

  degraded(): boolean {
    return this.revocationActor.degraded();
  }

  busConnected(): boolean {
    return this.revocationActor.busConnected();
  }

  disconnectedForMs(): number {
    return this.revocationActor.disconnectedForMs();
  }

  /**
   * May a request be answered now? Not before the first replay (no revocation state at all,
   * unless a young enough snapshot was loaded), not while catching up (a revocation may be
   * missing), not while a revocation refused for lack of room is still live, and not once the
   * member was last caught up longer ago than `cluster.fail_closed_after_ms` (when set).
   * Callers answer 503 `temporarily_unavailable` otherwise.
   */
  gate(): GateResult {
    const a = this.revocationActor;
    if (a.overflowed()) return { ok: false, reason: 'revocations_incomplete' };
    if (!a.caughtUp()) return { ok: false, reason: 'catching_up' };
    const limit = this.settings.failClosedAfterMs;
    if (limit !== null && this.mode !== 'local' && a.behindMs() > limit) return { ok: false, reason: 'bus_lost' };
    return { ok: true };
  }

  /**
   * Is this process's revocation state known current? true, except in a `serve --workers N` worker whose
   * newest message from its primary is older than its lease (it stalled, or the primary did), and on NATS in a
   * process whose loop stalled (bus-catch-up.ts): then a promise, ok once a fresh message has been read and the
   * member caught up with the bus, else the reason after the wait (callers answer 503). Call once gate() is ok.
   */
  current(): true | Promise<CurrentVerdict> {
    const lease = this.primaryLease === null ? true : this.primaryLease.current();
    const bus = this.busCatchUp === null ? true : this.busCatchUp.current();
    if (lease === true && bus === true) return true;
    return Promise.all([lease, bus]).then(([l, b]) => (!l ? PRIMARY_SILENT : !b ? BUS_CATCHING_UP : CURRENT));
  }

  /** `hmac` (NATS, authenticated), `none` (NATS, opted out) or `ipc` (node:cluster / in-process: one process tree). */
  busAuthMode(): 'hmac' | 'none' | 'ipc' {
    return this.mode !== 'nats' ? 'ipc' : this.bus.auth === null ? 'none' : 'hmac';
  }

  /** Body fragment for `/readyz`. */
  readiness(): { ready: boolean; detail: Record<string, unknown> } {
    const a = this.revocationActor;
    const gate = this.gate();
    const snapshotAge = a.snapshotAgeMs();
    const behind = a.behindMs();
    const keys = this.bus.auth?.keyIds();
    // a member whose view has not heard its peers yet would own (and introspect) every token: not ready, though it answers.
    // Only before it was first ready: one serving from its snapshot whose bus then connected went 503 for 1.5 s
    const settled = this.wasReady || this.membership.settled();
    if (gate.ok && settled) this.wasReady = true;
    // an operator counts proxies: a `--workers N` instance is one (its primary), not N (each worker beats as a member)
    const heard = this.membership.all();
    const instance = (r: string): boolean => r === 'single' || r === 'primary';
    const instances = heard.filter((m) => instance(m.role)).length + (instance(this.role) ? 1 : 0);
    const workers = heard.filter((m) => m.role === 'worker').length + (this.role === 'worker' ? 1 : 0);
    return {
      ready: gate.ok && settled,
      detail: {
        cluster: {
          mode: this.mode, member: this.memberId, bus_connected: this.busConnected(), degraded: this.degraded(),
          caught_up: this.caughtUp(), disconnected_ms: this.disconnectedForMs(),
          members: instances, workers, serving_processes: this.membership.members().length,
          revocations_from: a.revocationSource(),
          ...(snapshotAge === null ? {} : { snapshot_age_s: Math.round(snapshotAge / 1000) }),
          behind_ms: Number.isFinite(behind) ? behind : null,
          ...(gate.ok ? (settled ? {} : { waiting_for: 'members' }) : { waiting_for: gate.reason }),
          bus_auth: this.busAuthMode(),
          ...(this.direct === null ? {} : { direct: this.direct.advertised() }),
          ...(this.revocationReceiver === null ? {} : { revocation_receiver: this.revocationReceiver.health() }),
          ...(keys === undefined ? {} : { bus_key_id: keys.current, bus_previous_key_id: keys.previous }),
          // served on, but a member started later cannot replay what ages out of the stream early
          ...(this.streamRetention === null ? {} : { stream_retention_short: { max_age_s: this.streamRetention.maxAgeS, wanted_s: this.streamRetention.wantS } }),
        },
      },
    };
  }

  /** `POST /revocations` and `GET /revocations`; `current`: the running config (its issuers bound a revocation's `issuer`). */
  adminRoutes(current?: () => Config): Record<string, AdminHandler> {
    return revocationAdminRoutes(this.revocationActor, this.revocations, current === undefined ? undefined : () => configuredIssuers(current()));
  }

  /** Flat metrics: revocation counters and propagation histogram, bus and codec counters, members. */
  stats(): Record<string, number> {
    const codec = this.bus.codec.stats();
    const rejected = this.bus.rejections();
    return {
      ...this.transport.stats(),
      bus_rejected_unsigned_total: rejected.unsigned,
      bus_rejected_bad_mac_total: rejected.bad_mac,
      bus_rejected_unknown_key_total: rejected.unknown_key,
      bus_rejected_stale_total: rejected.stale,
      bus_rejected_invalid_total: rejected.invalid,
      bus_messages_decoded_total: codec.decoded,
      bus_messages_dropped_malformed_total: codec.dropped_malformed,
      bus_messages_dropped_unknown_type_total: codec.dropped_unknown_type,
      bus_messages_dropped_unknown_version_total: codec.dropped_unknown_version,
      bus_messages_dropped_too_large_total: codec.dropped_too_large,
      ...this.membership.stats(),
      ...this.revocationActor.stats(),
      revocation_stream_retention_short: this.streamRetention === null ? 0 : 1,
      revocation_stream_replicas: this.streamReplicas,
      ...this.direct?.stats(),
      ...this.toWorkers?.stats(),
      ...this.primaryLease?.stats(),
      ...(this.busCatchUp?.stats() ?? BUS_CATCH_UP_ZEROS),
      ...this.revocationReceiver?.stats(),
      ...this.introspection.stats(),
    };
  }

  /** Leave the membership, stop the actor and close the transport. Idempotent. `progress`: told each part as it begins. */
  async close(progress: (part: string) => void = () => {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // First: lookups waiting on a peer call the server themselves instead of hanging on a closed bus.
    this.introspection.close();
    this.membership.close();
    this.toWorkers?.close();
    this.fromPrimary?.();
    this.primaryLease?.close();
    this.busCatchUp?.close();
    progress('direct revocation push');
    await this.direct?.close();
    progress('revocation receiver thread');
    await this.revocationReceiver?.close();
    progress('revocation actor');
    await this.revocationActor.close();
    progress('bus connection');
    await this.transport.close();
  }
}
