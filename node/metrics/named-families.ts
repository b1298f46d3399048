// Rows of the metric family table for keys that carry a name (an upstream, an issuer, a failure
// code, a bucket bound): matched by pattern, mapped to a labelled sample and back.
import { declare, elsewhere, exact, MS, named, patterns, round, sample } from './family-registry.js';

// upstream pools (node/instance-stats.ts: `upstream.<name>_connections`…)
declare('portcullis_upstream_connections', 'gauge', 'Open connections to an upstream', ['upstream']);
declare('portcullis_upstream_pending_requests', 'gauge', 'Requests waiting for a connection to an upstream', ['upstream']);
declare('portcullis_upstream_ejections_total', 'counter', 'Targets ejected from an upstream after consecutive gateway failures (connect failures, resets before a response, invalid responses) or, with eject.consecutive_5xx, consecutive 5xx', ['upstream']);
declare('portcullis_upstream_ejections_overflow_total', 'counter', 'Targets that reached an ejection threshold while eject.max_ejected_percent of the upstream\'s targets were out already: they stayed in rotation, or (no target in rotation below its threshold) took the slot of the one ejected longest ago', ['upstream']);
declare('portcullis_upstream_pipeline_requests_total', 'counter', 'Requests to an upstream, by what happened on a pipelined connection (upstreams.<name>.pipelining): written behind others (pipelined), retried once on another connection after theirs was lost (retried), response read and dropped because the client had gone or its deadline passed (discarded)', ['upstream', 'event']);
declare('portcullis_upstream_stray_bytes_total', 'counter', 'Reused HTTP/1.1 upstream connections dropped because they read bytes sent before the request written on them (the request sent again on a fresh connection when idempotent and bodiless, else 502)', ['upstream']);
named('upstream.', '_', 'upstream', {
  connections: { family: 'portcullis_upstream_connections' }, pending: { family: 'portcullis_upstream_pending_requests' }, ejections: { family: 'portcullis_upstream_ejections_total' },
  ejections_overflow: { family: 'portcullis_upstream_ejections_overflow_total' }, stray_bytes: { family: 'portcullis_upstream_stray_bytes_total' },
  pipelined: { family: 'portcullis_upstream_pipeline_requests_total', labels: { event: 'pipelined' } },
  pipeline_retried: { family: 'portcullis_upstream_pipeline_requests_total', labels: { event: 'retried' } },
  pipeline_discarded: { family: 'portcullis_upstream_pipeline_requests_total', labels: { event: 'discarded' } },
});

// issuer readiness (node/instance-stats.ts: `issuer.<name>_keys_ready`…), what /readyz waits for
declare('portcullis_issuer_keys_ready', 'gauge', '1 when the issuer\'s signing keys are loaded (the lowest over workers)', ['issuer'], 'min');
declare('portcullis_issuer_introspection_ready', 'gauge', '1 when the issuer\'s introspection endpoint is known (issuers with introspection only; the lowest over workers)', ['issuer'], 'min');
named('issuer.', '_', 'issuer', { keys_ready: { family: 'portcullis_issuer_keys_ready' }, introspection_ready: { family: 'portcullis_issuer_introspection_ready' } });

// JWKS per issuer (node/jwt/jwt-verifier.ts: `jwt.jwks.<issuer>.<counter>`); the all-issuer
// totals (`jwt.jwks_fetch_ok`…, which keep issuers a reload removed) are for /cache/stats only
declare('portcullis_jwks_fetches_total', 'counter', 'JWKS fetches by issuer and outcome (ok, failed)', ['issuer', 'outcome']);
declare('portcullis_jwks_unknown_kid_total', 'counter', 'Tokens with a kid not in the issuer\'s JWKS, by action (refetched, throttled: within the cool-down)', ['issuer', 'action']);
declare('portcullis_jwks_keys_refused_total', 'counter', 'Keys left out of a fetched JWKS (symmetric, weak, invalid…), counted per fetch, by issuer', ['issuer']);
named('jwt.jwks.', '.', 'issuer', {
  fetch_ok: { family: 'portcullis_jwks_fetches_total', labels: { outcome: 'ok' } },
  fetch_failed: { family: 'portcullis_jwks_fetches_total', labels: { outcome: 'failed' } },
  unknown_kid_refetch: { family: 'portcullis_jwks_unknown_kid_total', labels: { action: 'refetched' } },
  unknown_kid_throttled: { family: 'portcullis_jwks_unknown_kid_total', labels: { action: 'throttled' } },
  keys_refused: { family: 'portcullis_jwks_keys_refused_total' },
});
for (const k of ['jwt.jwks_fetch_ok', 'jwt.jwks_fetch_failed', 'jwt.jwks_unknown_kid_refetch', 'jwt.jwks_unknown_kid_throttled', 'jwt.jwks_keys_refused']) elsewhere.add(k);

// JWT failures: one key per stable failure code seen so far (node/jwt/types.ts FailCode)
declare('portcullis_jwt_verify_failures_total', 'counter', 'Tokens the verifier refused or could not judge, by stable failure code (bad_signature, expired…; keys_unavailable, jwks_refetch_timeout, jwks_refetch_failed, pool_overloaded: answered 503)', ['code']);
patterns.push({
  re: /^jwt\.verify_failed_([a-z_]+)$/,
  map: (m) => sample('portcullis_jwt_verify_failures_total', { code: m[1]! }),
  unmap: (metric, labels) => (metric === 'portcullis_jwt_verify_failures_total' && labels.code !== undefined ? `jwt.verify_failed_${labels.code}` : null),
});

// revocation propagation buckets (cluster/revocation/delay-histogram.ts: ms bounds, `inf`)
declare('portcullis_revocation_propagation_seconds', 'histogram', 'Delay from a revocation\'s publish (at its origin) to applied here; origins do not record their own', []);
exact.set('cluster.revocation_propagation_ms_count', sample('portcullis_revocation_propagation_seconds', {}, '_count'));
exact.set('cluster.revocation_propagation_ms_sum', sample('portcullis_revocation_propagation_seconds', {}, '_sum', MS));
patterns.push({
  re: /^cluster\.revocation_propagation_ms_bucket_le_(inf|\d+(?:\.\d+)?)$/,
  map: (m) => sample('portcullis_revocation_propagation_seconds', { le: m[1] === 'inf' ? '+Inf' : String(round(Number(m[1]) * MS)) }, '_bucket'),
  unmap: (metric, labels) => (metric === 'portcullis_revocation_propagation_seconds_bucket' && labels.le !== undefined
    ? `cluster.revocation_propagation_ms_bucket_le_${labels.le === '+Inf' ? 'inf' : String(round(Number(labels.le) / MS))}` : null),
});

declare('portcullis_revocation_visible_seconds', 'histogram', 'Delay from a revocation\'s publish (at its origin) to visible to every check here: the receiver thread\'s ring write, or the apply when another path came first', []);
exact.set('cluster.revocation_visible_ms_count', sample('portcullis_revocation_visible_seconds', {}, '_count'));
exact.set('cluster.revocation_visible_ms_sum', sample('portcullis_revocation_visible_seconds', {}, '_sum', MS));
patterns.push({
  re: /^cluster\.revocation_visible_ms_bucket_le_(inf|\d+(?:\.\d+)?)$/,
  map: (m) => sample('portcullis_revocation_visible_seconds', { le: m[1] === 'inf' ? '+Inf' : String(round(Number(m[1]) * MS)) }, '_bucket'),
  unmap: (metric, labels) => (metric === 'portcullis_revocation_visible_seconds_bucket' && labels.le !== undefined
    ? `cluster.revocation_visible_ms_bucket_le_${labels.le === '+Inf' ? 'inf' : String(round(Number(labels.le) / MS))}` : null),
});

// identity-provider events (node/events: `events.<source>.<type>.<result>`)
declare('portcullis_idp_events_total', 'counter', 'Identity-provider events received, by source (issuer name), type (backchannel_logout) and result (accepted, or the stable refusal reason)', ['source', 'type', 'result']);
patterns.push({
  re: /^events\.([A-Za-z0-9_-]+)\.([a-z_]+)\.([a-z_]+)$/,
  map: (m) => sample('portcullis_idp_events_total', { source: m[1]!, type: m[2]!, result: m[3]! }),
  unmap: (metric, l) => (metric === 'portcullis_idp_events_total' && l.source !== undefined && l.type !== undefined && l.result !== undefined ? `events.${l.source}.${l.type}.${l.result}` : null),
});

declare('portcullis_idp_event_apply_seconds', 'histogram', 'Time from an identity-provider event\'s arrival to its revocation applied here and published (stream-acknowledged); accepted events only', []);
exact.set('events_apply_ms_count', sample('portcullis_idp_event_apply_seconds', {}, '_count'));
exact.set('events_apply_ms_sum', sample('portcullis_idp_event_apply_seconds', {}, '_sum', MS));
patterns.push({
  re: /^events_apply_ms_bucket_le_(inf|\d+)$/,
  map: (m) => sample('portcullis_idp_event_apply_seconds', { le: m[1] === 'inf' ? '+Inf' : String(round(Number(m[1]) * MS)) }, '_bucket'),
  unmap: (metric, l) => (metric === 'portcullis_idp_event_apply_seconds_bucket' && l.le !== undefined
    ? `events_apply_ms_bucket_le_${l.le === '+Inf' ? 'inf' : String(round(Number(l.le) / MS))}` : null),
});

// SSF streams this proxy manages as a receiver (node/events/ssf-stream.ts: `ssf_stream.<source>.status_<status>`)
declare('portcullis_ssf_stream_status', 'gauge', 'Status of a managed SSF stream as the transmitter reports it: 1 on the current one of enabled, paused, disabled, unknown (not read yet or the read failed)', ['source', 'status'], 'max');
patterns.push({
  re: /^ssf_stream\.([A-Za-z0-9_-]+)\.status_(enabled|paused|disabled|unknown)$/,
  map: (m) => sample('portcullis_ssf_stream_status', { source: m[1]!, status: m[2]! }),
  unmap: (metric, l) => (metric === 'portcullis_ssf_stream_status' && l.source !== undefined && l.status !== undefined ? `ssf_stream.${l.source}.status_${l.status}` : null),
});
