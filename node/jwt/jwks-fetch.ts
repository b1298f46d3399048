// HTTP side of the JWKS actor: discovery URLs (OIDC and RFC 8414), a bounded JSON
// GET over undici with a total timeout, and Cache-Control max-age parsing.
// Never rejects: failures come back as `{ ok: false, message }` (no token, no body). A document
// declared HTML is refused whatever its body: a login or error page in front of the IdP, not its keys.
import type { Dispatcher } from 'undici';
import { undici } from '../lazy-packages.js';

/** Discovery documents and JWKS larger than this are refused. */
export const MAX_DOC_BYTES = 512 * 1024; // 512 KiB

export type FetchResult =
  | { readonly ok: true; readonly body: unknown; /** null when the response set no max-age. */ readonly maxAgeS: number | null }
  | { readonly ok: false; readonly message: string };

/** `max-age` from a Cache-Control value; no-store / no-cache count as 0. */
export function parseMaxAge(cc: string | string[] | undefined): number | null {
  if (cc === undefined) return null;
  const v = (Array.isArray(cc) ? cc.join(',') : cc).toLowerCase();
  if (/(?:^|[\s,])no-(?:store|cache)(?:$|[\s,=])/.test(v)) return 0;
  const m = /(?:^|[\s,])max-age\s*=\s*"?(\d+)"?/.exec(v);
  return m === null ? null : Number(m[1]);
}

/**
 * Where to look for the issuer's metadata: the configured document (a URL containing
 * /.well-known/), else `<base>/.well-known/openid-configuration` then the RFC 8414 form
 * `<origin>/.well-known/oauth-authorization-server<path>`.
 */
export function discoveryUrls(issuer: string, discovery: boolean | string): string[] {
  if (typeof discovery === 'string' && discovery.includes('/.well-known/')) return [discovery];
  const base = (typeof discovery === 'string' ? discovery : issuer).replace(/\/+$/, '');
  const u = new URL(base);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  return [`${base}/.well-known/openid-configuration`, `${u.origin}/.well-known/oauth-authorization-server${path}`];
}

/**
 * An endpoint URL named by a metadata document fetched from `docUrl`: the URL, `'missing'` when it is
 * absent or not http(s), `'downgrade'` when the document came over https but names a plain http
 * endpoint — keys fetched there could be swapped on the path and a client secret sent there read (an
 * identity provider behind a TLS proxy that does not know it is, Keycloak's classic, writes such URLs).
 */
export function metadataEndpoint(docUrl: string, value: unknown): string | 'missing' | 'downgrade' {
  if (typeof value !== 'string' || !/^https?:\/\//i.test(value)) return 'missing';
  if (/^https:/i.test(docUrl) && !/^https:/i.test(value)) return 'downgrade';
  return value;
}

/** GET `url` as JSON within `timeoutMs` (whole exchange), refusing bodies over MAX_DOC_BYTES; `signal` cancels. */
export async function fetchJson(url: string, opts: { dispatcher: Dispatcher; timeoutMs: number; signal: AbortSignal }): Promise<FetchResult> {
  // one controller per fetch (AbortSignal.any on a long-lived signal retains its dependants in Node 20)
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, opts.timeoutMs);
  timer.unref();
  const cancel = (): void => ctl.abort();
  if (opts.signal.aborted) ctl.abort(); else opts.signal.addEventListener('abort', cancel, { once: true });
  try {
    return await get(url, opts.dispatcher, opts.timeoutMs, ctl.signal);
  } catch (err) {
    return { ok: false, message: timedOut ? 'timed out' : ctl.signal.aborted ? 'aborted' : describe(err) };
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', cancel);
  }
}

async function get(url: string, dispatcher: Dispatcher, timeoutMs: number, signal: AbortSignal): Promise<FetchResult> {
  const res = await undici().request(url, {
    method: 'GET',
    headers: { accept: 'application/json, application/jwk-set+json' },
    dispatcher,
    signal,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => {});
    return { ok: false, message: `HTTP ${res.statusCode}` };
  }
  // RFC 7517 §8.5 registers application/jwk-set+json; IdPs send application/json, some text/plain, some none: taken.
  // HTML is what a portal, a login redirect's target or a proxy's error page sends — never an IdP's metadata or keys.
  const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/html' || type === 'application/xhtml+xml') {
    await res.body.dump().catch(() => {});
    return { ok: false, message: `served as ${type}, not JSON (a login or error page in front of the identity provider?)` };
  }
  const declared = Number(res.headers['content-length'] ?? 0);
  if (declared > MAX_DOC_BYTES) {
    res.body.destroy();
    return { ok: false, message: `document exceeds ${MAX_DOC_BYTES} bytes` };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_DOC_BYTES) {
      res.body.destroy();
      return { ok: false, message: `document exceeds ${MAX_DOC_BYTES} bytes` };
    }
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return { ok: false, message: 'response is not JSON' };
  }
  return { ok: true, body, maxAgeS: parseMaxAge(res.headers['cache-control']) };
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === 'string' ? e.code : typeof e?.message === 'string' ? e.message : 'request failed';
}
