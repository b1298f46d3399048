// How a config becomes the Snapshot the listeners run: upstream pools (reused when their config
// did not change), the routes' compiled policies with their outbound token steps, the route table
// and the policy label — at start and for each prepared reload (node/instance.ts).
import type { Auth, PreparedAuth } from './auth/index.js';
import type { Config } from './config/index.js';
import type { PolicyVersion } from './contracts/index.js';
import { wsClient } from './lazy-packages.js';
import type { CompiledRoute } from './pipeline/context.js';
import type { CompiledPolicy } from './pipeline/index.js';
import { policyLabel } from './pipeline/policy-label.js';
import type { Snapshot } from './pipeline/snapshot.js';
import { readingsOf, RouteTable } from './routing/route-table.js';
import type { PreparedS2s } from './s2s/index.js';
import type { Tracer } from './tracing/index.js';
import { UpstreamPool } from './upstream/upstream-pool.js';

/** What a snapshot is built from besides the config: the prepared component state. */
export interface SnapshotParts {
  readonly auth: Pick<PreparedAuth, 'compilePolicy'>;
  readonly s2s: Pick<PreparedS2s, 'steps' | 'wellKnown'>;
  /** The running auth layer's stages (the snapshot calls them). */
  readonly stages: Auth['stages'];
  readonly tracer: Tracer | null;
}

/**
 * Compile a snapshot from prepared component state; reuses upstream pools of `previous` whose
 * config did not change. Throws only on a bug (or a missing `ws` package for WebSocket routes);
 * the pools it created are in `created` either way. `compiled`: policies precompiled per route.
 */
export function buildSnapshot(config: Config, version: number, policy: PolicyVersion | null, parts: SnapshotParts, previous: ReadonlyMap<string, UpstreamPool>, created: UpstreamPool[], compiled?: ReadonlyArray<CompiledPolicy | null>): Snapshot {
  const upstreams = new Map<string, UpstreamPool>();
  for (const [name, uc] of Object.entries(config.upstreams)) {
    const old = previous.get(name);
    if (old !== undefined && JSON.stringify(old.config) === JSON.stringify(uc)) { upstreams.set(name, old); continue; }
    const pool = new UpstreamPool(name, uc);
    created.push(pool);
    upstreams.set(name, pool);
  }
  // WebSocket routes: the ws client loads with the config (a missing package fails the start or the
  // reload, naming it), not at the first upgrade (which answered 400, blaming the client's headers)
  if (config.routes.some((r) => r.websocket)) wsClient();
  const outbound = parts.s2s.steps;
  // a route with an outbound token step never forwards the inbound credential (header, cookie or query)
  const policyRoute = (r: Config['routes'][number], i: number): Config['routes'][number] => (outbound[i] === null ? r : { ...r, forward: { ...r.forward, authorization: 'strip' } });
  // a route with an outbound step compiles here (its forward rule changed); the others may come precompiled (prepareYielding)
  const routes: CompiledRoute[] = config.routes.map((r, index) => ({ index, name: r.name, config: r, policy: outbound[index] === null && compiled?.[index] !== undefined ? compiled[index]! : parts.auth.compilePolicy(policyRoute(r, index)) }));
  const label = policyLabel(config, version, policy);
  return {
    version, config, table: new RouteTable(routes, readingsOf(config.server.paths)), upstreams, auth: parts.stages, realm: 'portcullis',
    outbound, wellKnown: parts.s2s.wellKnown, tracer: parts.tracer, policyLabel: label, policyHeader: config.cluster.policy.response_header ? label : null,
  };
}
