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

/** `ccess` in any ASCII case at q[i+1..i+5] (`c | 0x20` is a lower-case letter only for that letter and its upper case). */
function ccessAt(q: string, i: number): boolean {
  return (q.charCodeAt(i + 1) | 0x20) === 0x63 && (q.charCodeAt(i + 2) | 0x20) === 0x63 && (q.charCodeAt(i + 3) | 0x20) === 0x65
    && (q.charCodeAt(i + 4) | 0x20) === 0x73 && (q.charCodeAt(i + 5) | 0x20) === 0x73;
}

/**
 * False when no parameter name of `query` (the text before a `=` after the start, a `&` or a `;`; values
 * are skipped by indexOf, never read) can be one queryTokensFull counts: every such name has a `%`, a
 * non-ASCII char (`ſ`, the Kelvin sign… fold to letters of it) or `access` in some ASCII case — without
 * `%` our reading, PHP's, qs's, Rack's and a case-insensitive one are the name's own ASCII letters.
 * The names queryTokensFull reads (a `&` piece up to its first `=`, which may run over `;`, and each
 * `;` piece after it) lie within the ones scanned here, and `access` never spans a `;`.
 */
function namesMayRead(query: string): boolean {
  const n = query.length;
  let amp = -1;
  let semi = -1;
  let i = 0;
  while (i < n) {
    let c = query.charCodeAt(i);
    while (c !== 0x3d && c !== 0x26 && c !== 0x3b) { // name: up to `=`, `&` or `;`
      if (c === 0x25 || c >= 0x80 || ((c | 0x20) === 0x61 && ccessAt(query, i))) return true;
      if (++i === n) return false;
      c = query.charCodeAt(i);
    }
    if (c !== 0x3d) { i++; continue; }
    // value: up to the next `&` or `;` (each found once, not per parameter when absent)
    if (amp < i) { amp = query.indexOf('&', i); if (amp === -1) amp = n; }
    if (semi < i) { semi = query.indexOf(';', i); if (semi === -1) semi = n; }
    i = (amp < semi ? amp : semi) + 1;
  }
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
  if (query.indexOf('%') === -1 && query.indexOf('cc') === -1 && query.indexOf('CC') === -1 && query.indexOf('cC') === -1
    && query.indexOf('Cc') === -1) return null;
  return namesMayRead(query) ? queryTokensFull(query) : null;
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
