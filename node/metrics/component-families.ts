// The table from the components' flat counters to Prometheus families: counters `*_total`, units
// in the name, one family per meaning with labels. One key → one sample rows here; keys that
// carry a name in named-families.ts; the machinery and the lookups in family-registry.ts.
import { by, counter, gauge, MS } from './family-registry.js';
import './named-families.js';

export { COMPONENT_FAMILIES, mapKey, unmapSample, UNMAPPED_COUNT_FAMILY, UNMAPPED_FAMILY, type FamilySpec, type FamilyType, type KeyMapping } from './family-registry.js';

// ---- JWT verification (node/jwt): summed over issuers by the verifier, so no issuer label ----
counter('portcullis_jwt_cache_lookups_total', 'Verified-token cache lookups by result (hit, miss)', by('result', { 'jwt.cache_hits': 'hit', 'jwt.cache_misses': 'miss' }));
gauge('portcullis_jwt_cache_entries', 'Verified tokens cached', { 'jwt.cache_entries': null });
gauge('portcullis_jwt_cache_bytes', 'Estimated memory of the verified-token cache', { 'jwt.cache_bytes': null });
gauge('portcullis_jwt_cache_max_bytes', 'Bound of the verified-token cache memory (verifier.cache_bytes), summed over workers like portcullis_jwt_cache_bytes', { 'jwt.cache_max_bytes': null });
gauge('portcullis_jwt_cache_max_entries', 'Bound of the verified-token cache entries (verifier.cache_entries), summed over workers', { 'jwt.cache_max_entries': null });
counter('portcullis_jwt_cache_removals_total', 'Verified tokens removed from the cache by reason (evicted: room, expired: past exp)', by('reason', { 'jwt.cache_evictions': 'evicted', 'jwt.cache_expirations': 'expired' }));
counter('portcullis_jwt_verified_total', 'Tokens whose signature and claims verified', { 'jwt.verify_ok': null });
gauge('portcullis_jwt_verify_inflight', 'Distinct tokens being verified now', { 'jwt.verify_inflight': null });
gauge('portcullis_jwt_issuers', 'JWT issuers configured', { 'jwt.issuers': null }, { aggregate: 'max' });
gauge('portcullis_jwt_issuers_ready', 'JWT issuers with keys loaded (the lowest over workers)', { 'jwt.issuers_ready': null }, { aggregate: 'min' });
gauge('portcullis_issuers_waiting', 'Issuers not ready yet (keys or introspection endpoint); the highest over workers', { 'auth.issuers_waiting': null }, { aggregate: 'max' });
gauge('portcullis_verifier_pool_threads', 'Verifier worker threads', { 'jwt.pool_size': null });
gauge('portcullis_verifier_pool_queue', 'Tokens and batches waiting for a verifier thread', { 'jwt.pool_queue': null });
gauge('portcullis_verifier_pool_inflight', 'Tokens in a verifier thread now', { 'jwt.pool_in_flight': null });
counter('portcullis_verifier_pool_tokens_total', 'Tokens verified in the pool', { 'jwt.pool_tasks': null });
counter('portcullis_verifier_pool_batches_total', 'Batches sent to the pool', { 'jwt.pool_batches': null });
counter('portcullis_verifier_pool_task_seconds_total', 'Wall time tokens spent in the pool, summed', { 'jwt.pool_task_ms_sum': null }, { scale: MS });
counter('portcullis_verifier_pool_failovers_total', 'Tokens retried on another thread after a thread died', { 'jwt.pool_failovers': null });
counter('portcullis_verifier_pool_failures_total', 'Tokens the pool could not verify (answered 503)', { 'jwt.pool_failures': null });
counter('portcullis_verifier_pool_overloaded_total', 'Tokens refused because the pool queue was full', { 'jwt.pool_overloaded': null });
counter('portcullis_verifier_pool_preempted_total', 'Tokens answered 503 because a client holding fewer waiting tokens took their place in the full pool queue (also counted in portcullis_verifier_pool_overloaded_total)', { 'jwt.pool_preempted': null });
counter('portcullis_verifier_pool_timeouts_total', 'Tokens answered 503 because their verification did not finish within verifier.task_timeout_ms', { 'jwt.pool_timeouts': null });
counter('portcullis_verifier_pool_stuck_threads_total', 'Verifier threads terminated and replaced because a batch ran past verifier.task_timeout_ms', { 'jwt.pool_stuck_threads': null });
counter('portcullis_jwt_verifications_total', 'Signature checks by where they ran (inline: on the event loop, pool: sent to a verifier thread); verifier.mode decides', by('where', { 'jwt.verify_inline': 'inline', 'jwt.verify_pool': 'pool' }));
counter('portcullis_jwt_inline_budget_spills_total', 'Tokens sent to the pool because the turn\'s inline budget (verifier.inline_budget_us) was spent', { 'jwt.verify_inline_spills': null });
gauge('portcullis_jwt_verify_prefers_inline', '1 while verifier.mode auto (or inline) verifies on the event loop, 0 while it prefers the pool; averaged over workers', { 'jwt.verify_prefers_inline': null }, { aggregate: 'average' });
gauge('portcullis_verifier_pool_utilization_ratio', 'Verifier pool utilization 0..1 (average over workers)', { 'jwt.pool_utilization': null }, { aggregate: 'average' });

// ---- decision endpoints (node/decision): forward-auth calls from edge proxies ----
counter('portcullis_decision_requests_total', 'Decision endpoint answers by dialect (nginx, traefik, envoy; envoy_grpc: the ext_authz gRPC Check; none: unreadable) and result (allowed, denied: 401/403, unavailable: 503, refused: untrusted edge or bad original request)',
  Object.fromEntries((['nginx', 'traefik', 'envoy', 'envoy_grpc', 'none'] as const).flatMap((dialect) => (['allowed', 'denied', 'unavailable', 'refused'] as const)
    .map((result) => [`decision.${dialect}_${result}`, { dialect, result }]))));

// ---- introspection (node/introspection), summed over issuers ----
counter('portcullis_introspection_calls_total', 'RFC 7662 calls to the authorization server by outcome (active, inactive, failed)',
  by('outcome', { 'introspection.calls_ok': 'active', 'introspection.calls_inactive': 'inactive', 'introspection.calls_failed': 'failed' }));
counter('portcullis_introspection_queue_full_total', 'Introspections refused because too many were waiting', { 'introspection.calls_queue_full': null });
counter('portcullis_introspection_client_limited_total', 'Introspections refused because their client already held its share of the places (introspection.per_client_max)', { 'introspection.calls_client_limited': null });
counter('portcullis_introspection_preempted_total', 'Waiting introspections answered 503 to make room in a full queue for a client holding fewer (the newest of the client holding the most)', { 'introspection.calls_preempted': null });
counter('portcullis_introspection_held_total', 'Introspections answered 503 without calling the authorization server: it answered 429 (or 503 with Retry-After) and that wait (1 s to 60 s) has not passed', { 'introspection.calls_held': null });
counter('portcullis_introspection_late_answers_total', 'Introspection answers that arrived after the request gave up', { 'introspection.calls_late': null });
counter('portcullis_introspection_deadline_total', 'Lookups answered 503 at their route\'s deadline while the introspection call went on (its answer is cached as usual)', { 'introspection.lookups_deadline': null });
counter('portcullis_introspection_singleflight_waits_total', 'Lookups that waited for an introspection already running for the same token', { 'introspection.singleflight_waits': null });
counter('portcullis_introspection_cache_lookups_total', 'Introspection cache lookups by result (hit, miss)', by('result', { 'introspection.cache_hits': 'hit', 'introspection.cache_misses': 'miss' }));
gauge('portcullis_introspection_cache_entries', 'Introspection results cached', { 'introspection.cache_entries': null });
counter('portcullis_introspection_cache_evictions_total', 'Introspection results evicted for room', { 'introspection.cache_evictions': null });
counter('portcullis_introspection_call_seconds_total', 'Time spent in introspection calls, summed (divide by portcullis_introspection_calls_timed_total for the mean)', { 'introspection.latency_ms_sum': null }, { scale: MS });
counter('portcullis_introspection_calls_timed_total', 'Introspection calls timed in portcullis_introspection_call_seconds_total', { 'introspection.latency_count': null });

// ---- DPoP (node/dpop) ----
counter('portcullis_dpop_proofs_checked_total', 'DPoP proofs checked', { 'dpop.proofs_checked': null });
counter('portcullis_dpop_proofs_total', 'DPoP proofs by outcome (accepted, refused)', by('outcome', { 'dpop.proofs_accepted': 'accepted', 'dpop.proofs_refused': 'refused' }));
counter('portcullis_dpop_nonce_challenges_total', 'Requests answered with a DPoP nonce challenge', { 'dpop.nonce_challenges': null });
counter('portcullis_dpop_bound_as_bearer_total', 'DPoP-bound tokens presented as Bearer (refused)', { 'dpop.bound_as_bearer': null });
counter('portcullis_dpop_nonce_refreshes_total', 'DPoP nonce rotations', { 'dpop.nonces_refreshed': null });
gauge('portcullis_dpop_replay_cache_entries', 'DPoP proof ids remembered against replay', { 'dpop.replay_entries': null });
counter('portcullis_dpop_replays_refused_total', 'DPoP proofs refused as replays', { 'dpop.replays_refused': null });
counter('portcullis_dpop_replay_too_old_total', 'DPoP proofs refused as older than the replay window', { 'dpop.replay_too_old': null });
counter('portcullis_dpop_replay_evicted_live_total', 'DPoP proof ids evicted for room while still inside their window', { 'dpop.replay_evicted_live': null });
counter('portcullis_dpop_replay_owner_asks_total', 'DPoP replay checks asked of the owning member', { 'dpop.replay_owner_asked': null });
counter('portcullis_dpop_replay_owner_refusals_total', 'DPoP replay checks the owning member refused', { 'dpop.replay_owner_refused': null });
counter('portcullis_dpop_replay_owner_waits_total', 'DPoP replay checks held until the member view converged after the bus connected', { 'dpop.replay_owner_waited': null });
counter('portcullis_dpop_replay_fallback_local_total', 'DPoP replay checks decided locally because the owner did not answer', { 'dpop.replay_fallback_local': null });
gauge('portcullis_dpop_key_cache_entries', 'Imported DPoP public keys cached', { 'dpop.key_cache_entries': null });
counter('portcullis_dpop_key_imports_total', 'DPoP public keys imported', { 'dpop.key_imports': null });
counter('portcullis_dpop_replay_sync_claims_served_total', 'DPoP replay claims this member answered as owner', { 'dpop.replay_sync_claims_served': null });
counter('portcullis_dpop_replay_sync_claims_refused_total', 'DPoP replay claims this member answered "seen" (a subset of served)', { 'dpop.replay_sync_claims_refused': null });
counter('portcullis_dpop_replay_sync_seen_total', 'DPoP "seen" notices by direction (sent, received)', by('direction', { 'dpop.replay_sync_seen_sent': 'sent', 'dpop.replay_sync_seen_received': 'received' }));
counter('portcullis_dpop_replay_sync_suspects_total', 'Members suspected for not answering DPoP replay claims', { 'dpop.replay_sync_suspects': null });
counter('portcullis_dpop_replay_sync_invalid_total', 'Invalid DPoP replay-sync messages received', { 'dpop.replay_sync_invalid_received': null });
gauge('portcullis_dpop_replays_unreadable', '1 while a DPoP proof minted now would be answered 503: a replay record this build could not read may have recorded it (the highest over workers)', { 'dpop.replay_unreadable_gate': null }, { aggregate: 'max' });
counter('portcullis_dpop_replay_unreadable_refused_total', 'DPoP proofs answered 503: dated within the window of a replay record this build could not read', { 'dpop.replay_unreadable_refused': null });
counter('portcullis_bus_unreadable_failed_closed_total', 'Authentic bus messages this build could not read (a newer build\'s) that made it fail closed, by reason (dpop_replay: proofs dated up to it refused; cache_drop: the local introspection cache dropped)',
  by('reason', { 'dpop.replay_sync_unreadable_received': 'dpop_replay', 'cluster.cluster_cache_unreadable_total': 'cache_drop' }));

// ---- service to service (node/s2s) ----
counter('portcullis_internal_tokens_minted_total', 'Internal tokens minted for upstreams', { 'internal_tokens.minted': null });
counter('portcullis_internal_tokens_mint_failures_total', 'Internal tokens that could not be minted', { 'internal_tokens.mint_failures': null });
counter('portcullis_internal_tokens_chain_too_deep_total', 'Requests refused 403 because the inbound token was already derived the most times a token may carry (a chain longer than 4 internal-token hops)', { 'internal_tokens.chain_too_deep': null });
counter('portcullis_internal_tokens_cache_lookups_total', 'Internal-token cache lookups by result (hit, miss)', by('result', { 'internal_tokens.cache_hits': 'hit', 'internal_tokens.cache_misses': 'miss' }));
counter('portcullis_internal_tokens_singleflight_waits_total', 'Lookups that waited for an internal token being minted', { 'internal_tokens.singleflight_waits': null });
gauge('portcullis_internal_tokens_cache_entries', 'Internal tokens cached', { 'internal_tokens.cache_tokens': null });
counter('portcullis_internal_tokens_cache_evictions_total', 'Internal tokens removed from the cache by reason (room, revoked)', by('reason', { 'internal_tokens.cache_evictions': 'room', 'internal_tokens.revocation_evictions': 'revoked' }));
counter('portcullis_internal_tokens_upstream_refusals_total', 'Upstream 401 invalid_token answers to an internal token (counted, the token is kept)', { 'internal_tokens.upstream_refusals': null });
counter('portcullis_internal_tokens_signed_total', 'Internal tokens signed', { 'internal_tokens.signed': null });
counter('portcullis_internal_tokens_sign_failures_total', 'Internal token signatures that failed', { 'internal_tokens.sign_failures': null });
counter('portcullis_internal_tokens_sign_batches_total', 'Batches sent to the signing thread', { 'internal_tokens.sign_batches': null });
counter('portcullis_internal_tokens_sign_failovers_total', 'Signatures retried after the signing thread died', { 'internal_tokens.sign_failovers': null });
counter('portcullis_internal_tokens_sign_worker_restarts_total', 'Signing thread restarts', { 'internal_tokens.sign_worker_restarts': null });
gauge('portcullis_internal_tokens_sign_queue', 'Signatures waiting for the signing thread', { 'internal_tokens.sign_queue': null });
counter('portcullis_internal_tokens_sign_seconds_total', 'Time spent signing internal tokens, summed, by signing (thread: wall time, inline: CPU time)',
  by('signing', { 'internal_tokens.sign_wall_ms_sum': 'thread', 'internal_tokens.sign_ms_sum': 'inline' }), { scale: MS });
gauge('portcullis_internal_tokens_keys_published', 'Signing keys published in the proxy JWKS', { 'internal_tokens.keys_published': null }, { aggregate: 'max' });
counter('portcullis_internal_tokens_key_rotations_total', 'Signing key rotations', { 'internal_tokens.key_rotations': null });
for (const [c, what] of [['token_exchange', 'RFC 8693 token exchange'], ['client_credentials', 'client-credentials grant']] as const) {
  counter(`portcullis_${c}_calls_total`, `${what} calls to the token endpoint by outcome`,
    c === 'token_exchange' ? by('outcome', { [`${c}.calls_ok`]: 'ok', [`${c}.calls_failed`]: 'failed', [`${c}.calls_refused`]: 'refused' }) : by('outcome', { [`${c}.calls_ok`]: 'ok', [`${c}.calls_failed`]: 'failed' }));
  counter(`portcullis_${c}_cache_lookups_total`, `${what} token cache lookups by result (hit, miss)`, by('result', { [`${c}.cache_hits`]: 'hit', [`${c}.cache_misses`]: 'miss' }));
  counter(`portcullis_${c}_singleflight_waits_total`, `Lookups that waited for a ${what} already running`, { [`${c}.singleflight_waits`]: null });
  counter(`portcullis_${c}_upstream_refusals_total`, `Upstream 401 invalid_token answers to a ${what} token by outcome (evicted, replaced: a newer one was there, throttled: kept within the 5 s cool-down)`,
    by('outcome', { [`${c}.upstream_refusals_evicted`]: 'evicted', [`${c}.upstream_refusals_replaced`]: 'replaced', [`${c}.upstream_refusals_throttled`]: 'throttled' }));
  counter(`portcullis_${c}_upstream_refusal_retries_total`, `Requests sent once more with a fresh ${what} token after the upstream's 401 invalid_token`, { [`${c}.upstream_refusals_retried`]: null });
}
gauge('portcullis_token_exchange_cache_entries', 'Exchanged tokens cached', { 'token_exchange.cache_tokens': null });
counter('portcullis_token_exchange_cache_evictions_total', 'Exchanged tokens removed from the cache by reason (room, revoked)', by('reason', { 'token_exchange.cache_evictions': 'room', 'token_exchange.revocation_evictions': 'revoked' }));
gauge('portcullis_client_credentials_sources', 'Upstreams with a client-credentials grant', { 'client_credentials.sources': null }, { aggregate: 'max' });
counter('portcullis_client_credentials_refreshes_ahead_total', 'Client-credentials tokens refreshed before expiry', { 'client_credentials.refreshes_ahead': null });
counter('portcullis_client_credentials_failure_holds_total', 'Lookups answered 503 without a call: a failed token-endpoint call left no usable token less than 1 s before', { 'client_credentials.failure_holds': null });
counter('portcullis_token_exchange_failure_holds_total', 'Exchanges answered 503 without a call: an exchange call had failed (503) less than 1 s before', { 'token_exchange.failure_holds': null });
counter('portcullis_token_endpoint_discovery_lookups_total', 'Token endpoint discovery lookups', { 'token_endpoint.discovery_lookups': null });
counter('portcullis_token_endpoint_discovery_failures_total', 'Token endpoint discovery lookups that failed', { 'token_endpoint.discovery_failures': null });

// ---- cluster bus (cluster/transport, cluster/protocol) ----
counter('portcullis_bus_messages_published_total', 'Messages this process published on the bus', { 'cluster.bus_published': null });
counter('portcullis_bus_messages_delivered_total', 'Messages delivered to this process\'s handlers', { 'cluster.bus_delivered': null });
counter('portcullis_bus_messages_received_total', 'Messages received from the bus (NATS or IPC)', { 'cluster.bus_received': null });
counter('portcullis_bus_messages_relayed_total', 'Messages the IPC hub relayed between workers', { 'cluster.bus_relayed': null });
counter('portcullis_bus_send_failures_total', 'IPC sends to a worker that failed', { 'cluster.bus_send_failed': null });
counter('portcullis_bus_handler_errors_total', 'Bus message handlers that threw', { 'cluster.bus_handler_errors': null });
counter('portcullis_bus_reconnects_total', 'NATS reconnections', { 'cluster.bus_reconnects': null });
counter('portcullis_bus_connect_failures_total', 'NATS connection attempts that failed', { 'cluster.bus_connect_failures': null });
gauge('portcullis_bus_ipc_workers', 'Workers connected to the IPC hub', { 'cluster.bus_ipc_workers': null });
counter('portcullis_bus_messages_rejected_total', 'Bus messages refused by the envelope check, by reason', by('reason', {
  'cluster.bus_rejected_unsigned_total': 'unsigned', 'cluster.bus_rejected_bad_mac_total': 'bad_mac', 'cluster.bus_rejected_unknown_key_total': 'unknown_key',
  'cluster.bus_rejected_stale_total': 'stale', 'cluster.bus_rejected_invalid_total': 'invalid',
}));
counter('portcullis_bus_replies_ignored_total', 'Replies on this process\'s bus request inboxes ignored while it waited for the authentic answer, by reason', by('reason', {
  'cluster.bus_replies_ignored_refused': 'refused', 'cluster.bus_replies_ignored_status': 'status', 'cluster.bus_replies_ignored_late': 'late',
}));
counter('portcullis_bus_messages_decoded_total', 'Bus messages decoded', { 'cluster.bus_messages_decoded_total': null });
counter('portcullis_bus_messages_dropped_total', 'Bus messages dropped, by reason', by('reason', {
  'cluster.bus_dropped_disconnected': 'disconnected', 'cluster.bus_messages_dropped_malformed_total': 'malformed', 'cluster.bus_messages_dropped_unknown_type_total': 'unknown_type',
  'cluster.bus_messages_dropped_unknown_version_total': 'unknown_version', 'cluster.bus_messages_dropped_too_large_total': 'too_large',
}));
gauge('portcullis_bus_server_auth_missing', '1 when the NATS server does not require authentication although cluster.nats credentials are configured (the highest over workers)', { 'cluster.bus_server_auth_missing': null }, { aggregate: 'max' });
gauge('portcullis_bus_connected', '1 when connected to the bus (the lowest over workers)', { 'cluster.bus_connected': null }, { aggregate: 'min' });
gauge('portcullis_bus_disconnected_seconds', 'How long the bus has been disconnected, 0 when connected (the longest over workers)', { 'cluster.bus_disconnected_ms': null }, { aggregate: 'max', scale: MS });
gauge('portcullis_cluster_members', 'Serving members this process hears (the highest over workers)', { 'cluster.members_live': null }, { aggregate: 'max' });
counter('portcullis_cluster_members_joined_total', 'Members that joined', { 'cluster.members_joined_total': null });
counter('portcullis_cluster_members_refused_total', 'Heartbeats of a new member id refused because the member view already held its bound (1024 members)', { 'cluster.members_refused_total': null });
counter('portcullis_cluster_members_expired_total', 'Members dropped for missing heartbeats', { 'cluster.members_expired_total': null });
counter('portcullis_cluster_members_expiry_rounds_skipped_total', 'Membership expiry rounds skipped (this process was paused too long to judge others)', { 'cluster.members_expiry_rounds_skipped_total': null });
counter('portcullis_cluster_heartbeats_replayed_total', 'Authentic heartbeats ignored as not newer than one already heard from that member (a replay)', { 'cluster.heartbeats_replayed_total': null });
counter('portcullis_cluster_member_id_conflicts_total', 'Heartbeats carrying this member\'s own id from another process: two processes joined under one cluster.member_id', { 'cluster.member_id_conflicts_total': null });

// ---- revocations (cluster/revocation) ----
counter('portcullis_revocations_published_total', 'Revocations this process published', { 'cluster.revocations_published_total': null });
counter('portcullis_revocations_replayed_total', 'Revocations replayed from the stream', { 'cluster.revocations_replayed_total': null });
counter('portcullis_revocations_expired_on_arrival_total', 'Revocation messages that arrived already expired: every copy counts (the live message and the stream\'s replay of one revocation, usually 2)', { 'cluster.revocations_expired_on_arrival_total': null });
counter('portcullis_revocations_catch_ups_total', 'Catch-ups from the stream after a gap', { 'cluster.revocations_catch_ups_total': null });
const KINDS = ['jti', 'token', 'sub', 'client_id', 'kid', 'sid', 'sub_without_sid'] as const;
counter('portcullis_revocations_received_total', 'Revocation messages read from NATS, by kind: every copy — the live message and the stream\'s replay of one revocation each count (usually 2 per revocation, on its origin too); portcullis_revocations_applied_total counts it once', Object.fromEntries(KINDS.map((k) => [`cluster.revocations_received_${k}`, { kind: k }])));
counter('portcullis_revocations_applied_total', 'Revocations applied to the store, by kind', Object.fromEntries(KINDS.map((k) => [`cluster.revocations_applied_${k}`, { kind: k }])));
gauge('portcullis_revocations_entries', 'Revocations in the store (every process holds the whole set: the highest over workers)', { 'cluster.revocations_entries': null }, { aggregate: 'max' });
gauge('portcullis_revocations_entries_by_kind', 'Revocations in the store by kind (the highest over workers)', Object.fromEntries(KINDS.map((k) => [`cluster.revocations_entries_${k}`, { kind: k }])), { aggregate: 'max' });
gauge('portcullis_revocations_memory_bytes', 'Estimated memory of the revocation store, summed over processes', { 'cluster.revocations_bytes_estimate': null });
counter('portcullis_revocations_swept_total', 'Revocations removed after their expiry', { 'cluster.revocations_swept_total': null });
gauge('portcullis_revocations_linger_seconds', 'Seconds a revocation stays past its expiry: twice the largest issuer clock_skew_s, at least 120 (the highest over workers)', { 'cluster.revocations_linger_seconds': null }, { aggregate: 'max' });
counter('portcullis_revocations_refused_total', 'Revocation messages refused, by reason (full: store bounds, invalid, unreadable: authentic but not readable by this build): every copy counts (the live message and the stream\'s replay of one revocation, usually 2)', by('reason', { 'cluster.revocations_refused_full_total': 'full', 'cluster.revocations_refused_invalid_total': 'invalid', 'cluster.revocations_unreadable_total': 'unreadable' }));
counter('portcullis_revocations_capped_total', 'Revocations whose lifetime was capped to the maximum token lifetime (once per revocation, however many copies arrive)', { 'cluster.revocations_capped_total': null });
gauge('portcullis_revocations_overflowed', '1 while a revocation refused for lack of room has not expired: the gate answers 503', { 'cluster.revocations_overflowed': null }, { aggregate: 'max' });
gauge('portcullis_revocations_unreadable', '1 while a revocation this build could not read may still be live: the gate answers 503', { 'cluster.revocations_unreadable': null }, { aggregate: 'max' });
gauge('portcullis_revocations_caught_up', '1 once the revocation stream is replayed (the lowest over workers)', { 'cluster.revocations_caught_up': null }, { aggregate: 'min' });
gauge('portcullis_revocations_degraded', '1 while revocations may be missing (bus down, behind)', { 'cluster.revocations_degraded': null }, { aggregate: 'max' });
gauge('portcullis_revocations_replay_lag_messages', 'Stream messages still to replay while catching up', { 'cluster.revocation_replay_lag': null }, { aggregate: 'max' });
gauge('portcullis_revocations_stream_sequence', 'Last revocation stream sequence applied', { 'cluster.revocation_stream_seq': null }, { aggregate: 'max' });
counter('portcullis_revocations_consumer_restarts_total', 'Revocation stream consumer restarts', { 'cluster.revocation_consumer_restarts_total': null });
gauge('portcullis_revocations_stream_watched', 'Revocations whose presence in the stream this process watches to refill a lost one (at most the store holds; the highest over workers)', { 'cluster.revocation_stream_watched': null }, { aggregate: 'max' });
gauge('portcullis_revocation_stream_retention_short', '1 while the revocation stream keeps revocations for less than this member needs and it could not raise the max age (the highest over workers)', { 'cluster.revocation_stream_retention_short': null }, { aggregate: 'max' });
gauge('portcullis_revocation_stream_replicas', 'Replicas of the revocation stream at this member\'s last check (a stream created with 1 on a cluster too small for 3 is raised once the cluster can place 3); 0 before the first check or without NATS (the lowest over workers)', { 'cluster.revocation_stream_replicas': null }, { aggregate: 'min' });
counter('portcullis_revocations_stream_created_changed_total', 'Times the revocation stream reported a new creation time but still held the messages read (nats-server 2.9: the same stream, not replayed again)', { 'cluster.revocation_stream_created_changed_total': null });
counter('portcullis_revocations_stream_checks_total', 'Periodic checks of the revocation stream whose answer this process judged (every 3 s while live, 500 ms while catching up or unreachable; failed answers too)', { 'cluster.revocation_stream_checks_total': null });
counter('portcullis_revocations_restored_total', 'Revocations stored in the stream again after it lost them before their time (emptied or made anew)', { 'cluster.revocations_restored_total': null });
counter('portcullis_revocations_persisted_total', 'Revocations the stream acknowledged', { 'cluster.revocations_persisted_total': null });
counter('portcullis_revocations_publish_failures_total', 'Revocation publishes the stream did not acknowledge (retried from the outbox)', { 'cluster.revocations_publish_failed_total': null });
gauge('portcullis_revocations_unpersisted', 'Revocations in the outbox not yet acknowledged by the stream', { 'cluster.revocations_unpersisted': null });
gauge('portcullis_revocations_behind_seconds', 'How far this process may be behind the revocation stream; -1 unknown (the most behind over workers)', { 'cluster.revocations_behind_ms': null }, { aggregate: 'max', scale: MS });
gauge('portcullis_revocations_snapshot_loaded', '1 when the revocation set was loaded from a snapshot file at start', { 'cluster.revocation_snapshot_loaded': null }, { aggregate: 'max' });
counter('portcullis_revocations_snapshot_writes_total', 'Revocation snapshot files written', { 'cluster.revocation_snapshot_writes_total': null });
counter('portcullis_revocations_snapshot_write_failures_total', 'Revocation snapshot writes that failed', { 'cluster.revocation_snapshot_write_failures_total': null });
counter('portcullis_revocations_worker_overflows_total', 'Times a worker under serve --workers N fell 256 revocation messages behind its primary (stopped or stuck): the rest were dropped and the worker answered 503 until it had them all again', { 'cluster.revocations_worker_overflows_total': null });
counter('portcullis_revocations_primary_lease_waits_total', 'Requests a worker under serve --workers N held because the newest message it had read from its primary was over 500 ms old (it, or the primary, had stalled), until it read a fresh one', { 'cluster.revocations_primary_lease_waits_total': null });
counter('portcullis_revocations_primary_lease_expired_total', 'Of the held requests, those refused with 503 because no fresh message from the primary came within 1 s', { 'cluster.revocations_primary_lease_expired_total': null });
counter('portcullis_revocations_bus_stalls_total', 'Times a process on NATS found its own event loop had not turned for over 500 ms (stopped or stuck) while connected, and caught up with the bus before judging tokens again', { 'cluster.revocations_bus_stalls_total': null });
counter('portcullis_revocations_bus_catch_up_waits_total', 'Requests a process on NATS held after such a stall until it had caught up with the bus (a NATS round trip, the revocation stream read to its last sequence)', { 'cluster.revocations_bus_catch_up_waits_total': null });
counter('portcullis_revocations_bus_catch_up_expired_total', 'Of those held requests, the ones refused with 503 (revocations_bus_catching_up) because the catch-up did not finish within 1 s', { 'cluster.revocations_bus_catch_up_expired_total': null });
counter('portcullis_revocations_arrivals_total', 'Revocations that arrived from another member, by path (live: the NATS message, direct: the direct push, thread: the receiver thread, primary: this instance\'s primary over IPC; duplicates included)', by('path', {
  'cluster.revocations_arrived_live_total': 'live', 'cluster.revocations_arrived_direct_total': 'direct', 'cluster.revocations_arrived_thread_total': 'thread',
  'cluster.revocations_arrived_primary_total': 'primary',
}));
counter('portcullis_revocations_first_arrivals_total', 'Revocations applied here on their first arrival, by the path that brought them first (live, direct, thread, primary; stream: the stream\'s consumer beat them while live)', by('path', {
  'cluster.revocations_first_live_total': 'live', 'cluster.revocations_first_direct_total': 'direct', 'cluster.revocations_first_thread_total': 'thread',
  'cluster.revocations_first_primary_total': 'primary', 'cluster.revocations_first_stream_total': 'stream',
}));
gauge('portcullis_revocation_receiver_threads', 'Revocation receiver threads running, and of them connected to NATS now (summed over processes)', by('state', {
  'cluster.revocation_receiver_threads_up': 'running', 'cluster.revocation_receiver_connected': 'connected',
}));
counter('portcullis_revocation_receiver_cpu_seconds_total', 'CPU time (user + system) of the revocation receiver threads, summed over processes (Linux; 0 elsewhere)', { 'cluster.revocation_receiver_cpu_seconds_total': null });
counter('portcullis_revocation_receiver_restarts_total', 'Revocation receiver threads that ended and were restarted (capped backoff; the main thread\'s NATS path keeps revoking)', { 'cluster.revocation_receiver_restarts_total': null });
counter('portcullis_revocation_receiver_records_total', 'Records through the receiver thread\'s shared ring, by outcome (drained: applied or found duplicate here; dropped_full, dropped_oversized: not written, NATS on the main thread still delivers; undecodable)', by('outcome', {
  'cluster.revocation_receiver_drained_total': 'drained', 'cluster.revocation_receiver_dropped_full_total': 'dropped_full', 'cluster.revocation_receiver_dropped_oversized_total': 'dropped_oversized',
  'cluster.revocation_receiver_undecodable_total': 'undecodable',
}));
counter('portcullis_revocation_receiver_refused_total', 'Messages the receiver thread refused before the ring, by reason (bus envelope, or invalid: codec, kind or admin rules)', by('reason', Object.fromEntries(
  ['unsigned', 'bad_mac', 'unknown_key', 'stale', 'invalid'].map((r) => [`cluster.revocation_receiver_refused_${r}_total`, r]))));
counter('portcullis_revocation_direct_frames_total', 'Direct revocation push frames by outcome (sent: written to a peer; dropped: a peer down or slow past the bounds; accepted: received and passed the checks)', by('outcome', {
  'cluster.revocation_direct_frames_sent_total': 'sent', 'cluster.revocation_direct_frames_dropped_total': 'dropped', 'cluster.revocation_direct_frames_accepted_total': 'accepted',
}));
counter('portcullis_revocation_direct_refused_total', 'Direct revocation push frames or connections refused (connection closed), by reason', by('reason', Object.fromEntries(
  ['oversized', 'malformed', 'subject', 'unsigned', 'bad_mac', 'unknown_key', 'stale', 'too_many_connections', 'handshake_timeout'].map((r) => [`cluster.revocation_direct_refused_${r}_total`, r]))));
counter('portcullis_revocation_direct_connect_failures_total', 'Direct revocation push connection attempts to a peer that failed (retried with backoff)', { 'cluster.revocation_direct_connect_failures_total': null });
gauge('portcullis_revocation_direct_peers', 'Peers with a direct revocation push address, and of them connected now', by('state', { 'cluster.revocation_direct_peers': 'known', 'cluster.revocation_direct_peers_connected': 'connected' }));
gauge('portcullis_revocation_direct_connections', 'Inbound direct revocation push connections held now', { 'cluster.revocation_direct_connections': null });
counter('portcullis_config_reloads_total', 'Config file reloads (SIGHUP, --watch, POST /reload) by result: applied, or refused (the running config kept)', by('result', { 'config.reloads_applied': 'applied', 'config.reloads_refused': 'refused' }));
gauge('portcullis_config_reload_waiting_seconds', 'How long serve --watch has been holding a changed config (or watched TLS) file back because a process still has it open for writing (0: not waiting); POST /reload applies the file as it is', { 'config.reload_waiting_seconds': null }, { aggregate: 'max' });
gauge('portcullis_config_last_reload_successful', '0 while the last config file reload was refused (the running config kept); 1 when it was applied, or none was tried', { 'config.last_reload_successful': null }, { aggregate: 'min' });
gauge('portcullis_policy_version', 'Cluster policy version this member applies (0: none yet)', { 'policy.version': null }, { aggregate: 'min' });
gauge('portcullis_policy_latest_seen_version', 'Newest cluster policy version seen in the bucket', { 'policy.latest_seen': null }, { aggregate: 'max' });
counter('portcullis_policy_applies_total', 'Cluster policy versions applied', { 'policy.applies': null });
gauge('portcullis_policy_propagation_seconds', 'Push to applied for the last cluster policy version applied here', { 'policy.propagation_ms': null }, { aggregate: 'max', scale: MS });
gauge('portcullis_policy_degraded', '1 while the policy was loaded from the state file and the bucket has not answered', { 'policy.degraded': null }, { aggregate: 'max' });
counter('portcullis_policy_refusals_total', 'Cluster policy versions not applied here, by reason', by('reason', { 'policy.refusals.invalid': 'invalid', 'policy.refusals.environment': 'environment', 'policy.refusals.apply': 'apply' }));
counter('portcullis_policy_entries_ignored_total', 'Entries in the policy bucket ignored (not authentic, corrupt or not newer), by reason', by('reason', { 'policy.ignored.unsigned': 'unsigned', 'policy.ignored.bad_mac': 'bad_mac', 'policy.ignored.unknown_key': 'unknown_key', 'policy.ignored.stale': 'stale', 'policy.ignored.corrupt': 'corrupt', 'policy.ignored.digest_mismatch': 'digest_mismatch', 'policy.ignored.not_newer': 'not_newer' }));
counter('portcullis_policy_push_conflicts_total', 'Policy pushes from this member (POST /policy) refused because another push won, by what refused them: the expected-sequence check, or the de-duplication alone (a race nats-server before 2.9.21 lets through the check)', by('by', { 'policy.push_conflicts.sequence': 'sequence', 'policy.push_conflicts.duplicate': 'duplicate' }));
gauge('portcullis_revocation_visible_recent_seconds', 'Publish → visible (the receiver thread\'s ring write, else the apply) by stat: p50 and p99 over the recent-sample ring, max since start; the highest over workers',
  by('stat', { 'cluster.revocation_visible_ms_p50': 'p50', 'cluster.revocation_visible_ms_p99': 'p99', 'cluster.revocation_visible_ms_max': 'max' }), { aggregate: 'max', scale: MS });
gauge('portcullis_revocation_propagation_recent_seconds', 'Propagation delay by stat: p50 and p99 over the recent-sample ring, max since start; not mergeable over workers, the highest is kept',
  by('stat', { 'cluster.revocation_propagation_ms_p50': 'p50', 'cluster.revocation_propagation_ms_p99': 'p99', 'cluster.revocation_propagation_ms_max': 'max' }), { aggregate: 'max', scale: MS });

// ---- cluster-wide introspection cache (cluster/cache-sync) ----
counter('portcullis_introspection_sync_fills_total', 'Introspection results shared over the bus, by direction (sent; received: applied from a peer)', by('direction', {
  'cluster.cluster_cache_fills_sent_total': 'sent', 'cluster.cluster_cache_fills_received_total': 'received',
}));
counter('portcullis_introspection_sync_fills_dropped_total', 'Shared introspection results not applied, by reason (ignored: expired or an issuer not ours; refused: invalid; no_iss_v1: an older build\'s answer without iss, asked of the authorization server here instead)', by('reason', {
  'cluster.cluster_cache_fills_ignored_total': 'ignored', 'cluster.cluster_cache_fills_refused_total': 'refused', 'cluster.cluster_cache_fills_no_iss_v1_total': 'no_iss_v1',
}));
counter('portcullis_introspection_sync_fills_capped_total', 'Shared introspection results whose lifetime was cut to this member\'s cache bounds', { 'cluster.cluster_cache_fills_capped_total': null });
counter('portcullis_introspection_sync_evictions_total', 'Introspection evictions shared over the bus, by direction', by('direction', { 'cluster.cluster_cache_evictions_sent_total': 'sent', 'cluster.cluster_cache_evictions_received_total': 'received' }));
counter('portcullis_introspection_sync_subject_drops_total', 'A subject\'s cached introspection results dropped cluster-wide (an identity provider\'s drop_cache event), by direction (sent: told the others; received: dropped here for a peer)', by('direction', { 'cluster.cluster_cache_subject_drops_sent_total': 'sent', 'cluster.cluster_cache_subject_drops_received_total': 'received' }));
counter('portcullis_introspection_sync_leases_total', 'Lease requests this owner answered, by answer (granted: the asker calls; pending: another member is calling; cached: the result was here)', by('answer', {
  'cluster.cluster_introspection_lease_granted_total': 'granted', 'cluster.cluster_introspection_lease_pending_total': 'pending', 'cluster.cluster_introspection_lease_cached_total': 'cached',
}));
counter('portcullis_introspection_sync_leases_expired_total', 'Granted leases that replaced one that had run out', { 'cluster.cluster_introspection_lease_expired_total': null });
counter('portcullis_introspection_sync_leases_unrecorded_total', 'Granted leases not recorded because the lease table was full (single-flight degrades)', { 'cluster.cluster_introspection_lease_unrecorded_total': null });
gauge('portcullis_introspection_sync_leases_active', 'Introspection leases this owner holds open', { 'cluster.cluster_introspection_leases_active': null });
gauge('portcullis_introspection_sync_results_kept', 'Introspection results this owner keeps for lease holders', { 'cluster.cluster_introspection_results_kept': null });
counter('portcullis_introspection_sync_calls_total', 'Introspection calls this member made holding the lease', { 'cluster.cluster_introspection_calls_total': null });
counter('portcullis_introspection_sync_remote_hits_total', 'Lookups answered from the result the owner kept (no call)', { 'cluster.cluster_introspection_remote_hits_total': null });
counter('portcullis_introspection_sync_lease_waits_total', 'Lookups that waited for another member\'s lease', { 'cluster.cluster_introspection_lease_waits_total': null });
counter('portcullis_introspection_sync_leases_released_total', 'Lease releases this member announced (its call ended; failed or not)', { 'cluster.cluster_introspection_lease_released_total': null });
counter('portcullis_introspection_sync_owner_slow_total', 'Times an owner answered "slow" while still heard from (asked again)', { 'cluster.cluster_introspection_owner_slow_total': null });
counter('portcullis_introspection_sync_owner_failovers_total', 'Owners suspected after not answering (lookups go to the next owner)', { 'cluster.cluster_introspection_owner_failovers_total': null });
counter('portcullis_introspection_sync_holder_failovers_total', 'Leases freed because their holder left the cluster', { 'cluster.cluster_introspection_holder_failovers_total': null });
counter('portcullis_introspection_sync_fallback_calls_total', 'Introspection calls made without a lease (owner unreachable)', { 'cluster.cluster_introspection_fallback_calls_total': null });
gauge('portcullis_introspection_sync_owners_suspected', 'Members suspected as owners (not answering)', { 'cluster.cluster_introspection_owners_suspected': null }, { aggregate: 'max' });

// ---- process memory, summed over workers ----
gauge('portcullis_process_resident_memory_bytes', 'Resident set size at scrape time, summed over workers', { 'process.rss_bytes': null });
gauge('portcullis_process_heap_used_bytes', 'V8 heap used at scrape time, summed over workers', { 'process.heap_used_bytes': null });
gauge('portcullis_process_heap_total_bytes', 'V8 heap reserved at scrape time, summed over workers', { 'process.heap_total_bytes': null });
gauge('portcullis_process_external_bytes', 'Memory of C++ objects bound to JavaScript at scrape time, summed over workers', { 'process.external_bytes': null });

// ---- WebSockets and live streams (node/ws) ----
gauge('portcullis_websocket_connections', 'Proxied WebSockets open', { 'websocket.connections': null });
gauge('portcullis_websocket_handshakes_pending', 'WebSocket upgrades waiting for the upstream', { 'websocket.handshakes_pending': null });
counter('portcullis_websocket_upgrades_total', 'WebSocket upgrades proxied', { 'websocket.upgrades_total': null });
counter('portcullis_websocket_messages_total', 'WebSocket messages by direction', by('direction', { 'websocket.messages_from_client_total': 'from_client', 'websocket.messages_to_client_total': 'to_client' }));
counter('portcullis_websocket_bytes_total', 'WebSocket payload bytes by direction', by('direction', { 'websocket.bytes_from_client_total': 'from_client', 'websocket.bytes_to_client_total': 'to_client' }));
counter('portcullis_websocket_upstream_pauses_total', 'Times the upstream side was paused for client backpressure', { 'websocket.upstream_pauses_total': null });
counter('portcullis_websocket_closed_total', 'WebSockets closed, by the side that closed first', by('by', { 'websocket.closed_by_client_total': 'client', 'websocket.closed_by_upstream_total': 'upstream', 'websocket.closed_by_proxy_total': 'proxy' }));
counter('portcullis_websocket_closed_backpressure_total', 'WebSockets the proxy closed because the client did not read', { 'websocket.closed_backpressure_total': null });
counter('portcullis_websocket_closed_abnormal_total', 'Client connections lost without a close frame (1006)', { 'websocket.closed_abnormal_total': null });
counter('portcullis_websocket_closed_abnormal_early_total', 'Of those, lost soon after the 101', { 'websocket.closed_abnormal_early_total': null });
counter('portcullis_live_ended_total', 'WebSockets and streamed responses ended by the proxy, by reason (revoked, expired, unverifiable, policy_changed)', by('reason', {
  'websocket.ended_revoked_total': 'revoked', 'websocket.ended_expired_total': 'expired', 'websocket.ended_unverifiable_total': 'unverifiable', 'websocket.ended_policy_changed_total': 'policy_changed',
}));
counter('portcullis_streams_ended_total', 'Streamed responses (not WebSockets) ended by the proxy, by reason', by('reason', {
  'websocket.streams_ended_revoked_total': 'revoked', 'websocket.streams_ended_expired_total': 'expired', 'websocket.streams_ended_unverifiable_total': 'unverifiable', 'websocket.streams_ended_policy_changed_total': 'policy_changed',
}));

// ---- listener ----
counter('portcullis_request_timeouts_total', 'Requests answered 408 because the body did not arrive in time, by listener (uws, http2)', { 'listener.request_timeouts_total': { listener: 'uws' }, 'http2.request_timeouts_total': { listener: 'http2' } });
counter('portcullis_listener_tls_renewals_total', 'server.tls certificates read again by a reload, by result: applied (new handshakes get it), refused (they passed the config check but the listener TLS library cannot load them: the reload is refused, the running certificate kept), bind_failed (the new app could not bind beside the running one: the running certificate kept)', by('result', { 'listener.tls_renewed_total': 'applied', 'listener.tls_refused_total': 'refused', 'listener.tls_rebind_failures_total': 'bind_failed' }));
counter('portcullis_request_bodies_buffered_total', 'Request bodies read whole before an upstream connection was taken (server.limits.buffer_request_body_bytes), by listener (uws, http2)', { 'listener.request_bodies_buffered_total': { listener: 'uws' }, 'http2.request_bodies_buffered_total': { listener: 'http2' } });
counter('portcullis_request_body_buffer_overflow_total', 'Request bodies within buffer_request_body_bytes streamed instead, because buffer_request_body_total_bytes was held by other bodies still arriving, or their client held its share of it (an eighth), by listener (uws, http2)', { 'listener.request_body_buffer_overflow_total': { listener: 'uws' }, 'http2.request_body_buffer_overflow_total': { listener: 'http2' } });
counter('portcullis_request_body_buffer_client_share_total', 'Of portcullis_request_body_buffer_overflow_total: bodies that streamed because their client address already held its share of buffer_request_body_total_bytes (max(buffer_request_body_bytes, total / 8)), by listener', { 'listener.request_body_buffer_share_total': { listener: 'uws' }, 'http2.request_body_buffer_share_total': { listener: 'http2' } });
gauge('portcullis_request_body_buffer_bytes', 'Bytes held now by request bodies being read whole (the full Content-Length of each still arriving; both listeners), against server.limits.buffer_request_body_total_bytes; summed over workers', { 'listener.request_body_buffer_bytes': null });
counter('portcullis_listener_body_timer_rearms_total', 'Body deadline timer re-arms (uWebSockets.js internals; for diagnosis)', { 'listener.uws_body_timer_rearms_total': null });

// ---- HTTP/2 listener (node/http2) ----
counter('portcullis_http2_requests_total', 'Requests on the HTTP/2 listener by protocol the client spoke (h2: TLS, h2c: cleartext, http/1.1: TLS without h2 by ALPN)', by('protocol', {
  'http2.requests_h2_total': 'h2', 'http2.requests_h2c_total': 'h2c', 'http2.requests_http1_total': 'http/1.1',
}));
counter('portcullis_grpc_deadlines_exceeded_total', 'gRPC calls the HTTP/2 listener ended at the caller\'s grpc-timeout (upstream stream reset with CANCEL, grpc-status 4), by phase (before_response: trailers-only answer; streaming: trailers after the response began)', by('phase', {
  'http2.grpc_deadline_before_response_total': 'before_response', 'http2.grpc_deadline_streaming_total': 'streaming',
}));
counter('portcullis_http2_client_certificates_refused_total', 'TLS connections to the HTTP/2 listener closed because the client certificate did not verify (client_certificates: optional), or because a reload took its CA out of client_ca_file', { 'http2.client_certificates_refused_total': null });
counter('portcullis_http2_sessions_total', 'HTTP/2 sessions (connections) accepted', { 'http2.sessions_total': null });
counter('portcullis_http2_connections_refused_total', 'Connections to the HTTP/2 listener closed at accept because server.http2.max_connections were open', { 'http2.connections_refused_total': null });
gauge('portcullis_http2_sessions_open', 'HTTP/2 sessions open now', { 'http2.sessions_open': null });
counter('portcullis_http2_sessions_closed_total', 'HTTP/2 sessions the proxy closed, by reason (rapid_reset, ping_flood, settings_flood: flood caps; protocol_error: node:http2 limits; idle; preface_timeout, tls_handshake_timeout: no HTTP/2 preface or TLS handshake within server.http2.preface_timeout_ms)', by('reason', {
  'http2.sessions_closed_rapid_reset_total': 'rapid_reset', 'http2.sessions_closed_ping_flood_total': 'ping_flood', 'http2.sessions_closed_settings_flood_total': 'settings_flood',
  'http2.sessions_closed_protocol_error_total': 'protocol_error', 'http2.sessions_closed_idle_total': 'idle',
  'http2.sessions_closed_preface_timeout_total': 'preface_timeout', 'http2.sessions_closed_tls_handshake_timeout_total': 'tls_handshake_timeout',
}));
counter('portcullis_access_log_lines_sampled_out_total', 'Access-log lines of allowed requests left out by their route\'s access_log.sample_allowed', { 'listener.access_lines_sampled_out_total': null });

// ---- tracing (node/tracing; only while tracing.enabled) ----
counter('portcullis_tracing_traces_total', 'Requests traced, by sampling decision (sampled: spans exported; not_sampled: trace headers only)', by('decision', { 'tracing.traces_sampled': 'sampled', 'tracing.traces_not_sampled': 'not_sampled' }));
counter('portcullis_tracing_client_sampling_limited_total', 'Requests whose client trace context asked to be recorded beyond tracing.client_sampled_per_second: propagated unsampled', { 'tracing.client_sampling_limited': null });
counter('portcullis_tracing_traceparent_invalid_total', 'Requests whose traceparent was malformed (a new trace was started, the header not forwarded)', { 'tracing.traceparent_invalid': null });
counter('portcullis_audit_unauthorized_coalesced_total', 'Unauthorized admin calls (no valid token) beyond 20 a second, recorded in one audit summary per second instead of one line each', { 'audit.unauthorized_coalesced': null });
counter('portcullis_log_lines_dropped_total', 'Log lines the process could not write to stdout (its reader gone: EPIPE; the pipe still full or failing when the process exited), by process (proxy: the serving process or its workers, summed; primary: the --workers supervisor)', by('process', { 'log.lines_dropped': 'proxy', 'log.primary_lines_dropped': 'primary' }));
counter('portcullis_audit_lines_lost_total', 'Audit trail lines that could not be written (disk full, file size limit, a closed file); the admin action went on', { 'audit.lines_lost': null });
counter('portcullis_audit_file_reopened_total', 'Times log.audit.file was opened again because its path no longer named the open file (moved by a log rotation, removed, replaced)', { 'audit.file_reopened': null });
counter('portcullis_tracing_spans_exported_total', 'Spans the OTLP collector accepted', { 'tracing.spans_exported': null });
counter('portcullis_tracing_spans_dropped_total', 'Spans dropped, by reason (queue_full: tracing.max_queue_spans reached; export_failed: the collector refused or did not answer)', by('reason', { 'tracing.spans_dropped_queue_full': 'queue_full', 'tracing.spans_dropped_export_failed': 'export_failed' }));
counter('portcullis_tracing_exports_total', 'OTLP export requests, by outcome (ok, failed)', by('outcome', { 'tracing.exports_ok': 'ok', 'tracing.exports_failed': 'failed' }));
gauge('portcullis_tracing_queue_spans', 'Spans waiting for export', { 'tracing.queue_spans': null });
