// The upstream's response head (and trailers) as node:http2 / node:http want them for the client:
// connection-specific fields dropped, duplicates as arrays, the pipeline's own fields added to the head.
import { connectionNamed, POLICY_HEADER, PRIVATE_NAME, PRIVATE_VALUE, RESPONSE_DROPPED } from '../pipeline/index.js';

/**
 * The upstream's response headers for the client: hop-by-hop and Connection-named fields dropped
 * (HTTP/2 forbids connection-specific fields), duplicates kept as arrays, plus the pipeline's own.
 * `keepLength`: HEAD/304 keep the representation's Content-Length.
 */
export function responseHeaders(h: readonly string[], extra: readonly string[] | null, keepLength: boolean, policy: string | null = null): Record<string, string | string[]> {
  let connection: string | null = null;
  for (let i = 0; i < h.length; i += 2) if (h[i] === 'connection') connection = connection === null ? h[i + 1]! : `${connection},${h[i + 1]!}`;
  const named = connectionNamed(connection);
  // no prototype: a field named `__proto__` (or `0`, `length` after it) is a field like any other
  const out: Record<string, string | string[]> = Object.create(null);
  const add = (k: string, v: string): void => {
    const cur = out[k];
    out[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
  };
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    if (RESPONSE_DROPPED.has(k)) { if (k === 'content-length' && keepLength) add(k, h[i + 1]!); continue; }
    if (named !== null && named.has(k)) continue;
    if (policy !== null && k === POLICY_HEADER) continue; // only the proxy names its policy
    add(k, h[i + 1]!);
  }
  if (extra !== null) for (let i = 0; i < extra.length; i += 2) add(extra[i]!, extra[i + 1]!);
  if (policy !== null) out[POLICY_HEADER] = policy;
  return out;
}

/** `Cache-Control: private` beside the upstream's own lines (node/pipeline/cache-privacy.ts). */
export function addPrivate(out: Record<string, string | string[]>): void {
  const cc = out[PRIVATE_NAME];
  out[PRIVATE_NAME] = cc === undefined ? PRIVATE_VALUE : Array.isArray(cc) ? [...cc, PRIVATE_VALUE] : [cc, PRIVATE_VALUE];
}

/**
 * An HTTP/2 upstream's trailers for an HTTP/2 client: dropped as in the head (hop-by-hop,
 * Connection-named), and with `policy` (cluster.policy.response_header on) the upstream's own
 * X-Portcullis-Policy too — only the proxy names its policy, in the head, never in trailers.
 */
export function responseTrailers(t: readonly string[], policy: string | null): Record<string, string | string[]> {
  const out = responseHeaders(t, null, false);
  if (policy !== null) delete out[POLICY_HEADER];
  return out;
}
