// A trusted front proxy's X-Forwarded-Host (server.trust_forwarded) travels to the upstream as
// sent, and upstream frameworks read it as the host (Express `trust proxy`, Django, Rails,
// Spring): it must select the route Host selected, or the request is refused before any token check.
import { proxyError } from '../errors.js';
import { routingHost } from '../routing/host-normalize.js';
import { routeOf, type RouteTable } from '../routing/route-table.js';
import { CONTINUE, type RequestContext, type StageResult } from './context.js';

/** The denial: 400 PORTCULLIS_ERR_FORWARDED_HOST, deny reason `forwarded_host`. */
export const FORWARDED_HOST_REFUSED: StageResult = Object.freeze({
  kind: 'deny' as const,
  error: Object.freeze(proxyError('PORTCULLIS_ERR_FORWARDED_HOST', 'X-Forwarded-Host names a host that selects another route than Host (or is not one host)')),
  reason: 'forwarded_host',
});

/**
 * With a trusted X-Forwarded-Host: one line, one valid host[:port] (no list: Express takes the
 * first, Rails the last), selecting for this method and path the route the request selected
 * (`ctx.route`); else FORWARDED_HOST_REFUSED. Without one: CONTINUE. Never throws.
 */
export function checkForwardedHost(table: RouteTable, ctx: RequestContext): StageResult {
  const h = ctx.headers;
  let xfh: string | null = null;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== 'x-forwarded-host') continue;
    if (xfh !== null) return FORWARDED_HOST_REFUSED;
    xfh = h[i + 1]!;
  }
  if (xfh === null) return CONTINUE;
  const host = routingHost(xfh);
  if (host === null || host === '') return FORWARDED_HOST_REFUSED;
  if (host === ctx.host) return CONTINUE;
  const m = table.resolve(ctx.method, host, ctx.path);
  return routeOf(m) !== ctx.route ? FORWARDED_HOST_REFUSED : CONTINUE;
}
