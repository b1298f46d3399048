// Which query parameter and cookie names upstream parsers read as the token's though ours does not:
// PHP's byte-wise mangling, qs's and Rack's arrays, case-insensitive collections (ASP.NET Core).
// Read by extract.ts, which counts such a parameter or cookie as a second credential (never as one).
// Cookie names are percent-decoded by some stacks too (byteDecode; see extract.ts readAsCookie).

/**
 * `s` (a raw query name) as a byte-wise parser decodes it: `+` a space, each valid `%XX` the
 * byte it names (as a latin1 char), an invalid escape or invalid UTF-8 kept as it is — PHP's
 * php_url_decode and qs's fallback do not throw where decodeURIComponent does.
 */
export function byteDecode(s: string): string {
  if (s.indexOf('%') === -1) return s.indexOf('+') === -1 ? s : s.replace(/\+/g, ' ');
  return s.replace(/\+/g, ' ').replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * The name PHP registers for a decoded query key or a cookie name (main/php_variables.c): leading spaces dropped,
 * cut at a NUL (a C string), ' ' and '.' before the first '[' turned into '_'; `name[…]` with a
 * `]` after it is an array under `name`, an unclosed '[' becomes '_'.
 */
export function phpName(key: string): string {
  let from = 0;
  while (from < key.length && key.charCodeAt(from) === 0x20) from++;
  const nul = key.indexOf('\0', from);
  const k = nul === -1 ? key.slice(from) : key.slice(from, nul);
  const open = k.indexOf('[');
  const base = (open === -1 ? k : k.slice(0, open)).replace(/[ .]/g, '_');
  if (open === -1) return base;
  return k.indexOf(']', open + 1) === -1 ? `${base}_${k.slice(open + 1)}` : base;
}

/**
 * The name Rack 2 (`\A[\[\]]*([^\[\]]+)`: leading brackets skipped, up to the next bracket) and qs
 * (a leading `[name]` group is the name) read in `bytes`: `access_token` for `[access_token]`,
 * `]access_token`, `access_token]`, `access_token[x]`.
 */
function bracketName(bytes: string): string {
  let i = 0;
  while (i < bytes.length && (bytes.charCodeAt(i) === 0x5b || bytes.charCodeAt(i) === 0x5d)) i++;
  let j = i;
  while (j < bytes.length && bytes.charCodeAt(j) !== 0x5b && bytes.charCodeAt(j) !== 0x5d) j++;
  return bytes.slice(i, j);
}

/**
 * `key` compared ignoring case as .NET's OrdinalIgnoreCase and Unicode case folding do: `ſ`
 * (U+017F) is `s`, the Kelvin sign `k`, `ı`/`İ` `i` — the letters node/routing/case-fold.ts
 * folds in paths.
 */
export function foldedIs(key: string, lower: string): boolean {
  if (key.length !== lower.length) return false;
  return key.replace(/\u017f/g, 's').replace(/\u212a/g, 'k').replace(/[\u0130\u0131]/g, 'i').toLowerCase() === lower;
}

/**
 * True when a parser other than ours reads the query name `raw` (as sent; `decoded` is our
 * reading, null when it is not valid UTF-8) as `access_token`, and ours does not: PHP's mangled
 * names (phpName: `access.token`, ` access_token`, `access_token%00x`, `access.token[]`, also
 * behind an escape decodeURIComponent refuses), qs's and Rack's `access_token[…]`, `[access_token]`
 * (and Rack 2's `]access_token`, `access_token]`: bracketName), and ASP.NET
 * Core, whose query collection ignores case (`ACCESS_TOKEN`, `acce%C5%BF%C5%BF_token` — what
 * SignalR's documented `Request.Query["access_token"]` reads).
 */
export function readElsewhereAsAccessToken(raw: string, decoded: string | null): boolean {
  if (decoded === 'access_token') return false;
  if (decoded !== null && foldedIs(decoded, 'access_token')) return true;
  const bytes = byteDecode(raw);
  if ((bytes.indexOf('[') !== -1 || bytes.indexOf(']') !== -1) && bracketName(bytes) === 'access_token') return true;
  // PHP only turns spaces and dots into '_': its reading keeps `access` as written
  return bytes.indexOf('access') !== -1 && phpName(bytes) === 'access_token';
}
