// The client a request is charged to (the per-client introspection budget): the client the access
// log names — the trusted X-Forwarded-For entry with server.trust_forwarded, else the connection's
// peer — read only when asked, since the uWS listener reads the peer with a syscall.
import type { RequestContext } from './context.js';
import { forwardedClient } from './forwarded-client.js';

/**
 * `ctx.client` when the transport read it; else the peer (ctx.remoteAddress, or read now through
 * ctx.peer), or with `trustedHops` > 0 (server.trust_forwarded) the X-Forwarded-For entry that many
 * hops from the right when it is an IP literal. '' when no address is known.
 */
export function requestClient(ctx: Pick<RequestContext, 'client' | 'remoteAddress' | 'peer' | 'headers'>, trustedHops: number): string {
  if (ctx.client !== undefined) return ctx.client;
  const peer = ctx.remoteAddress !== '' || ctx.peer == null ? ctx.remoteAddress : ctx.peer.peerAddress();
  return trustedHops > 0 ? forwardedClient(ctx.headers, peer, trustedHops) : peer;
}
