// A route's request deadline: how long any wait a request makes before it is forwarded (its
// outbound token, an unknown-kid JWKS refetch) may last before the request is answered 503.
import type { Config, RouteConfig } from './schema.js';

/** The route's request deadline, ms: its `timeout_ms`, else its upstream's `timeouts.response_ms` (the 504 deadline of the forward). */
export function routeDeadlineMs(config: Config, route: RouteConfig): number {
  return route.timeout_ms ?? config.upstreams[route.upstream]?.timeouts.response_ms ?? 15_000;
}
