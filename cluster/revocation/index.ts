// Public surface of cluster/revocation: the store read by the hot path, the actor that
// writes it, request validation, time parsing, admin routes and settings.
export { RevocationStore, type ApplyResult, type TokenFacts } from './revocation-store.js';
export { RevocationActor, wallNow, type AddOutcome, type RevocationActorOptions, type RevocationMode } from './revocation-actor.js';
export { buildRevocation, SKEW_S, type BuildContext, type BuildResult, type RevocationRequest } from './revocation-request.js';
export { parseTime, type TimeParse } from './revocation-time.js';
export { revocationAdminRoutes, revocationJson } from './revocation-admin.js';
export { clusterSettings, DEFAULT_MAX_TOKEN_LIFETIME_S, STREAM_AGE_MARGIN_S, type ClusterSection, type ClusterSettings } from './revocation-settings.js';
export { DelayHistogram, DELAY_BUCKETS_MS } from './delay-histogram.js';
export { StreamFollower, type FollowerEvents } from './stream-follower.js';
export { RevocationOutbox, type PublishOutcome } from './revocation-outbox.js';
