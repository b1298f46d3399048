// The query half of the extract stage: the `access_token` values of a raw query string, and the
// names other parsers read as it (name-readings.ts) as a second credential. Runs on every request
// with a query: a scan of the parameter names' char codes decides first whether any could be one.
import { readElsewhereAsAccessToken } from './name-readings.js';

/** application/x-www-form-urlencoded decoding of `s`; null when it is not valid percent-encoded UTF-8. */
export function formDecode(s: string): string | null {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s;
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return null; }
}

/** A value no b64token check accepts: stands for an `access_token` spelled so only some upstream parsers read it. */
export const AMBIGUOUS = ';';

/**
 * Chars taken by the letter `lower` (a, c or e) at q[j], in either ASCII case or as its `%XX` escape
 * (`%61`/`%41` for a): 3, 1, or 0 when something else is there. `c | 0x20` is `lower` only for that
 * letter and its upper case; no other char — and no UTF-8 sequence — decodes or case-folds to a, c or e.
 */
function letterAt(q: string, j: number, lower: number): number {
  const c = q.charCodeAt(j);
  if ((c | 0x20) === lower) return 1;
  if (c !== 0x25) return 0;
  const h = q.charCodeAt(j + 1);
  return (h === 0x36 || h === 0x34) && q.charCodeAt(j + 2) === 0x30 + (lower & 0xf) ? 3 : 0;
}

/** `acce` at q[i] in any case, any letter of it possibly escaped. */
function acceAt(q: string, i: number): boolean {
  let j = i;
  let l = letterAt(q, j, 0x61);
  if (l === 0) return false;
  if ((l = letterAt(q, (j += l), 0x63)) === 0) return false;
  if ((l = letterAt(q, (j += l), 0x63)) === 0) return false;
  return letterAt(q, j + l, 0x65) !== 0;
}

/**
 * Start of the first `&` piece of `query` with a parameter name queryTokensFull may count, -1 when none
 * (names: the text before a `=` after the start, a `&` or a `;`; values are skipped by indexOf, never
 * read). Each such name, as we, PHP, qs, Rack or a case-insensitive collection read it, holds `acce` in
 * some ASCII case (`access`; `ſ` and the Kelvin sign fold only to s and k), so its raw bytes hold it with
 * any letter possibly `%XX`-escaped. The names queryTokensFull reads (a `&` piece up to its first `=`,
 * which may run over `;`, and each `;` piece after it) lie within the ones scanned here, `acce` never
 * spans a `;`, and a `&` piece without such a name adds nothing: the pieces before the one returned
 * need no parse.
 */
function firstReadablePart(query: string): number {
  const n = query.length;
  let amp = -1;
  let semi = -1;
  let part = 0;
  let i = 0;
  while (i < n) {
    let c = query.charCodeAt(i);
    while (c !== 0x3d && c !== 0x26 && c !== 0x3b) { // name: up to `=`, `&` or `;`
      if (((c | 0x20) === 0x61 || c === 0x25) && acceAt(query, i)) return part;
      if (++i === n) return -1;
      c = query.charCodeAt(i);
    }
    if (c === 0x26) part = i + 1;
    if (c !== 0x3d) { i++; continue; }
    // value: up to the next `&` or `;` (each found once, not per parameter when absent)
    if (amp < i) { amp = query.indexOf('&', i); if (amp === -1) amp = n; }
    if (semi < i) { semi = query.indexOf(';', i); if (semi === -1) semi = n; }
    if (amp < semi) { i = amp + 1; part = i; } else i = semi + 1;
  }
  return -1;
}

/**
 * `cc` in some ASCII case in `q` (or more than 16 `c`/`C`: then the name scan decides), found by
 * single-char indexOf — memchr speed, where a two-char search sets one up per call.
 */
function mayHaveCc(q: string): boolean {
  let hits = 0;
  for (let i = q.indexOf('c'); i !== -1; i = q.indexOf('c', i + 1)) {
    if (++hits > 16 || (q.charCodeAt(i + 1) | 0x20) === 0x63 || (q.charCodeAt(i - 1) | 0x20) === 0x63) return true;
  }
  for (let i = q.indexOf('C'); i !== -1; i = q.indexOf('C', i + 1)) if (++hits > 16 || q.charCodeAt(i + 1) === 0x43) return true;
  return false;
}

/**
 * `access_token` values of a raw query string (application/x-www-form-urlencoded, RFC 6750 §2.3), null
 * when there is none. Also the ones only other parsers see — after a `;` separator (older frameworks,
 * Python before 3.9.2), or under a name they mangle or fold (name-readings.ts) — as AMBIGUOUS: never
 * a credential, but a second one next to another, so no unverified token rides along to an upstream.
 */
export function queryTokens(query: string): string[] | null {
  // first a few memchr-speed scans of the whole query: a name without `%` is read as access_token only
  // when it has `cc` in some ASCII case (no other char lower-cases to `c`, none decodes to it without `%`)
  if (query.indexOf('%') === -1 && !mayHaveCc(query)) return null;
  const from = firstReadablePart(query);
  return from === -1 ? null : queryTokensFull(from === 0 ? query : query.slice(from));
}

/** queryTokens without the name scan: every parameter split, decoded and read (exported for the test that both agree). */
export function queryTokensFull(query: string): string[] | null {
  let out: string[] | null = null;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const raw = eq === -1 ? part : part.slice(0, eq);
    const key = formDecode(raw);
    if (key === 'access_token') (out ??= []).push(eq === -1 ? '' : part.slice(eq + 1));
    else if (readElsewhereAsAccessToken(raw, key)) (out ??= []).push(AMBIGUOUS);
    // `a=1;access_token=…`: one parameter here, two where `;` separates
    const semi = part.indexOf(';');
    if (semi === -1) continue;
    for (const sub of part.slice(semi + 1).split(';')) {
      const e = sub.indexOf('=');
      const r = e === -1 ? sub : sub.slice(0, e);
      const k = formDecode(r);
      if (k === 'access_token' || readElsewhereAsAccessToken(r, k)) (out ??= []).push(AMBIGUOUS);
    }
  }
  return out;
}
