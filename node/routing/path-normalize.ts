// Path normalisation before routing, so a route cannot be bypassed by spelling:
// percent-decoding of unreserved characters, dot-segment removal, `//` collapse.
// Anything that cannot be made unambiguous is refused (→ 400), path parameters (`;`)
// included unless the config says the upstreams strip them (server.paths.allow_params).

/** Result: the normalised path, or null when the path is ambiguous or invalid. */
export type NormalizeResult = string | null;

const HEX = '0123456789ABCDEF';

/** The value of hex digit char code `c` (either case), or -1 (also read by case-fold.ts). */
export function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The byte escaped at raw[j] (`%XX`), or -1 when there is no valid escape there. */
function escapedByte(raw: string, j: number): number {
  if (j + 2 >= raw.length || raw.charCodeAt(j) !== 37) return -1;
  const h = hexVal(raw.charCodeAt(j + 1));
  const l = hexVal(raw.charCodeAt(j + 2));
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/**
 * True when the escaped byte `v` followed by the escape at raw[j] starts an overlong UTF-8
 * form of an ASCII character (C0/C1 + continuation, E0 + 80…9F, F0 + 80…8F): `%C0%AE` is "."
 * and `%C0%AF` "/" to lenient decoders (old Tomcat, IIS), never valid UTF-8.
 */
function overlongLead(v: number, raw: string, j: number): boolean {
  if (v !== 0xc0 && v !== 0xc1 && v !== 0xe0 && v !== 0xf0) return false;
  const next = escapedByte(raw, j);
  if (v === 0xe0) return next >= 0x80 && next <= 0x9f;
  if (v === 0xf0) return next >= 0x80 && next <= 0x8f;
  return next >= 0x80 && next <= 0xbf;
}

/**
 * The escaped UTF-8 of the characters whose compatibility form (NFKC) is a dot run, or holds
 * '/' or '\': `‥` `…` `․` `﹒` `．` `︙` `︰`, `／` `＼` `﹨`, `℀` `℁` `℅` `℆` (`a/c`). An upstream that
 * folds its path with NFKC, or a Windows program whose ANSI code page maps `．` `／` `＼` to
 * `.` `/` `\` ("best fit"), resolves `/public/．．/admin` to `/admin`. Three bytes each, lead E2 or EF.
 */
const COMPAT_SEPARATORS: ReadonlySet<number> = new Set([
  0xe280a4, 0xe280a5, 0xe280a6, 0xe28480, 0xe28481, 0xe28485, 0xe28486,
  0xefb899, 0xefb8b0, 0xefb992, 0xefb9a8, 0xefbc8e, 0xefbc8f, 0xefbcbc,
]);

/** True when the escaped byte `v` (E2 or EF) and the two escapes at raw[j] spell one of COMPAT_SEPARATORS. */
function compatSeparator(v: number, raw: string, j: number): boolean {
  const b2 = escapedByte(raw, j);
  const b3 = b2 < 0 ? -1 : escapedByte(raw, j + 3);
  return b3 >= 0 && COMPAT_SEPARATORS.has(v * 0x10000 + b2 * 0x100 + b3);
}

function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** Characters allowed literally in a path (RFC 3986 pchar + '/'), excluding '%'. */
function isPathChar(c: number): boolean {
  return isUnreserved(c) || c === 47 /* / */ || c === 33 || c === 36 || (c >= 38 && c <= 44) || c === 59 || c === 61 || c === 58 || c === 64;
}

/**
 * Normalise a request path (without query). Returns null (→ 400) for: not starting
 * with '/', control bytes, backslashes, encoded '/', '\\', NUL or '%' ambiguity
 * (`%2F`, `%5C`, `%00`, `%25`), invalid escapes, non-path characters, and `..` above
 * the root, overlong UTF-8 escapes of ASCII (`%C0%AE`) and escapes of characters whose
 * compatibility form is a dot run or holds a separator (`%EF%BC%8E` `．`, `%EF%BC%8F` `／`). Unreserved escapes (`%2e`, `%41`) are decoded; other escapes are kept,
 * upper-cased, so `/a%3Bb` and `/a%3bb` match the same route.
 *
 * A literal `;` starts path parameters, which Servlet containers, Spring and Jetty strip
 * per segment before they route (`/public/..;/admin` is `/admin` to Tomcat) while nginx and
 * Express read it as text. Without `allowParams` (the default) any `;` is refused. With it,
 * the parameters are kept (the upstream needs them) and routing uses stripParams(result);
 * a segment whose name is empty, `.` or `..` but carries parameters (`..;x`, `%2e%2e;`, `;x`)
 * is still refused: one family reads it as a dot segment, the other as a name. `%3B` is data
 * to every family (Tomcat splits parameters before decoding) and stays as it is.
 * Fast path: a path made only of safe characters with no `.`-segments, `//` or `;` is
 * returned as-is without allocation.
 */
export function normalizePath(raw: string, allowParams = false): NormalizeResult {
  const n = raw.length;
  if (n === 0 || raw.charCodeAt(0) !== 47) return null;
  let simple = true;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 /* % */) { simple = false; continue; }
    if (c === 59 /* ; */) {
      if (!allowParams) return null;
      simple = false;
      continue;
    }
    if (!isPathChar(c)) return null;
    if (c === 47 && i + 1 < n) {
      const d = raw.charCodeAt(i + 1);
      if (d === 47 || d === 46) simple = false;
    }
  }
  if (simple) return raw;

  // Slow path: decode, then remove dot segments on the decoded segments.
  let decoded = '';
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c !== 37) { decoded += raw[i]; continue; }
    if (i + 2 >= n) return null;
    const h = hexVal(raw.charCodeAt(i + 1));
    const l = hexVal(raw.charCodeAt(i + 2));
    if (h < 0 || l < 0) return null;
    const v = h * 16 + l;
    // Encoded separators, escapes of '%' and control bytes are ambiguous between hops.
    if (v === 0x2f || v === 0x5c || v === 0x25 || v < 0x20 || v === 0x7f) return null;
    if (v >= 0xc0 && overlongLead(v, raw, i + 3)) return null;
    if ((v === 0xe2 || v === 0xef) && compatSeparator(v, raw, i + 3)) return null;
    if (isUnreserved(v)) decoded += String.fromCharCode(v);
    else decoded += '%' + HEX[h] + HEX[l];
    i += 2;
  }
  const segs = decoded.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    if (allowParams) {
      const semi = s.indexOf(';');
      // only the name decides what a segment is; an empty or dot name is read two ways
      if (semi === 0 || (semi > 0 && (s.startsWith('.;') || s.startsWith('..;')))) return null;
    }
    if (s === '' && i !== segs.length - 1) continue; // collapse '//'
    if (s === '.') { if (i === segs.length - 1) out.push(''); continue; }
    if (s === '..') {
      if (out.length === 0) return null; // escapes the root
      out.pop();
      if (i === segs.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

/**
 * The path a Servlet container routes on for a path normalizePath returned with
 * `allowParams`: each segment without its `;…` parameters ("/cars;color=red/x;v=1" →
 * "/cars/x"). The path itself when it has no `;` (no allocation).
 */
export function stripParams(path: string): string {
  let semi = path.indexOf(';');
  if (semi === -1) return path;
  let out = '';
  let from = 0;
  while (semi !== -1) {
    out += path.slice(from, semi);
    const slash = path.indexOf('/', semi);
    if (slash === -1) return out;
    from = slash;
    semi = path.indexOf(';', slash);
  }
  return out + path.slice(from);
}
