// Public surface of cluster/: ClusterNode wires one member — transport (NATS, node:cluster
// IPC or in-process), protocol, membership, revocations and the shared introspection
// cache — and exposes the store the hot path reads, the admin routes, readiness and metrics.
import type { ConnectionOptions } from 'nats';
import type { AdminHandler } from '../node/admin/admin-server.js';
import type { Logger } from '../node/log.js';
import { IntrospectionSync, type IntrospectionSyncOptions } from './cache-sync/index.js';
import { Membership, newMemberId } from './membership/index.js';
import { Codec, MessageBus, subjects } from './protocol/index.js';
import { clusterSettings, RevocationActor, revocationAdminRoutes, RevocationStore, STREAM_AGE_MARGIN_S, type ClusterSettings, type RevocationMode } from './revocation/index.js';
import { IpcHubTransport, IpcWorkerTransport, LocalTransport, natsConnectionOptions, NatsTransport, type Transport } from './transport/index.js';

export * from './protocol/index.js';
export * from './transport/index.js';
export * from './membership/index.js';
export * from './revocation/index.js';
export * from './cache-sync/index.js';

/** single = one process; worker = a node:cluster worker; primary = the node:cluster supervisor (IPC hub). */
export type ClusterRole = 'single' | 'worker' | 'primary';

export interface ClusterStartOptions {
  /** The validated config; only its `cluster` section is read. */
  readonly config: { readonly cluster?: unknown };
  readonly logger: Logger;
  readonly role: ClusterRole;
  /** Fixed member id (default: `cluster.member_id` or hostname-pid-random). */
  readonly memberId?: string;
  /** Extra nats.js options (tests: `ignoreClusterUpdates`). */
  readonly natsOptions?: Partial<ConnectionOptions>;
  /** Heartbeat period, ms (default 1000). */
  readonly heartbeatMs?: number;
  /** Shared introspection cache tuning (lease and owner-request timeouts). */
  readonly introspection?: Pick<IntrospectionSyncOptions, 'leaseMs' | 'requestTimeoutMs' | 'suspectMs' | 'maxLeases' | 'maxResults'>;
}

/** Why requests must wait (see `gate`). */
export type GateResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'catching_up' | 'bus_lost' };

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
  private closed = false;
  private dropsLogged = 0;

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
  ) {
    this.bus = new MessageBus(transport, codec, subjects(settings.prefix));
    codec.onDrop = (reason, type) => {
      this.dropsLogged++;
      if (this.dropsLogged === 1 || this.dropsLogged % 1000 === 0) logger.warn({ reason, type, dropped: this.dropsLogged }, 'bus message dropped');
    };
    this.revocations = new RevocationStore();
    this.revocationActor = new RevocationActor({
      store: this.revocations,
      bus: this.bus,
      mode,
      memberId,
      maxLifetimeS: settings.maxLifetimeS,
      logger,
      nats: transport instanceof NatsTransport
        ? { transport, stream: { maxAgeMs: (settings.maxLifetimeS + STREAM_AGE_MARGIN_S) * 1000, replicas: settings.replicas } }
        : undefined,
      startTimeoutMs: settings.startTimeoutMs,
      catchUpTimeoutMs: settings.catchUpTimeoutMs,
    });
    this.membership = new Membership({ bus: this.bus, id: memberId, role, intervalMs: heartbeatMs });
    this.introspection = new IntrospectionSync({ ...introspection, bus: this.bus, membership: this.membership, memberId, logger });
  }

  /**
   * Wire and start a member. Resolves at once (it does not wait for the bus; use
   * `ready()`); rejects only on a config problem such as an unset password variable.
   */
  static async start(opts: ClusterStartOptions): Promise<ClusterNode> {
    const settings = clusterSettings(opts.config.cluster);
    const memberId = opts.memberId ?? settings.memberId ?? newMemberId();
    const logger = opts.logger.child({ member: memberId });
    let transport: Transport;
    let mode: RevocationMode;
    if (settings.nats !== null) {
      const connection = { ...natsConnectionOptions(settings.nats, `portcullis ${memberId}`), ...opts.natsOptions };
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
    const node = new ClusterNode(memberId, opts.role, mode, settings, transport, new Codec(), logger, opts.heartbeatMs ?? 1_000, opts.introspection);
    node.revocationActor.start();
    // Before the first heartbeat: a peer that hears of us can reach our owner subject at once.
    // A primary serves no requests and owns no keys.
    if (opts.role !== 'primary') node.introspection.start();
    node.membership.start();
    logger.info({ mode, role: opts.role, prefix: settings.prefix }, 'cluster member started');
    return node;
  }

  /** Resolves when revocations are replayed, or when the bus stayed unreachable past `cluster.start_timeout_ms` (degraded). */
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
   * May a request be answered now? Not while catching up (a revocation may be missing),
   * and not once the bus has been lost longer than `cluster.fail_closed_after_ms` (when set).
   * Callers answer 503 `temporarily_unavailable` otherwise.
   */
  gate(): GateResult {
    if (!this.revocationActor.caughtUp()) return { ok: false, reason: 'catching_up' };
    const limit = this.settings.failClosedAfterMs;
    if (limit !== null && this.mode !== 'local' && this.disconnectedForMs() > limit) return { ok: false, reason: 'bus_lost' };
    return { ok: true };
  }

  /** Body fragment for `/readyz`. */
  readiness(): { ready: boolean; detail: Record<string, unknown> } {
    return {
      ready: this.gate().ok,
      detail: {
        cluster: {
          mode: this.mode, member: this.memberId, bus_connected: this.busConnected(), degraded: this.degraded(),
          caught_up: this.caughtUp(), disconnected_ms: this.disconnectedForMs(), members: this.membership.members().length,
        },
      },
    };
  }

  /** `POST /revocations` and `GET /revocations`. */
  adminRoutes(): Record<string, AdminHandler> {
    return revocationAdminRoutes(this.revocationActor, this.revocations);
  }

  /** Flat metrics: revocation counters and propagation histogram, bus and codec counters, members. */
  stats(): Record<string, number> {
    const codec = this.bus.codec.stats();
    return {
      ...this.transport.stats(),
      bus_messages_decoded_total: codec.decoded,
      bus_messages_dropped_malformed_total: codec.dropped_malformed,
      bus_messages_dropped_unknown_type_total: codec.dropped_unknown_type,
      bus_messages_dropped_unknown_version_total: codec.dropped_unknown_version,
      bus_messages_dropped_too_large_total: codec.dropped_too_large,
      ...this.membership.stats(),
      ...this.revocationActor.stats(),
      ...this.introspection.stats(),
    };
  }

  /** Leave the membership, stop the actor and close the transport. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // First: lookups waiting on a peer call the server themselves instead of hanging on a closed bus.
    this.introspection.close();
    this.membership.close();
    await this.revocationActor.close();
    await this.transport.close();
  }
}
