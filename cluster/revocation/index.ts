// Public surface of cluster/revocation: the store read by the hot path, the actor that
// writes it, request validation, time parsing, admin routes and settings, the JetStream
// stream, publishOnce (a source outside a member, the revoke CLI, through the same outbox) and
// the direct member-to-member push beside NATS, the primary's hand-over to its workers, the catch-up after a stall of the process's loop, and the receiver thread with its shared ring.
export { RevocationStore, revocationBytes, LINGER_S, type ApplyResult, type StoreLimits } from './revocation-store.js';
export { DEFAULT_LINGER_S, lingerFor, MAX_LINGER_S, MAX_SKEW_S, MIN_SKEW_S, type SkewSource } from './revocation-linger.js';
export { RevocationActor, type AddOutcome, type ArrivalPath, type RevocationActorOptions, type RevocationMode, type RevocationSource } from './revocation-actor.js';
export { buildRevocation, checkRevocationRecord, configuredIssuers, SKEW_S, type BuildContext, type BuildResult, type RecordCheck, type RevocationRequest } from './revocation-request.js';
export { parseTime, wallNow, type TimeParse } from './revocation-time.js';
export { issuersReached, revocationAdminRoutes, revocationJson } from './revocation-admin.js';
export {
  clusterSettings, DEFAULT_MAX_REVOCATION_BYTES, DEFAULT_MAX_REVOCATIONS, DEFAULT_MAX_TOKEN_LIFETIME_S, STREAM_AGE_MARGIN_S,
  type BusAuthSettings, type ClusterSection, type ClusterSettings, type DirectSettings, type SnapshotSettings,
} from './revocation-settings.js';
export { DelayHistogram, DELAY_BUCKETS_MS } from './delay-histogram.js';
export { StreamFollower } from './stream-follower.js';
export type { FollowerEvents, LossReason } from './follower-events.js';
export { RevocationOutbox, type PublishOutcome } from './revocation-outbox.js';
export { readSnapshot, SnapshotWriter, type Snapshot, type SnapshotRead } from './revocation-snapshot.js';
export { SnapshotKeeper, type SnapshotHost } from './snapshot-keeper.js';
export { RevocationIngest, type IngestOptions, type IngestResult } from './revocation-ingest.js';
export { assertQuorum, isNotFound, RevocationStream, type RetentionShort, type RevocationStreamOptions, type StreamInfoLike, type StreamMessage, type StreamPosition } from './revocation-stream.js';
export { publishOnce, type PublishOnceOptions, type PublishOnceResult } from './revocation-publish.js';
export { DIRECT_REFUSALS, RevocationDirect, type RevocationDirectOptions } from './revocation-direct.js';
export { PrimaryChannel, takeFromPrimary } from './worker-channel.js';
export { PrimaryLease } from './primary-lease.js';
export { BusCatchUp, CATCH_UP_WAIT_MS, STALL_MS, type BusCatchUpSource } from './bus-catch-up.js';
export { RevocationReceiver, type RevocationReceiverOptions } from './revocation-receiver.js';
export { createRing, RING_SLOT_BYTES, RING_SLOTS, RingCell, RingReader, RingWriter, type RingRecord } from './revocation-ring.js';
export { RevocationArrivals } from './revocation-arrivals.js';
