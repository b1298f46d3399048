// routes[].match.host read as the request's Host is read (node/routing/host-normalize.ts): lower
// case, one trailing dot removed. A spelling no request can carry after that reading (a port,
// Unicode, junk) would leave the route unmatched for good — its host's requests would fall to a
// looser any-host route — so it is a config error instead.
import { z } from 'zod';
import { normalizedHostHeader, routingHost } from '../routing/host-normalize.js';

const NAME = 'a host name (labels of letters, digits, - and _; Unicode in its punycode form xn--…), an [IPv6] literal in its canonical form (RFC 5952: [2001:db8::1], not [2001:0db8:0::1]), or *.suffix';

/** The normalised host ("Admin.Example." → "admin.example", "*.Example." → "*.example"), or why it can never match. */
export function normalizeRouteHost(raw: string): { host: string } | { error: string } {
  if (raw === '*') return { error: 'a bare * would match every host: leave match.host out for any host' };
  const wild = raw.startsWith('*.');
  const name = wild ? raw.slice(2) : raw;
  if (name.includes('*')) return { error: `* only as the whole first label (*.example.com): ${NAME}` };
  const host = routingHost(name);
  if (host === null || host === '') return { error: NAME };
  if (normalizedHostHeader(name) !== host) return { error: 'no port: a host route matches its host on every port (the listener reads the port apart)' };
  if (wild && host.startsWith('[')) return { error: '*. needs a host name, not an IP literal' };
  return { host: wild ? `*.${host}` : host };
}

/** The schema of `routes[].match.host`: normalised, or an error naming what a request can carry. */
export const routeHostSchema = z.string().min(1).transform((v, ctx) => {
  const r = normalizeRouteHost(v);
  if ('error' in r) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r.host;
});
