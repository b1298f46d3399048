// The forward stage: what the upstream receives. Request headers without hop-by-hop fields,
// client-set forwarding and identity headers; the outbound token; identity headers (mutate);
// X-Forwarded-For/-Proto/-Host; Host per the upstream's `host` mode; the path after strip_prefix
// and path_prefix, with its query; Max-Forwards one lower on OPTIONS/TRACE. Also the one hop-by-hop
// list both directions use.
import { HOP_BY_HOP_HEADERS } from '../config/proxy-owned-headers.js';
import { strippedRequestHeaders } from '../config/untrusted-headers.js';
import { normalizedHostHeader } from '../routing/host-normalize.js';
import { stripParams } from '../routing/path-normalize.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import { headerValue, type ClientCertificate, type RequestContext } from './context.js';
import { countsHops, hopCount, maxForwardsLines } from './max-forwards.js';
import { forwardedQuery } from './mutate.js';
import type { Snapshot } from './snapshot.js';

/**
 * Request fields never copied upstream: hop-by-hop; `content-length` (the upstream client frames
 * the body); `proxy-authorization` (meant for us); `expect` (uWS already answered "100 Continue",
 * and an upstream would wait for it again); `host` and the forwarding fields (set below).
 */
const REQUEST_DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'content-length', 'proxy-authorization', 'expect', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-forwarded-client-cert']);

/**
 * Response fields never copied to the client: hop-by-hop; `content-length` (the listener frames the
 * body and writes it back for HEAD/304); `date` (the listener writes its own); `proxy-authenticate`
 * and `proxy-authorization` (between the upstream and a proxy of its own, never the client's).
 */
export const RESPONSE_DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'content-length', 'date', 'proxy-authenticate', 'proxy-authorization']);

const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP_HEADERS);

/**
 * Lower-case field names listed in Connection values (`a, B` → [a, b]), or null when there are
 * none beyond the hop-by-hop fields both directions drop anyway. Nearly every message says
 * `Connection: keep-alive` (or `upgrade`): that answers null without splitting or allocating
 * (profiled at ~4 µs per proxied request, request and response side, when it built a Set).
 */
export function connectionNamed(values: string | null): Set<string> | null {
  if (values === null || values === 'keep-alive' || values === 'Keep-Alive') return null; // as sent by nearly every client and server
  if (values.indexOf(',') === -1) {
    const one = values.trim().toLowerCase();
    return HOP_BY_HOP_SET.has(one) ? null : new Set([one]);
  }
  return new Set(values.toLowerCase().split(',').map((s) => s.trim()));
}

/** The request as the upstream gets it; the transport dispatches it (h1 relay, or node/ws for an upgrade). */
export interface UpstreamRequest {
  readonly upstream: UpstreamPool;
  /** Path with query, as sent upstream. */
  readonly path: string;
  /** Flat name/value list, framing fields excluded. */
  readonly headers: string[];
  /** Index of the Host value in `headers` to fill per picked target (upstream `host: target`), else -1. */
  readonly hostIdx: number;
}

/**
 * Build the upstream request of `ctx`. `authz` replaces the client's Authorization (an outbound
 * token); `callerHeader` then carries the client's own value, else it is dropped.
 */
export function forwardRequest(snap: Snapshot, ctx: RequestContext, authz: string | null, callerHeader: string | null): UpstreamRequest {
  const route = ctx.route.config;
  const up = snap.upstreams.get(route.upstream)!;
  const auth = snap.auth;
  const stripAuth = ctx.route.policy !== null && auth.stripsAuthorization(ctx);
  const named = connectionNamed(ctx.connection ?? null);
  // client-address, URL and method overrides an upstream would take as the proxy's word
  const untrusted = strippedRequestHeaders(snap.config.server.forwarded.keep_headers);
  const h = ctx.headers;
  const out: string[] = [];
  let xff: string | null = null;
  let xfProto: string | null = null;
  let xfHost: string | null = null;
  let callerAuth: string | null = null;
  // a DPoP proof belongs to the Authorization it came with: it goes when that goes
  const dropAuth = stripAuth || authz !== null;
  // OPTIONS/TRACE: one hop fewer (a count of 0 never gets here: pipeline.ts answers it)
  const hops = countsHops(ctx.method) ? hopCount(maxForwardsLines(h)) : null;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    if (REQUEST_DROPPED.has(k)) {
      if (k === 'x-forwarded-for') xff = xff === null ? h[i + 1]! : `${xff}, ${h[i + 1]!}`;
      else if (k === 'x-forwarded-proto') xfProto = h[i + 1]!;
      else if (k === 'x-forwarded-host') xfHost = h[i + 1]!;
      continue;
    }
    if (named !== null && named.has(k)) continue;
    // after the Connection names: a client naming Max-Forwards there made it this hop's alone
    if (hops !== null && k === 'max-forwards') {
      out.push(k, String(Math.max(0, hops - 1)));
      continue;
    }
    if (untrusted.has(k) || auth.isIdentityHeader(k)) continue;
    if (dropAuth && (k === 'authorization' || k === 'dpop')) {
      if (k === 'authorization' && callerHeader !== null && callerAuth === null) callerAuth = h[i + 1]!;
      continue;
    }
    if (k === callerHeader) continue; // a client cannot pose as the caller
    out.push(k, h[i + 1]!);
  }
  if (authz !== null) {
    out.push('authorization', authz);
    if (callerAuth !== null) out.push(callerHeader!, callerAuth);
  }
  // Before host and X-Forwarded-*: mutate may remove entries (a stripped token header or
  // cookie), which would shift hostIdx onto another header's value.
  if (ctx.route.policy !== null) auth.mutate(ctx, out);
  // X-Forwarded-For appends the client by default (the rightmost entry is ours); Proto and
  // Host are ours unless server.trust_forwarded keeps what a trusted front proxy sent.
  const trust = snap.config.server.trust_forwarded;
  const xffMode = snap.config.server.forwarded.x_forwarded_for;
  if (xffMode === 'append') out.push('x-forwarded-for', xff !== null ? `${xff}, ${ctx.remoteAddress}` : ctx.remoteAddress);
  else if (xffMode === 'keep' && xff !== null) out.push('x-forwarded-for', xff);
  out.push('x-forwarded-proto', trust && xfProto !== null ? xfProto : ctx.secure === true ? 'https' : 'http');
  // the Host as routed (lower case, no trailing dot), port as sent: the upstream reads what was authorized
  const clientHost = normalizedHostHeader(headerValue(h, 'host') ?? '') ?? '';
  if (clientHost !== '' || (trust && xfHost !== null)) out.push('x-forwarded-host', trust && xfHost !== null ? xfHost : clientHost);
  // the verified client certificate (mTLS listener), Envoy's XFCC format; a client's own copy never passes
  if (ctx.clientCert != null) out.push('x-forwarded-client-cert', xfcc(ctx.clientCert));
  const hostMode = up.config.host;
  const hostIdx = hostMode === 'target' ? out.length + 1 : -1; // filled per picked target
  out.push('host', hostMode === 'preserve' ? (clientHost || up.targets[0]!.hostPort) : hostMode === 'target' ? '' : hostMode);

  let p = ctx.path;
  const strip = route.strip_prefix;
  if (strip !== undefined) {
    const routed = stripParams(p); // the path routed on: segments without ;parameters
    if (routed === p) { if (p.startsWith(strip)) p = p.slice(strip.length) || '/'; }
    // with parameters, drop the prefix's segments whole (their ;parameters go with them)
    else if (routed.startsWith(strip)) p = dropSegments(p, strip.split('/').length - 1) || '/';
  }
  if (p[0] !== '/') p = '/' + p;
  const prefix = up.config.path_prefix;
  if (prefix !== '') p = p === '/' ? prefix : prefix + p;
  // a stripped credential leaves the query too, not only the Authorization header
  const query = stripAuth ? forwardedQuery(ctx) : ctx.query;
  if (query !== '') p = `${p}?${query}`;
  return { upstream: up, path: p, headers: out, hostIdx };
}

/** `path` without its first `n` segments ("/a;x/b/c", 1 → "/b/c"); '' when nothing is left. */
function dropSegments(path: string, n: number): string {
  let i = 0;
  for (let k = 0; k <= n; k++) {
    i = path.indexOf('/', i + (k === 0 ? 0 : 1));
    if (i === -1) return '';
  }
  return path.slice(i);
}

const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;

/**
 * `v` with every character outside printable ASCII written as RFC 4514 hex pairs of its UTF-8 bytes
 * (`注` → `\E6\B3\A8`, as Envoy prints a subject): a header value carries Latin-1 at most, so a
 * certificate naming its holder in CJK or emoji would otherwise make every request of that client
 * unforwardable (400), and a Latin-1 name would reach the upstream as bytes that are not UTF-8.
 */
function asciiOnly(v: string): string {
  if (!NOT_PRINTABLE_ASCII.test(v)) return v;
  let out = '';
  for (const ch of v) {
    if (!NOT_PRINTABLE_ASCII.test(ch)) { out += ch; continue; }
    for (const b of Buffer.from(ch, 'utf8')) out += `\\${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Envoy's x-forwarded-client-cert value: Hash (hex SHA-256 of the DER), Subject, URI and DNS SANs;
 * non-ASCII written as hex pairs (asciiOnly), then quoted values escape `"` and `\\`.
 */
export function xfcc(c: ClientCertificate): string {
  const q = (v: string): string => `"${v.replace(/["\\]/g, (m) => `\\${m}`)}"`;
  const parts = [`Hash=${Buffer.from(c.thumbprint, 'base64url').toString('hex')}`, `Subject=${q(asciiOnly(c.subject))}`];
  const v = (raw: string): string => { const x = asciiOnly(raw); return /[;,="\\]/.test(x) ? q(x) : x; };
  for (const u of c.uris) parts.push(`URI=${v(u)}`);
  for (const d of c.dns) parts.push(`DNS=${v(d)}`);
  return parts.join(';');
}
