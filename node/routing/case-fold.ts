// The four non-ASCII letters that case-insensitive matchers fold onto an ASCII letter, as they
// appear (escaped UTF-8) in a normalised path: read by the route table's case reading.

/**
 * `path` with the escapes of `İ` (U+0130), `ı` (U+0131), `ſ` (U+017F) and the Kelvin sign
 * (U+212A) replaced by the ASCII letter a case-insensitive match takes them for: Java's
 * `equalsIgnoreCase`/`Character.toLowerCase` (Spring with `caseSensitive: false`) and Unicode
 * simple case folding (Python `re.IGNORECASE`, .NET) read `/adm%C4%B0n` as `/admin`. Escapes in
 * a normalised path are upper case. The path itself (no allocation) when it has none of them.
 */
export function foldAsciiLookalikes(path: string): string {
  let i = path.indexOf('%');
  if (i === -1) return path;
  let out = '';
  let from = 0;
  for (; i !== -1; i = path.indexOf('%', i + 1)) {
    let len = 0, letter = '';
    if (path.startsWith('%C4%B0', i) || path.startsWith('%C4%B1', i)) { len = 6; letter = 'i'; }
    else if (path.startsWith('%C5%BF', i)) { len = 6; letter = 's'; }
    else if (path.startsWith('%E2%84%AA', i)) { len = 9; letter = 'k'; }
    if (len === 0) continue;
    out += path.slice(from, i) + letter;
    from = i + len;
    i = from - 1;
  }
  return from === 0 ? path : out + path.slice(from);
}
