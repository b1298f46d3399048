// Issuer entries that verify against the proxy's own JWKS must name the proxy's own issuer (internal_tokens.issuer):
// any other `issuer` there is a former internal issuer name, whose tokens the keys still verify, taken as an ordinary
// issuer on every route naming no issuers. Decided from the URL written (own-admin-target.ts says which hosts are this one).
import type { ConfigProblem } from './problem.js';
import { hostFacts, reachesListener, urlPort } from './own-admin-target.js';
import { normalizePath } from '../routing/path-normalize.js';

/** The parts of a config this check reads (a lenient shape: crossCheck also runs on schema-invalid documents). */
interface Shape {
  readonly server?: { readonly listen?: { readonly host?: string; readonly port?: number }; readonly http2?: { readonly listen?: { readonly host?: string; readonly port?: number } } };
  readonly internal_tokens?: { readonly issuer?: string; readonly jwks_uri?: string };
  readonly issuers?: Readonly<Record<string, { readonly issuer?: unknown; readonly jwks_uri?: unknown } | undefined>>;
}

/** Where the proxy serves its JWKS on its own listeners (main and HTTP/2, before routing). */
const JWKS_PATH = '/.well-known/jwks.json';

/**
 * A URL as the server it names reads it: scheme, host (lower case, without one trailing dot), port (80/443 when none
 * is written) and the path as the proxy routes it (normalizePath: `%6A` decoded, `//` and dot segments gone); the query
 * and fragment dropped (the proxy's JWKS ignores them). Null when not a URL or a path the proxy refuses (400).
 */
function served(text: string): { readonly origin: string; readonly path: string } | null {
  let url: URL;
  try { url = new URL(text); } catch { return null; }
  const path = normalizePath(url.pathname);
  if (path === null) return null;
  return { origin: `${url.protocol}//${url.hostname.replace(/\.$/, '')}:${urlPort(url)}`, path };
}

/**
 * True when `text` is the proxy's published JWKS URL, or names the JWKS path on one of its own listeners — in any
 * spelling that reaches the same document. Before, only the exact text of the published URL and the exact path
 * counted: `https://PORTCULLIS.internal/...`, `:443`, a trailing dot, `/.well-known/%6Awks.json` or `//.well-known/...`
 * fetched the same keys and passed.
 */
function isOwnJwks(text: string, cfg: Shape, published: string): boolean {
  if (text === published) return true;
  const u = served(text);
  if (u === null) return false;
  const p = served(published);
  if (p !== null && u.origin === p.origin && u.path === p.path) return true;
  if (u.path !== JWKS_PATH) return false;
  const url = new URL(text);
  const facts = hostFacts();
  for (const l of [cfg.server?.listen, cfg.server?.http2?.listen]) {
    const port = l?.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || urlPort(url) !== port) continue;
    if (reachesListener(url, l?.host ?? '0.0.0.0', facts)) return true;
  }
  return false;
}

/**
 * Every issuer entry whose `jwks_uri` is the proxy's own JWKS but whose `issuer` is not `internal_tokens.issuer`.
 * Before, renaming `internal_tokens.issuer` (a reload or restart) left such an entry an ordinary issuer: every route
 * naming no issuers took the tokens minted under the old name until their `exp`. Empty without internal_tokens.
 */
export function ownJwksIssuerProblems(cfg: Shape): ConfigProblem[] {
  const own = cfg.internal_tokens?.issuer;
  if (typeof own !== 'string' || own === '') return [];
  const published = cfg.internal_tokens?.jwks_uri ?? `${own.replace(/\/+$/, '')}${JWKS_PATH}`;
  const out: ConfigProblem[] = [];
  for (const [name, e] of Object.entries(cfg.issuers ?? {})) {
    if (typeof e?.jwks_uri !== 'string' || typeof e.issuer !== 'string' || e.issuer === own) continue;
    if (!isOwnJwks(e.jwks_uri, cfg, published)) continue;
    out.push({ path: `issuers.${name}.issuer`, message: `this entry verifies against the proxy's own JWKS (${e.jwks_uri}) but names another issuer than internal_tokens.issuer (${own}): the proxy's keys would be an ordinary issuer's — tokens minted under a former internal issuer name taken on every route naming no issuers; name ${own} here, or remove the entry` });
  }
  return out;
}

/**
 * On a reload (or a policy version): every issuer entry of `next` that names the `internal_tokens.issuer` the running
 * config had, when `next` renames or removes it. Its keys stay in the JWKS until `max_ttl_s` after their last
 * signature, so such an entry — on any `jwks_uri` that reaches the proxy, under any name — took the tokens minted
 * under the old name as an ordinary issuer's on every route naming no issuers. A restart does not know the old name.
 */
export function formerInternalIssuerProblems(running: Shape, next: Shape): ConfigProblem[] {
  const former = running.internal_tokens?.issuer;
  if (typeof former !== 'string' || former === next.internal_tokens?.issuer) return [];
  return Object.entries(next.issuers ?? {}).filter(([, e]) => e?.issuer === former).map(([name]) => ({
    path: `issuers.${name}.issuer`,
    message: `names ${former}, the internal_tokens.issuer this reload ${next.internal_tokens?.issuer === undefined ? 'removes' : `renames to ${next.internal_tokens.issuer}`}: the tokens minted under it would be an ordinary issuer's, taken on every route naming no issuers until their exp; rename this entry in the same reload, or remove it`,
  }));
}
