// The scenario registry: name → what it measures and how to run it. `portcullis bench [NAME…]`
// runs the named ones (all when none is named) through bench/run.ts.
import type { Scenario } from './scenario.js';
import { buildCompare } from './build-compare.bench.js';
import { cacheMemory } from './cache-memory.bench.js';
import { forwardAuth } from './forward-auth.bench.js';
import { grpcBench } from './grpc.bench.js';
import { h2Bench } from './h2.bench.js';
import { introspection } from './introspection.bench.js';
import { internalToken } from './internal-token.bench.js';
import { introspectionCluster } from './introspection-cluster.bench.js';
import { jwtCold } from './jwt-cold.bench.js';
import { jwtWarm } from './jwt-warm.bench.js';
import { passthrough } from './passthrough.bench.js';
import { policyPropagation } from './policy-propagation.bench.js';
import { revocationPropagation } from './revocation-propagation.bench.js';
import { revocationDirect } from './revocation-direct.bench.js';
import { revocationThread } from './revocation-thread.bench.js';
import { idpEventPropagation } from './idp-event-propagation.bench.js';
import { soak } from './soak.bench.js';
import { startup } from './startup.bench.js';
import { tailPair } from './tail-pair.bench.js';
import { tailPeer } from './tail-peer.bench.js';
import { upstreamClient } from './upstream-client.bench.js';
import { websocketRelay } from './websocket-relay.bench.js';

export type { Scenario, ScenarioOptions, ScenarioReport } from './scenario.js';

export const scenarios: Readonly<Record<string, Scenario>> = {
  passthrough: {
    description: 'no auth: direct upstream vs Portcullis vs HAProxy 2.6 — throughput, ratios, added latency at 2000 rps',
    run: passthrough,
  },
  'jwt-warm': {
    description: 'one valid JWT repeated (RS256; PORTCULLIS_BENCH_JWT_ALG=ES256): Portcullis cache hits vs HAProxy jwt_verify per request vs direct — throughput, ratios, added latency at 2000 rps',
    run: jwtWarm,
  },
  'jwt-cold': {
    description: '20 000 distinct JWTs in rotation (every request verifies): verifier pool_size 1 vs cores vs HAProxy jwt_verify; plus one verification inline vs on the pool (no HTTP)',
    run: jwtCold,
  },
  introspection: {
    description: 'opaque tokens (RFC 7662): warm cache hits vs a warm JWT on the same instance; cold passes of fresh tokens ×4 concurrent requests — AS calls per token (must be 1) and throughput',
    run: introspection,
  },
  'internal-token': {
    description: 'forward.token internal: cached mint vs keep (one token) and first mint on the worker vs inline vs keep (distinct tokens) — throughput, CPU per request, mints per request',
    run: internalToken,
  },
  'revocation-propagation': {
    description: '3 members on NATS under background load: POST /revocations at one → first 401 at every member (external prober) and the members\' publish → applied histogram — p50/p99/max (target p99 ≤ 5 ms)',
    run: revocationPropagation,
  },
  'revocation-direct': {
    description: 'revocation-propagation in paired interleaved rounds, NATS only vs cluster.revocation.direct (origin pushes to every member over TCP beside NATS): members\' publish → applied and POST → first 401 at every member, p50/p99/≤ 5 ms, per-pair ratios',
    onlyByName: true,
    run: revocationDirect,
  },
  'revocation-thread': {
    description: 'revocation-propagation in paired interleaved rounds, cluster.revocation.receiver main vs thread (a receiver thread per member writing verified revocations to shared memory every check drains first): members\' publish → visible and → applied, POST → first 401 at every member, p50/p99/≤ 5 ms, members\' CPU per response, per-pair ratios',
    onlyByName: true,
    run: revocationThread,
  },
  'idp-event-propagation': {
    description: '3 members on NATS under background load: a CAEP session-revoked SET pushed (RFC 8935) to one → first 401 at every member, p50/p99/max (target p99 ≤ 10 ms), beside the same revocation by POST /revocations in interleaved rounds; and the SETs/s one member accepts (signed, distinct jti)',
    run: idpEventPropagation,
  },
  'policy-propagation': {
    description: '3-node NATS cluster, 3 members with cluster policy under background load: 100 pushes, push → every member applied (heartbeat naming the version) p50/p99/max (target p99 ≤ 50 ms), and the background load quiet vs while pushing',
    run: policyPropagation,
  },
  'introspection-cluster': {
    description: '3 members on NATS, 2000 fresh opaque tokens requested at all three at once: AS introspection calls per distinct token (target 1.00) and throughput vs one standalone instance with the same requests, cold and warm',
    run: introspectionCluster,
  },
  'cache-memory': {
    description: 'verified-token cache memory: 1,000,000 distinct EdDSA tokens through the JwtVerifier into the cache, then 500,000 more through eviction — heap per token, heap for 1M (target ≤ 1 GiB), RSS, growth under churn',
    run: cacheMemory,
  },
  soak: {
    description: 'one proxy process for 10 minutes (PORTCULLIS_BENCH_SOAK_S) under closed-loop load, every request a cache miss over 30 000 rotating JWTs (cache 10 000): RSS sampled every 10 s, slope after a 1-minute warmup (target: no growth)',
    run: soak,
  },
  'upstream-client': {
    description: 'the hand-written HTTP/1.1 upstream client vs undici on the passthrough path: two Portcullis processes differing only in the client (PORTCULLIS_UPSTREAM_CLIENT=undici), same upstream, alternating rounds — throughput, CPU µs/req closed loop and at 2000 rps',
    run: upstreamClient,
  },
  'forward-auth': {
    description: 'one warm JWT: nginx auth_request → Portcullis decision endpoint (no edge cache) vs nginx auth_request → a Node validator with proxy_cache vs Portcullis as the proxy vs HAProxy jwt_verify — throughput, ratios, revocation honoured',
    run: forwardAuth,
  },
  startup: {
    description: 'CLI start-up: --help, check-config, serve (one process and two workers) to the listening line, dev to its token — median wall and process-tree CPU ms of repeated runs; beside another built checkout (PORTCULLIS_BENCH_BASELINE=<root>) interleaved when given',
    run: startup,
  },
  'build-compare': {
    description: 'this build vs another built checkout (PORTCULLIS_BENCH_BASELINE=<root>) in the same rotated rounds, each beside HAProxy: passthrough and jwt-warm closed loop — ratios, CPU µs/req, per-round table',
    run: buildCompare,
    onlyByName: true,
  },
  'tail-peer': {
    description: 'issue 13\'s fixed-rate tail on the peer terms: one warm JWT at 2000 rps, Portcullis workers 1/2 and HAProxy nbthread 1/2, on both CPUs or on the upstream\'s CPU, spin or timer pacer (PORTCULLIS_BENCH_TAIL_TARGETS, PORTCULLIS_BENCH_TAIL_PACERS) — added p50/p90/p99/p99.9 over direct, share > 1 ms, CPU of primary and workers, connections per worker, GC pauses',
    run: tailPeer,
    onlyByName: true,
  },
  'tail-pair': {
    description: 'issue 13\'s added p99 at 2000 rps measured robustly to host jitter: one pacer sends 2000 rps to the target and, in the same turns, 500 rps straight to the same upstream; per 100 ms window target p99 − direct p99 (median, p90, share of windows > 1 ms), whole-run added p50/p99/p99.9, the loader\'s own lateness per window — Portcullis workers 2 (warm RS256 and passthrough), HAProxy nbthread 2 (jwt_verify and passthrough, option forwardfor), nginx-cached, and an A/A control (PORTCULLIS_BENCH_PAIR_TARGETS; pcflags-jwt = warm RS256 under node flags PORTCULLIS_BENCH_PAIR_NODE_ARGS, only when named)',
    run: tailPair,
    onlyByName: true,
  },
  'websocket-relay': {
    description: 'messages through a proxied WebSocket (websocket: true, ws echo upstream) vs direct: messages/s (closed loop, 50 connections) and round-trip p50/p99 at 5000 msg/s',
    run: websocketRelay,
  },
  h2: {
    description: 'HTTP/2 with h2load (Debian nghttp2-client, required): one warm JWT, Portcullis server.http2 h2c vs HAProxy 2.6 h2 frontend with the same jwt_verify rules vs the h2c upstream direct — throughput, ratios (target ≥ 0.7× HAProxy), added latency at 2000 rps, CPU µs/req of hop and upstream',
    run: h2Bench,
  },
  grpc: {
    description: 'gRPC unary (@grpc/grpc-js client and server, one warm JWT in metadata) through Portcullis server.http2 vs direct: max calls/s (closed loop) and added p50/p99 at a fixed 500 calls/s (target added p99 ≤ 2 ms), CPU µs/call',
    run: grpcBench,
  },
};
