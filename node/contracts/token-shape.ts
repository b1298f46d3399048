// Whether operator-written text is (or carries) a compact JWS/JWE: a revocation's jti/sub/… value or
// its reason that holds a raw token is refused and never stored, sent on the bus or audited as written;
// and a request path as logs and spans show it, a token sent as a path segment named by fingerprint.
import { createHash } from 'node:crypto';

/** A compact JWS (3 parts) or JWE (5 parts), optionally after `Bearer `/`DPoP `, whose header is a JSON object with `alg`. */
const COMPACT = /^(?:(?:bearer|dpop)\s+)?([A-Za-z0-9_-]{8,})((?:\.[A-Za-z0-9_-]*){2}|(?:\.[A-Za-z0-9_-]*){4})$/i;

function isJoseHeader(segment: string): boolean {
  const text = Buffer.from(segment, 'base64url').toString('utf8');
  // no object ends there: not parsed (a JSON.parse that throws costs ~10–50 µs, its SyntaxError built)
  if (!/\}\s*$/.test(text)) return false;
  try {
    const h = JSON.parse(text) as unknown;
    return h !== null && typeof h === 'object' && !Array.isArray(h) && typeof (h as Record<string, unknown>).alg === 'string';
  } catch {
    return false;
  }
}

/** True when `text` is a compact JWS/JWE (its header decodes to a JSON object naming `alg`), whitespace at its ends aside. Never throws. */
export function isCompactToken(text: string): boolean {
  // a kid value may end in a space (revocation-request.ts keeps it): a token pasted with one is still a token (trim: linear)
  const m = COMPACT.exec(text.trim());
  return m !== null && isJoseHeader(m[1]!);
}

/** True when `text` contains a compact JWS/JWE anywhere (a token pasted into a free-text field). Never throws. */
export function carriesCompactToken(text: string): boolean {
  let checks = 0;
  let runEnd = -1, runShaped = -1; // the base64url run of the last `eyJ` and its shaped end: one scan per run
  for (let at = text.indexOf('eyJ'); at !== -1;) {
    if (at >= runEnd) { runEnd = b64End(text, at + 3); runShaped = shapedEnd(text, at, runEnd, false); }
    const headerEnd = runEnd;
    const end = headerEnd - at < 8 ? -1 : runShaped;
    // past HEADER_CHECKS shaped runs whose header was no JOSE header, another one counts as a token (closed)
    if (end !== -1 && (++checks > HEADER_CHECKS || isJoseHeader(text.slice(at, headerEnd)))) return true;
    // a header that is none may hide one behind it in the same run (`eyJ0-<token>`): its next `eyJ` is tried too
    at = text.indexOf('eyJ', end === -1 ? headerEnd : at + 3);
  }
  return false;
}

/**
 * Token-shaped runs of one text whose header is decoded and parsed; later ones are taken for tokens unread.
 * A header that is no JSON costs a thrown SyntaxError (~10–40 µs): an 8 KiB path of hundreds of shaped runs
 * held the event loop 10–25 ms per access line even with the scan linear. A path of more than 8 token-shaped
 * runs is logged up to the 9th, the rest named as one token: never a token written out.
 */
const HEADER_CHECKS = 8;

const isB64 = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
/** Where the base64url run from `i` ends. */
function b64End(s: string, i: number): number {
  while (i < s.length && isB64(s.charCodeAt(i))) i++;
  return i;
}

/**
 * The end of the JWS-shaped run (JWE too when `jwe`) whose header is s[at, headerEnd) — `eyJ` and ≥ 5 more
 * base64url characters, then two more `.`-parts (and two after those, when present and `jwe`) — or -1.
 * One pass: the regexes this replaces (/eyJ[…]{5,}(\.[…]*){2}…/g) tried every `eyJ` of a run to its end, so
 * a path of `eyJ` repeated (8 KiB, any client) held the event loop ~0.1 s per access line. Every `eyJ`
 * later in the same header run fails as the first one does (same parts after it, shorter header): the
 * caller goes on after the run.
 */
function shapedEnd(s: string, at: number, headerEnd: number, jwe: boolean): number {
  if (headerEnd - at < 8 || s.charCodeAt(headerEnd) !== 0x2e) return -1;
  const second = b64End(s, headerEnd + 1);
  if (s.charCodeAt(second) !== 0x2e) return -1;
  const third = b64End(s, second + 1);
  if (!jwe || s.charCodeAt(third) !== 0x2e) return third;
  const fourth = b64End(s, third + 1);
  return s.charCodeAt(fourth) === 0x2e ? b64End(s, fourth + 1) : third;
}

/**
 * `path` as access lines, spans and decision lines write it: a compact JWS/JWE in it (a token sent as a
 * path segment, `/download/<token>`) becomes `[token <fingerprint>]` (first 8 bytes of its SHA-256, hex,
 * as the line's `token` field). A path without `eyJ` (nearly every one) is returned as is, nothing
 * allocated; a run whose first part is no JSON header naming `alg` (an id, a hash) is kept. For a
 * normalised path (its unreserved escapes decoded); a path as received takes rawPathWithoutTokens. Never throws.
 */
export function pathWithoutTokens(path: string): string {
  // one character first: V8 finds a single 'J' faster than the three-character run (~15 vs ~50 ns on a short path)
  if (path.indexOf('J') === -1 || path.indexOf('eyJ') === -1) return path;
  return nameTokens(path);
}

/**
 * pathWithoutTokens for a path as received (refused before normalising, an ext_authz or decision call's
 * path, an explained path): a token there may spell its dots or letters as escapes (`%2E`, `%65`), which
 * the upstream decodes back. Such a path is written with its unreserved escapes decoded and the token
 * named; one holding no token stays as received. Not for the hot path: it scans every `%`.
 */
export function rawPathWithoutTokens(path: string): string {
  const named = pathWithoutTokens(path);
  if (named.indexOf('%') === -1) return named;
  const plain = decodeUnreserved(named);
  if (plain === named || plain.indexOf('eyJ') === -1) return named;
  const found = nameTokens(plain);
  return found === plain ? named : found;
}

const fingerprint = (run: string): string => createHash('sha256').update(run).digest('hex').slice(0, 16);

/** Each JWS (3 parts) or JWE (5 parts) in `path` — a base64url JSON header (`eyJ` = `{"`) naming `alg`, and its other parts — by fingerprint. */
function nameTokens(path: string): string {
  let out: string | null = null;
  let from = 0; // path[0, from) is in out
  let checks = 0;
  let runEnd = -1, runShaped = -1; // the base64url run of the last `eyJ` and its shaped end: one scan per run
  for (let at = path.indexOf('eyJ'); at !== -1;) {
    if (at >= runEnd) { runEnd = b64End(path, at + 3); runShaped = shapedEnd(path, at, runEnd, true); }
    const headerEnd = runEnd;
    const end = headerEnd - at < 8 ? -1 : runShaped;
    if (end === -1) { at = path.indexOf('eyJ', headerEnd); continue; }
    // past HEADER_CHECKS, the rest is named as one token, unread: one hash, never a token written out
    if (++checks > HEADER_CHECKS) return `${out ?? ''}${path.slice(from, at)}[token ${fingerprint(path.slice(at))}]`;
    if (isJoseHeader(path.slice(at, headerEnd))) {
      out = `${out ?? ''}${path.slice(from, at)}[token ${fingerprint(path.slice(at, end))}]`;
      from = end;
      at = path.indexOf('eyJ', end);
    // a run whose header is none may hide a token behind a glued prefix (`eyJ0-<token>`, the decoded text
    // misaligned): its next `eyJ` is tried too, within HEADER_CHECKS. Before, the token was written out whole.
    } else at = path.indexOf('eyJ', at + 3);
  }
  return out === null ? path : out + path.slice(from);
}

/** `path` with the escapes of unreserved characters (RFC 3986 §2.3: letters, digits, `-._~`) decoded; `path` itself when it has none. */
function decodeUnreserved(path: string): string {
  let out: string | null = null;
  let from = 0;
  for (let i = path.indexOf('%'); i !== -1 && i + 2 < path.length; i = path.indexOf('%', i + 1)) {
    const v = hexByte(path.charCodeAt(i + 1), path.charCodeAt(i + 2));
    if (!isUnreserved(v)) continue;
    out = (out ?? '') + path.slice(from, i) + String.fromCharCode(v);
    from = i + 3;
    i += 2;
  }
  return out === null ? path : out + path.slice(from);
}

const hexDigit = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);
const hexByte = (h: number, l: number): number => { const a = hexDigit(h); const b = hexDigit(l); return a < 0 || b < 0 ? -1 : a * 16 + b; };
const isUnreserved = (v: number): boolean => (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5a) || (v >= 0x61 && v <= 0x7a) || v === 0x2d || v === 0x2e || v === 0x5f || v === 0x7e;
