// An upstream's `WWW-Authenticate` on a request the proxy authenticated: the proxy is that route's
// authentication authority, so only Bearer/DPoP challenges pass, with the parameters that ask the
// client for a better token (RFC 6750 §3, RFC 9470, RFC 9449) — never one that sends it elsewhere.
import type { RequestContext } from './context.js';

/** `portcullis_upstream_errors_total{kind}` of an answer whose challenges were filtered. */
export const CHALLENGE_FILTERED = 'challenge_filtered';

/** Schemes the proxy itself takes (lower-case). */
const SCHEMES: ReadonlySet<string> = new Set(['bearer', 'dpop']);
/**
 * Parameters kept (lower-case): RFC 6750 §3 `realm`, `scope`, `error`, `error_description`; RFC 9470
 * `acr_values`, `max_age`; RFC 9449 `algs`; RFC 6750 §3 `error_uri` only as errorUri below allows. Dropped:
 * anything a client acts on as a place — RFC 9728 `resource_metadata` (a client looks up its authorization
 * server there), Azure's `authorization_uri` — and whatever else the proxy cannot vouch for.
 */
const PARAMS: ReadonlySet<string> = new Set(['realm', 'scope', 'error', 'error_description', 'acr_values', 'max_age', 'algs']);
const PARAM_NAMES: readonly string[] = [...PARAMS];

/** Is value[s, e) a kept parameter's name, in any case? Compared in place: a 64 KiB value of `name=` allocates nothing per name. */
function keptName(value: string, s: number, e: number): boolean {
  next: for (const p of PARAM_NAMES) {
    if (p.length !== e - s) continue;
    for (let j = 0; j < p.length; j++) {
      let c = value.charCodeAt(s + j);
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      if (c !== p.charCodeAt(j)) continue next;
    }
    return true;
  }
  return false;
}

/** Longest `error_uri` kept (characters between the quotes): a help page's address, not a payload. */
const MAX_ERROR_URI = 2048;

/**
 * Whether an `error_uri` value (as written, quotes included) passes: RFC 6750 §3 makes it an absolute URI of a
 * human-readable page — what Spring Security sends on every 401 (`"https://tools.ietf.org/html/rfc6750#section-3.1"`).
 * Kept only quoted, of RFC 6750's characters (%x21 / %x23-5B / %x5D-7E: no space, quote or backslash), at most
 * MAX_ERROR_URI long, an `https:` URL with a host and no userinfo (`https://login.example@evil.example/` reads as
 * another site); `http:`, `javascript:`, `data:`, relative references and anything else are dropped.
 */
function errorUri(raw: string): boolean {
  const n = raw.length;
  if (n < 10 || n > MAX_ERROR_URI + 2 || raw.charCodeAt(0) !== 0x22 || raw.charCodeAt(n - 1) !== 0x22) return false;
  for (let i = 1; i < n - 1; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  const text = raw.slice(1, -1);
  if (text.slice(0, 8).toLowerCase() !== 'https://') return false;
  const authority = text.slice(8).split(/[/?#]/, 1)[0]!;
  if (authority === '' || authority.includes('@')) return false;
  return URL.canParse(text);
}

/**
 * Whether an auth-param (`name=value` as written, name lower-cased) passes the filter: a kept name whose value
 * spells no dropped one (spellsParam below — an `error_uri` with `?resource_metadata=` in its query too).
 */
function passes(p: string): boolean {
  const eq = p.indexOf('=');
  const name = p.slice(0, eq);
  const value = p.slice(eq + 1);
  return (PARAMS.has(name) || (name === 'error_uri' && errorUri(value))) && !spellsParam(value);
}

/**
 * RFC 9110 tchar and token68 characters by char code: a table, not a regex per character — an upstream
 * head may be 64 KiB, and a regex test per character held the event loop ~9 ms on one such field.
 */
const TCHAR = new Uint8Array(128);
const TOKEN68 = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  TCHAR[c] = alnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)) ? 1 : 0;
  TOKEN68[c] = alnum || '-._~+/'.includes(String.fromCharCode(c)) ? 1 : 0;
}
const isIn = (table: Uint8Array, c: number): boolean => c < 128 && table[c] === 1;

/**
 * Whether char code `c` may stand between a name and its `=` for a client reading the field by regex: SP and
 * HTAB (BWS), and what a `\s` takes beyond them in a latin1 head — obs-text (0x80–0xFF: NBSP 0xA0 is JavaScript's
 * `\s`, NEL 0x85 Python's) — and a backslash (a client unescaping the field first reads `name\=` as `name=`).
 */
const gap = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x5c || c >= 0x80;

/**
 * True when a quoted value spells `name=` (gaps above allowed) for a name not kept: a client that finds a parameter
 * by a regex over the whole field (`/resource_metadata\s*=\s*([^,\s]+)/`, as MCP clients do) reads it
 * there — `error_description="resource_metadata=https://evil.example/…"` steered it as the parameter would
 * (before, with NBSP before the `=` it passed: a `\s*` reads NBSP as a space).
 */
function spellsParam(value: string): boolean {
  for (let eq = value.indexOf('='); eq !== -1; eq = value.indexOf('=', eq + 1)) {
    let e = eq;
    while (e > 0 && gap(value.charCodeAt(e - 1))) e--;
    let s = e;
    while (s > 0 && isIn(TCHAR, value.charCodeAt(s - 1))) s--;
    if (s < e && !keptName(value, s, e)) return true;
  }
  return false;
}

/** One challenge: scheme and its auth-params as raw `name=value` texts. */
interface Challenge { scheme: string; params: string[]; keep: boolean }

/**
 * Parse a field value as RFC 9110 §11.6.1 `#challenge`; null when it is not one (the field is then
 * dropped: closed). Token68 forms (`Negotiate YII…`) parse as a challenge that is never kept.
 */
function parse(v: string): Challenge[] | null {
  const out: Challenge[] = [];
  let i = 0;
  const n = v.length;
  const ows = (): void => { for (let c = v.charCodeAt(i); c === 0x20 || c === 0x09; c = v.charCodeAt(++i)); };
  const token = (): string => { const s = i; while (i < n && isIn(TCHAR, v.charCodeAt(i))) i++; return v.slice(s, i); };
  const quoted = (): boolean => {
    if (v[i] !== '"') return false;
    for (i++; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c === 0x22) { i++; return true; }
      if (c === 0x5c) i++;
      else if (c < 0x20 && c !== 0x09) return false;
    }
    return false;
  };
  let cur: Challenge | null = null;
  while (i < n) {
    ows();
    if (v[i] === ',') { i++; continue; }
    if (i >= n) break;
    const start = i;
    const name = token();
    if (name === '') return null;
    const afterName = i;
    ows();
    if (cur !== null && v[i] === '=') {
      // an auth-param of the current challenge: token BWS "=" BWS ( token / quoted-string )
      i++; ows();
      const vs = i;
      if (v[i] === '"') { if (!quoted()) return null; } else if (token() === '') return null;
      cur.params.push(`${name.toLowerCase()}=${v.slice(vs, i)}`);
      ows();
      if (i < n && v[i] !== ',') return null;
      continue;
    }
    // a new challenge: its scheme, then auth-params (read by the loop), a token68, or nothing
    i = afterName;
    cur = { scheme: v.slice(start, afterName), params: [], keep: SCHEMES.has(name.toLowerCase()) };
    out.push(cur);
    if (i < n && v[i] !== ' ' && v[i] !== ',') return null;
    ows();
    const t = i;
    while (i < n && isIn(TOKEN68, v.charCodeAt(i))) i++;
    if (i > t) {
      let q = i;
      while (q < n && v[q] === '=') q++;
      while (q < n && (v[q] === ' ' || v[q] === '\t')) q++;
      // a token68 (`Negotiate YII…`, `Basic dXNlcjpw`): never kept; else the run was an auth-param's name
      if (q >= n || v[q] === ',') { cur.keep = false; i = q; continue; }
      i = t;
    }
  }
  return out;
}

/**
 * The value a kept field carries: its Bearer/DPoP challenges with the allowed parameters, or null for
 * none; `v` itself, as the upstream wrote it, when nothing was dropped (a spelling the rebuilt value would
 * differ in — `a="x",b="y"`, `Realm=`, `realm = "x"` — is no filtering: neither rewritten nor counted).
 */
function filtered(v: string): string | null {
  const cs = parse(v);
  if (cs === null) return null;
  const kept: string[] = [];
  let dropped = false;
  for (const c of cs) {
    if (!c.keep) { dropped = true; continue; }
    const ps = c.params.filter(passes);
    if (ps.length !== c.params.length) dropped = true;
    kept.push(ps.length === 0 ? c.scheme : `${c.scheme} ${ps.join(', ')}`);
  }
  if (kept.length === 0) return null; // an empty field (`WWW-Authenticate: ` or `, ,`) is no challenge: a 401 gets the proxy's own
  return dropped ? kept.join(', ') : v;
}

/**
 * `headers` (flat [lower-cased name, value…]) as the client may see them: unchanged unless the proxy
 * verified a token for this request and the upstream sent `WWW-Authenticate`; then a copy with each
 * such field filtered (above), dropped when nothing is left. A 401 left without any gets
 * `Bearer realm="<realm>"` (RFC 9110 §15.5.2: a 401 carries a challenge). `headers` itself when the
 * filter changed nothing (the caller counts a different array as filtered); no allocation then but the parse.
 */
export function upstreamChallenges(ctx: RequestContext, status: number, headers: readonly string[], realm: string): readonly string[] {
  if (ctx.principal === null) return headers;
  let found = false;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'www-authenticate') { found = true; break; }
  if (!found) return headers;
  const out: string[] = [];
  let left = 0;
  let changed = false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'www-authenticate') { out.push(headers[i]!, headers[i + 1]!); continue; }
    const v = filtered(headers[i + 1]!);
    if (v !== headers[i + 1]) changed = true;
    if (v !== null) { out.push('www-authenticate', v); left++; }
  }
  if (!changed) return headers;
  if (left === 0 && status === 401) out.push('www-authenticate', `Bearer realm="${realm.replace(/["\\]/g, '\\$&')}"`);
  return out;
}
