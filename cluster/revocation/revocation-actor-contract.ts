// The revocation actor's contract (revocation-actor.ts): its options and modes, what it reports
// (state source, add outcome), and its internal vocabulary — the phases and the mailbox messages
// every state change arrives as. Types only: the flows live in the actor.
import type { Logger } from '../../node/log.js';
import type { RevocationAdded, RevocationRecord } from '../protocol/messages.js';
import type { MessageBus } from '../protocol/message-bus.js';
import type { NatsTransport } from '../transport/nats-transport.js';
import type { RevocationStreamOptions } from './revocation-stream.js';
import type { SnapshotSettings } from './revocation-settings.js';
import type { RevocationStore } from './revocation-store.js';

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
  /** Persist the store here and start from it when the bus is away (`cluster.revocation.snapshot_file`). */
  readonly snapshot?: SnapshotSettings | null;
  /** Write the snapshot too (default true); false: load it only — a `serve --workers N` worker on NATS, whose primary is the file's one writer (its outbox's ids are in no worker's store). */
  readonly snapshotWriter?: boolean;
  /** A `serve --workers N` worker (default false): not caught up until its primary's sync is complete (worker-channel.ts), nor after an overflow until the next. */
  readonly fromPrimary?: boolean;
}

/** Where the member's revocation state comes from: nothing yet, a snapshot on disk, the stream, the node:cluster primary, or this process alone. */
export type RevocationSource = 'none' | 'snapshot' | 'stream' | 'primary' | 'local';

/** Result of `add`: the stored record and whether the stream durably has it (null: no stream in this mode). */
export type AddOutcome =
  | { readonly ok: true; readonly record: RevocationRecord; readonly persisted: boolean | null; readonly streamSeq: number | null }
  | { readonly ok: false; readonly errors: readonly string[]; readonly full?: boolean };

/** How a revocation reached this member: the live NATS message, the stream (or the primary's sync), the direct push from its origin, the receiver thread's ring, or this instance's primary over IPC (`serve --workers N`). */
export type ArrivalPath = 'live' | 'replay' | 'direct' | 'thread' | 'primary';

/** Where the member stands with respect to the cluster's revocations. */
export type Phase = 'starting' | 'catching_up' | 'live' | 'offline';

/** The actor's mailbox messages (handled synchronously by `receive`). */
export type ActorMessage =
  | { readonly type: 'revocation.received'; readonly msg: RevocationAdded; readonly via: ArrivalPath; readonly subject: string; readonly signedAt: number | null; readonly visibleAt?: number }
  | { readonly type: 'bus.connected' }
  | { readonly type: 'bus.disconnected' }
  | { readonly type: 'replay.complete' }
  | { readonly type: 'stream.unreachable'; readonly sinceMs: number }
  | { readonly type: 'stream.reachable' }
  | { readonly type: 'primary.sync'; readonly complete: boolean }
  | { readonly type: 'start.expired' }
  | { readonly type: 'catchup.expired'; readonly gen: number }
  | { readonly type: 'watchdog.tick' };
