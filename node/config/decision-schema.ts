// server.decision: the forward-auth decision endpoints on the main listener (node/decision),
// in its own file to keep schema.ts under the size limit; schema.ts nests it under `server`.
import { z } from 'zod';
import { parseCidr } from './cidr.js';

/** A CIDR block `address/prefix` (IPv4 or IPv6); a bare address is one host. */
const cidr = z.string().refine((c) => parseCidr(c) !== null, 'an IPv4 or IPv6 address or CIDR block (10.0.0.0/8, fd00::/8)');

/** server.decision: forward-auth endpoints on the main listener (node/decision). */
export const decisionSchema = z.strictObject({
  endpoints: z.array(z.strictObject({
    /**
     * nginx/traefik/auto: the exact path the edge calls. envoy: a prefix — Envoy's HTTP ext_authz
     * appends the original path to its `path_prefix`. Starts with `/`, no query, no trailing `/`.
     */
    path: z.string().regex(/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~\-]$/, 'an absolute path of unreserved characters without a trailing /'),
    /** How the edge reports the original request: auto = X-Original-URI (nginx) else X-Forwarded-Uri (Traefik, Caddy, HAProxy). */
    dialect: z.enum(['auto', 'nginx', 'traefik', 'envoy']).default('auto'),
  })).default([]).superRefine((eps, ctx) => {
    const seen = new Map<string, number>();
    eps.forEach((e, i) => {
      const first = seen.get(e.path);
      // the path is not quoted: config errors never echo a typed value (README: config errors)
      if (first !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'path'], message: `the same path as endpoints[${first}]` });
      else seen.set(e.path, i);
    });
  }),
  /**
   * Peers allowed to call a decision endpoint (the edges): the original request they report is
   * believed only from these. Anyone else gets 403 PORTCULLIS_ERR_DECISION_UNTRUSTED_EDGE. Default loopback.
   */
  trusted_edges: z.array(cidr).min(1).default(['127.0.0.0/8', '::1/128']),
  /**
   * Envoy ext_authz over gRPC (`/envoy.service.auth.v3.Authorization/Check`) on the HTTP/2
   * listener (server.http2 required). Default off: the path is then routed like any other.
   */
  grpc: z.boolean().default(false),
  /**
   * Also serve the decision endpoints (only them) on a unix-domain socket: the edge on the same
   * host skips loopback TCP and Portcullis skips reading and checking the peer address per call.
   * Who may connect is decided by the socket file's mode and owner, not trusted_edges. With
   * server.workers > 1, worker N (0-based) listens on `<path>.<N>`.
   */
  unix_socket: z.strictObject({
    /** Absolute path; a stale socket file there is replaced, any other file is an error. */
    path: z.string().regex(/^\/[^\0]{1,100}$/, 'an absolute path of at most 101 bytes (sun_path limit)'),
    /** File mode of the socket, octal: the edge's user must be able to write it (default owner and group). */
    mode: z.string().regex(/^0?[0-7]{3}$/, 'an octal file mode like 0660').default('0660'),
  }).optional(),
}).default({});

export type DecisionConfig = z.infer<typeof decisionSchema>;

/** server: decision.grpc needs the HTTP/2 listener (the Check service is served on it only). */
export function grpcNeedsHttp2(s: { decision: DecisionConfig; http2?: unknown }, ctx: z.RefinementCtx): void {
  if (s.decision.grpc && s.http2 === undefined) ctx.addIssue({ code: 'custom', path: ['decision', 'grpc'], message: 'needs server.http2 (Envoy ext_authz gRPC is served on the HTTP/2 listener)' });
}
